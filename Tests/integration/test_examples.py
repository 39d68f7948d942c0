"""The examples/ Makefiles, driven inside the throwaway host (NETNS, ROOT, HUTCH variables).

Each target is run the way a user would script it, twice where it must be idempotent; the
harness's leak check then proves that `make down` left nothing behind.
"""
import json
import os
import signal
import time

from harness import REPO, _rand, proc_starttime, run, wait_until

POD_WEB = os.path.join(REPO, "examples", "pod-web")


def make(h, target, peer, timeout=60, check=True, directory=POD_WEB, extra=()):
    argv = ["make", "--no-print-directory", "-C", directory, target,
            f"HUTCH={h.hutch_bin}", f"ROOT={h.root}", f"NETNS={h.name}", f"PEER={peer}", *extra]
    r = run(argv, timeout=timeout, env=h.hutch_env())
    if check:
        assert r.rc == 0, f"make {target} failed (rc={r.rc}):\nstdout: {r.out}\nstderr: {r.err}"
    return r


def pods(h):
    return h.hutch("pod", "ls", "-q").out.split()


def pod_web_state(h):
    return json.loads(h.hutch("pod", "inspect", "pod-web").out)[0]


def assert_down(h, peer):
    assert pods(h) == []
    assert h.ps_ids(all=True) == []
    h.wait_no_veths()
    assert h.state_entries() == []
    assert not os.path.exists(f"/run/netns/{peer}"), "make check/down left its peer namespace"
    assert not [l for l in h.run(["nft", "list", "ruleset"], check=False).out.splitlines() if "8080" in l]


def test_pod_web_up_check_down(h):
    peer = "hutch-ex-" + _rand()  # (not a name the leak check would excuse)
    try:
        make(h, "up", peer)
        first = pod_web_state(h)
        assert first["State"] == "Running"
        assert {c["Name"]: c["State"] for c in first["Containers"]} == \
            {"pod-web-web": "running", "pod-web-poller": "running"}
        # up again: nothing restarted, nothing duplicated
        r = make(h, "up", peer)
        assert "already running" in r.out, r.out
        again = pod_web_state(h)
        assert again["InfraPid"] == first["InfraPid"]
        assert sorted(c["Id"] for c in again["Containers"]) == sorted(c["Id"] for c in first["Containers"])
        assert len(pods(h)) == 1 and len(h.ps_ids(all=True)) == 3

        r = make(h, "status", peer)
        lines = r.out.splitlines()
        assert lines[0].split() == ["NAMES", "STATUS", "LABELS"], r.out
        assert {l.split()[0] for l in lines[1:-1]} >= {"pod-web-web", "pod-web-poller"}, r.out
        assert "example=pod-web" in r.out and lines[-1] == "published: 0.0.0.0:8080->80/tcp", r.out

        r = make(h, "check", peer, timeout=120)
        assert r.out.count("ok") >= 3, r.out
        assert not os.path.exists(f"/run/netns/{peer}")
        make(h, "check", peer, timeout=120)  # check is repeatable too
    finally:
        make(h, "down", peer, check=False)
    r = make(h, "down", peer)
    assert "not there" in r.out, r.out
    assert_down(h, peer)


def test_pod_web_scripts_with_hutch_not_awk():
    with open(os.path.join(POD_WEB, "Makefile")) as f:
        text = f.read()
    assert "awk" not in text and "pod exists" in text and "--replace" in text and "--format" in text


def test_pod_web_up_repairs_a_dead_pod(h):
    peer = "hutch-ex-" + _rand()
    try:
        make(h, "up", peer)
        info = pod_web_state(h)
        pause = info["InfraPid"]
        start = proc_starttime(pause)
        h.remember(info["InfraContainerID"])
        os.kill(pause, signal.SIGKILL)
        wait_until(lambda: proc_starttime(pause) != start, desc="the pause process to die")
        wait_until(lambda: pod_web_state(h)["State"] == "Exited", desc="hutch to see the pod dead")
        r = make(h, "up", peer)
        assert "recreating" in r.out, r.out
        fresh = pod_web_state(h)
        assert fresh["State"] == "Running" and fresh["InfraPid"] != pause
        assert {c["State"] for c in fresh["Containers"]} == {"running"}
        # a member that exited is restarted by the next up, in the same pod
        h.hutch("stop", "-t", "1", "pod-web-poller", timeout=30)
        r = make(h, "up", peer)
        assert "pod-web-poller started" in r.out, r.out
        assert pod_web_state(h)["InfraPid"] == fresh["InfraPid"]
        make(h, "check", peer, timeout=120)
    finally:
        make(h, "down", peer, check=False)
    assert_down(h, peer)


def test_demo_runs_and_cleans_up(h):
    """The README's `make demo` script: it makes its own throwaway namespace and state root, must
    succeed, and must leave nothing behind (the fixture's leak check)."""
    env = dict(os.environ, HUTCH=h.hutch_bin)
    r = run(["bash", os.path.join(REPO, "examples", "demo.sh")], env=env, timeout=120)
    assert r.rc == 0, f"demo failed: {r.out[-2000:]}\n{r.err[-2000:]}"
    assert "== Done" in r.out, r.out[-2000:]
    after_rm = r.out.rsplit("$ onhost ip -br link show master hutch0", 1)[1].split("== Done")[0]
    assert "hv" not in after_rm, f"the demo's last listing still shows a veth: {after_rm!r}"


# --- examples/sandbox ----------------------------------------------------------------------------

SANDBOX = os.path.join(REPO, "examples", "sandbox")


def sandbox_make(h, target):
    return ["make", "--no-print-directory", "-C", SANDBOX, target,
            f"HUTCH={h.hutch_bin}", f"ROOT={h.root}", f"NETNS={h.name}"]


def test_sandbox_check_sees_no_network_and_no_capabilities(h):
    r = run(sandbox_make(h, "check"), env=h.hutch_env())
    assert r.rc == 0, r
    assert r.out.splitlines() == ["hostname: sandbox", "links: lo ", "capabilities: 0000000000000000", "pid: 2"], r.out
    assert h.ps_ids(all=True) == []


def test_sandbox_shell_is_interactive_and_leaves_nothing(h):
    import pty
    import select
    import subprocess
    master, slave = pty.openpty()
    proc = subprocess.Popen(sandbox_make(h, "shell"), stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, env=h.hutch_env())
    screen = b""
    try:
        os.write(master, b"echo in-$(hostname); exit 0\n")
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    break
        assert proc.wait(5) == 0, screen
        assert b"in-sandbox" in screen, screen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        os.close(master)
        os.close(slave)
    assert h.ps_ids(all=True) == []


SERVICES = os.path.join(REPO, "examples", "services")


def services_make(h, target, peer, check=True):
    return make(h, target, peer, timeout=120, check=check, directory=SERVICES)


def test_services_up_check_down(h):
    peer = "hutch-ex-" + _rand()
    try:
        r = services_make(h, "up", peer)
        assert "service web created" in r.out, r.out
        r = services_make(h, "up", peer)
        assert r.out.count("already") == 4, r.out
        r = services_make(h, "check", peer)
        assert r.out.count("ok: 3 endpoints") == 3, r.out
        assert not os.path.exists(f"/run/netns/{peer}")
        r = services_make(h, "status", peer)
        assert "web    NodePort" in r.out and "80:30080/TCP" in r.out, r.out
        # an endpoint that died is restarted by up, and serves again
        h.hutch("rm", "-f", "web-2")
        r = services_make(h, "up", peer)
        assert "web-2 started" in r.out, r.out
        services_make(h, "check", peer)
    finally:
        services_make(h, "down", peer, check=False)
    r = services_make(h, "down", peer)
    assert "service web not there" in r.out, r.out
    assert h.hutch("service", "ls", "-q").out == ""
    assert h.ps_ids(all=True) == []
    assert "service:" not in h.run(["nft", "list", "ruleset"], check=False).out
    assert not os.path.exists(f"/run/netns/{peer}")


INGRESS = os.path.join(REPO, "examples", "ingress")


def ingress_make(h, target, peer, check=True):
    return make(h, target, peer, timeout=120, check=check, directory=INGRESS, extra=[f"CERTS={h.tmp}/certs"])


def test_ingress_service_upstream_up_check_down(h):
    """The same example with UPSTREAM=--service-upstream: nginx proxies to the ClusterIPs."""
    peer = "hutch-ex-" + _rand()
    extra = [f"CERTS={h.tmp}/certs", "UPSTREAM=--service-upstream"]
    try:
        r = make(h, "up", peer, timeout=120, directory=INGRESS, extra=extra)
        assert "ingress edge created" in r.out, r.out
        r = make(h, "check", peer, timeout=120, directory=INGRESS, extra=extra)
        assert r.out.count("  ok: ") == 7 and "FAIL" not in r.out, r.out
        r = make(h, "status", peer, timeout=120, directory=INGRESS, extra=extra)
        assert "upstreams (service)" in r.out, r.out
    finally:
        make(h, "down", peer, timeout=120, check=False, directory=INGRESS, extra=extra)
    assert h.ps_ids(all=True) == []


def test_ingress_up_check_down(h):
    peer = "hutch-ex-" + _rand()
    try:
        r = ingress_make(h, "up", peer)
        assert "ingress edge created" in r.out, r.out
        r = ingress_make(h, "up", peer)
        assert r.out.count("already") == 7, r.out
        r = ingress_make(h, "check", peer)
        assert r.out.count("  ok: ") == 7 and "FAIL" not in r.out, r.out
        assert not os.path.exists(f"/run/netns/{peer}")
        r = ingress_make(h, "status", peer)
        assert "edge   Running" in r.out and "shop.example/*=shop:80" in r.out, r.out
        # a new certificate on the running ingress: check verifies HTTPS against it
        before = open(f"{h.tmp}/certs/cert.pem").read()
        r = ingress_make(h, "rotate", peer)
        assert "serves a new certificate" in r.out, r.out
        assert open(f"{h.tmp}/certs/cert.pem").read() != before
        r = ingress_make(h, "check", peer)
        assert r.out.count("  ok: ") == 7 and "FAIL" not in r.out, r.out
        # a backend that died is restarted by up, and the ingress follows its new address
        h.hutch("rm", "-f", "api-1")
        r = ingress_make(h, "up", peer)
        assert "api-1 started" in r.out, r.out
        ingress_make(h, "check", peer)
    finally:
        ingress_make(h, "down", peer, check=False)
    r = ingress_make(h, "down", peer)
    assert "ingress edge not there" in r.out, r.out
    assert h.hutch("ingress", "ls", "-q").out == ""
    assert h.ps_ids(all=True) == []
    assert not os.path.exists(f"{h.tmp}/certs")
