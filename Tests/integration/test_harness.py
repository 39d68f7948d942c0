"""Self-tests of the harness (no hutch binary needed): the throwaway namespaces, the outside
world, and that the leak check really catches leaks."""
import os
import re
import subprocess

import harness
from harness import HOST_OUT_IP, OUTSIDE_IP, PY, WHOAMI


def test_throwaway_netns_is_isolated(netns):
    assert netns.links() == ["lo"]
    assert "UP" in netns.run(["ip", "-o", "link", "show", "lo"]).out
    assert netns.inode != os.stat("/proc/self/ns/net").st_ino
    assert netns.sh("ip route").out.strip() == ""


def test_outside_namespace_reaches_host_and_back(netns):
    out = netns.outside()
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    assert netns.wait_http(f"http://{OUTSIDE_IP}:9000/").strip() == HOST_OUT_IP
    netns.bg([PY, WHOAMI, "0.0.0.0", "9001"])
    assert netns.wait_http(f"http://{HOST_OUT_IP}:9001/", ns=out).strip() == OUTSIDE_IP


def test_outside_default_route(netns):
    netns.outside(default_route=True)
    assert f"default via {OUTSIDE_IP}" in netns.sh("ip route").out


def test_root_snapshot_catches_netns_and_mount(netns):
    before = harness.root_snapshot()
    name = f"hutch-leakprobe-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        diff = "\n".join(harness.diff_snapshots(before, harness.root_snapshot()))
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
    assert "root ip netns list changed" in diff and name in diff
    assert "root mountinfo changed" in diff
    assert harness.diff_snapshots(before, harness.root_snapshot()) == []


def test_inner_check_catches_veth_process_and_state(netns):
    netns.run(["ip", "link", "add", "hvleak0", "type", "veth", "peer", "name", "hvleak1"])
    sleeper = subprocess.Popen(netns.argv(["sleep", "60"]), start_new_session=True)
    os.makedirs(os.path.join(netns.root, "containers", "0123456789ab"))
    try:
        problems = "\n".join(netns._inner_leaks())
        assert "veth left" in problems and "hvleak0" in problems
        assert "processes left behind" in problems and str(sleeper.pid) in problems
        assert "state left" in problems and "0123456789ab" in problems
    finally:
        sleeper.kill()
        sleeper.wait()
        netns.run(["ip", "link", "del", "hvleak0"])
        os.rmdir(os.path.join(netns.root, "containers", "0123456789ab"))
    assert netns._inner_leaks() == []


def test_run_reports_pipe_held_by_child(netns):
    # A command that exits but leaves a child holding stdout (the `ID=$(hutch run -d)` hang).
    try:
        harness.run(["sh", "-c", "sleep 30 & echo child=$!"], timeout=10)
    except harness.HarnessError as e:
        msg = str(e)
    else:
        raise AssertionError("the harness did not notice the held pipe")
    child = int(re.search(r"child=(\d+)", msg).group(1))
    os.kill(child, 9)
    assert "stayed open" in msg and "sleep 30" in msg
