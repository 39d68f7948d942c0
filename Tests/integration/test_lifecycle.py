"""stop, kill, wait, rm, rm -f, --rm; what stays and what goes when a container exits."""
import os
import re
import threading

import pytest

from harness import cmdline, ppid_of, proc_starttime, wait_until


def assert_gone(h, cid):
    """No veth, no state folder, no record left for cid."""
    h.wait_veth_gone(cid)
    assert h.state_entries(cid) == [], f"state left: {h.state_entries(cid)}"
    assert cid[:12] not in h.ps_ids(all=True)


def test_stop_with_init_forwards_sigterm(h):
    cid = h.run_d("--name", "s", "--", "sleep", "300")
    # A generous grace period: if the init did not forward SIGTERM, stop would have to fall
    # back to SIGKILL and the exit code would be 137 instead of 143.
    h.hutch("stop", "-t", "20", "s", timeout=40)
    c = h.inspect("s")
    assert c["State"]["Status"] == "exited" and c["State"]["Running"] is False
    assert c["State"]["ExitCode"] == 143, "sleep should die of the forwarded SIGTERM (128+15)"
    h.wait_veth_gone(cid)
    assert cid[:12] in h.ps_ids(all=True) and cid[:12] not in h.ps_ids(all=False)


def test_stop_no_init_falls_back_to_kill(h):
    # `sleep` as PID 1 has no SIGTERM handler, so the kernel drops the signal: stop must SIGKILL.
    h.run_d("--no-init", "--name", "s", "--", "sleep", "300")
    h.hutch("stop", "-t", "1", "s", timeout=30)
    assert h.inspect("s")["State"]["ExitCode"] == 137


def test_stop_many_and_already_stopped(h):
    a = h.run_d("--name", "a", "--", "sleep", "300")
    b = h.run_d("--name", "b", "--", "sleep", "300")
    h.hutch("stop", "a", b[:12], timeout=40)
    assert h.ps_ids(all=False) == []
    assert sorted(h.ps_ids(all=True)) == sorted([a[:12], b[:12]])
    # stopping a stopped container is not an error (Docker)
    h.hutch("stop", "a", timeout=20)


def test_kill_default_is_sigkill(h):
    h.run_d("--name", "k", "--", "sleep", "300")
    h.hutch("kill", "k")
    c = h.wait_exited("k")
    assert c["State"]["ExitCode"] == 137


@pytest.mark.parametrize("sig", ["TERM", "SIGTERM", "15"])
def test_kill_with_signal(h, sig):
    h.run_d("--name", "k", "--", "sleep", "300")
    h.hutch("kill", "-s", sig, "k")
    assert h.wait_exited("k")["State"]["ExitCode"] == 143


def test_kill_signal_reaches_the_command(h):
    marker = os.path.join(h.tmp, "usr1")
    h.run_d("--name", "k", *h.share(), "--", "sh", "-c",
            f"trap 'touch {marker}; exit 0' USR1; touch {marker}.ready; while :; do sleep 0.1; done")
    wait_until(lambda: os.path.exists(marker + ".ready"), desc="trap to be installed")
    h.hutch("kill", "-s", "USR1", "k")
    wait_until(lambda: os.path.exists(marker), desc="USR1 to reach the command through the init")
    assert h.wait_exited("k")["State"]["ExitCode"] == 0


def test_kill_not_running_is_125(h):
    h.hutch("run", "--name", "done", "--", "true")
    r = h.hutch("kill", "done", check=False)
    assert r.rc == 125 and r.err.startswith("hutch: "), r


def test_wait_prints_exit_codes(h):
    h.run_d("--name", "w7", "--", "sh", "-c", "exit 7")
    h.run_d("--name", "w0", "--", "true")
    r = h.hutch("wait", "w7", "w0")
    assert r.out.split() == ["7", "0"]


def test_wait_blocks_until_exit(h):
    go = os.path.join(h.tmp, "go")
    h.run_d("--name", "w", *h.share(), "--", "sh", "-c", f"while [ ! -e {go} ]; do sleep 0.1; done; exit 5")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", h.hutch("wait", "w", timeout=30)))
    t.start()
    t.join(0.5)
    assert t.is_alive(), f"wait returned while the container still runs: {result}"
    open(go, "w").close()
    t.join(30)
    assert result["r"].out.strip() == "5"


def test_exited_container_keeps_record_not_veth(h):
    cid = h.run_d("--name", "e", "--", "sh", "-c", "exit 3")
    c = h.wait_exited("e")
    assert c["State"]["ExitCode"] == 3
    assert c["State"]["FinishedAt"]
    h.wait_veth_gone(cid, desc="the veth to be deleted at exit")
    assert cid[:12] in h.ps_ids(all=True)
    # its IP went back to the pool: the record may keep showing it, but no link holds it
    assert h.leftover_processes() == []


def test_rm_running_without_force_fails(h):
    cid = h.run_d("--name", "r", "--", "sleep", "300")
    r = h.hutch("rm", "r", check=False)
    assert r.rc == 125 and r.err.startswith("hutch: "), r
    assert h.inspect("r")["State"]["Running"] is True
    assert h.veth_name(cid) in h.links()


def test_rm_force_leaves_nothing(h):
    cid = h.run_d("--name", "r", "--", "sleep", "300")
    c = h.inspect(cid)
    pid = c["State"]["Pid"]
    start = proc_starttime(pid)
    shim_pids = [p for p in h.processes()]  # the shim lives in the throwaway netns
    assert shim_pids, "expected the shim (monitor) in the host namespaces"
    h.hutch("rm", "-f", "r")
    assert_gone(h, cid)
    wait_until(lambda: proc_starttime(pid) != start, desc=f"container process {pid} to go")
    wait_until(lambda: h.processes() == [], desc="the shim to exit after rm -f")
    assert h.leftover_processes() == []
    assert h.hutch("inspect", "r", check=False).rc == 125


def test_rm_exited_and_many(h):
    a = h.run_d("--name", "a", "--", "true")
    b = h.run_d("--name", "b", "--", "sh", "-c", "exit 2")
    h.hutch("wait", "a", "b")
    h.hutch("rm", "a", b)
    assert_gone(h, a)
    assert_gone(h, b)
    assert h.ps_ids(all=True) == []


def test_rm_by_id_prefix(h):
    cid = h.run_d("--", "sleep", "300")
    h.hutch("rm", "-f", cid[:6])
    assert_gone(h, cid)


def test_name_reusable_after_rm(h):
    h.run_d("--name", "again", "--", "sleep", "300")
    h.hutch("rm", "-f", "again")
    h.run_d("--name", "again", "--", "sleep", "300")


def test_run_rm_foreground_leaves_nothing(h):
    r = h.hutch("run", "--rm", "--name", "tmp", "--", "sh", "-c", "echo hello; exit 6", check=False)
    assert r.rc == 6 and r.out == "hello\n", r
    assert h.ps_ids(all=True) == []
    h.wait_no_veths()
    assert h.state_entries() == []
    assert h.leftover_processes() == []


def test_run_foreground_without_rm_keeps_record(h):
    r = h.hutch("run", "--name", "keep", "--", "sh", "-c", "exit 4", check=False)
    assert r.rc == 4
    c = h.inspect("keep")
    assert c["State"]["Status"] == "exited" and c["State"]["ExitCode"] == 4
    h.wait_no_veths()


def test_run_detached_rm_removes_itself(h):
    go = os.path.join(h.tmp, "go")
    cid = h.run_d("--rm", "--name", "selfrm", *h.share(), "--", "sh", "-c", f"while [ ! -e {go} ]; do sleep 0.1; done")
    assert h.veth_name(cid) in h.links()
    open(go, "w").close()
    wait_until(lambda: cid[:12] not in h.ps_ids(all=True), desc="the --rm container to remove itself")
    h.wait_veth_gone(cid, desc="its veth to go")
    wait_until(lambda: h.state_entries(cid) == [], desc="its state to go")
    wait_until(lambda: h.leftover_processes() == [], desc="its shim to exit")


def test_ips_unique_after_rm(h):
    h.run_d("--name", "a", "--", "sleep", "300")
    h.hutch("rm", "-f", "a")
    h.run_d("--name", "b", "--", "sleep", "300")
    h.run_d("--name", "c", "--", "sleep", "300")
    ips = {h.ip_of("b"), h.ip_of("c")}
    assert len(ips) == 2
    assert all(re.fullmatch(r"10\.87\.\d+\.\d+", i) for i in ips)


def test_detached_survives_the_cli(h):
    h.run_d("--name", "bg", "--", "sleep", "300")
    c = h.inspect("bg")
    assert c["State"]["Running"] is True
    assert proc_starttime(c["State"]["Pid"]) is not None
    # the shim is the container's parent, in the host namespaces
    ppid = ppid_of(c["State"]["Pid"])
    assert "hutch-shim" in cmdline(ppid), ppid
    assert os.stat(f"/proc/{ppid}/ns/net").st_ino == h.inode


def test_foreground_run_forwards_sigterm(h):
    # Docker's sig-proxy: a signal to the foreground CLI reaches the command
    started = os.path.join(h.tmp, "started")
    p = h.hutch_bg("run", "--rm", "--name", "fg", *h.share(), "--", "sh", "-c",
                   f"trap 'exit 7' TERM; touch {started}; while :; do sleep 0.1; done")
    wait_until(lambda: os.path.exists(started), desc="the container to start")
    p.terminate()
    p.wait(timeout=15)
    assert p.returncode == 7, (p.returncode, p.output())
    assert h.ps_ids(all=True) == []
    h.wait_no_veths()
