"""start, start -a, restart, run --restart (issue 14 §3): what a container keeps across them."""
import re

from harness import HOST_OUT_IP, PY, wait_until
from test_lifecycle import assert_gone

# A web server that answers with its container's name and the file /tmp/n's count of starts.
SERVE = ["--", PY, "-m", "http.server", "80", "--directory", "/"]


def web_ok(h, out, port):
    return h.wait_http(f"http://{HOST_OUT_IP}:{port}/etc/hostname", ns=out).strip()


def test_start_after_exit_keeps_id_address_and_ports(h):
    out = h.outside()
    h.hutch("network", "create", "rnet")
    cid = h.run_d("--name", "web", "--network", "rnet", "--hostname", "webhost", "-p", "8086:80", *SERVE)
    ip = h.ip_of("web")
    assert web_ok(h, out, 8086) == "webhost"
    h.hutch("stop", "-t", "2", "web", timeout=30)
    c = h.inspect("web")
    assert c["State"]["Status"] == "exited"
    h.wait_veth_gone(cid)
    # the address and the host port were given back while it was stopped
    assert h.hutch("port", "web").out.strip() == ""

    assert h.hutch("start", "web").out == "web\n"
    c = h.inspect("web")
    assert c["Id"] == cid and c["State"]["Status"] == "running" and c["State"]["ExitCode"] == 0
    assert c["NetworkSettings"]["IPAddress"] == ip
    assert "0.0.0.0:8086" in h.hutch("port", "web", "80").out
    # real traffic from another machine through the published port, to the same address
    assert web_ok(h, out, 8086) == "webhost"
    assert f"inet {ip}/" in h.hutch("exec", "web", "ip", "-o", "-4", "addr", "show", "dev", "eth0").out
    # starting a running container is a no-op (Docker), same process
    pid = c["State"]["Pid"]
    assert h.hutch("start", "web").out == "web\n"
    assert h.inspect("web")["State"]["Pid"] == pid
    h.hutch("rm", "-f", "web")
    assert_gone(h, cid)
    h.hutch("network", "rm", "rnet")


def test_start_refuses_an_address_or_port_taken_meanwhile(h):
    h.hutch("network", "create", "--subnet", "10.131.0.0/24", "tnet")
    h.run_d("--name", "a", "--network", "tnet", "--ip", "10.131.0.50", "--", "sleep", "300")
    h.hutch("stop", "-t", "0", "a", timeout=30)
    b = h.run_d("--name", "b", "--network", "tnet", "--ip", "10.131.0.50", "--", "sleep", "300")
    r = h.hutch("start", "a", check=False)
    assert r.rc == 125 and "10.131.0.50" in r.err and "container b" in r.err and r.err.count("\n") == 1, r
    assert h.inspect("a")["State"]["Status"] == "exited"
    h.hutch("rm", "-f", "b")
    h.wait_veth_gone(b)

    h.run_d("--name", "p1", "-p", "8087:80", "--", "sleep", "300")
    h.hutch("stop", "-t", "0", "p1", timeout=30)
    h.run_d("--name", "p2", "-p", "8087:80", "--", "sleep", "300")
    r = h.hutch("start", "p1", check=False)
    assert r.rc == 125 and "8087" in r.err and "p2" in r.err, r
    c = h.inspect("p1")
    assert c["State"]["Status"] == "exited" and c["NetworkSettings"]["IPAddress"] == ""
    # once the other one is gone, the address and the port are its again
    h.hutch("rm", "-f", "p2")
    h.hutch("start", "p1")
    assert "8087" in h.hutch("port", "p1").out
    h.hutch("start", "a")
    assert h.ip_of("a") == "10.131.0.50"
    h.hutch("rm", "-f", "a", "p1")
    h.hutch("network", "rm", "tnet")


def test_start_attach_prints_output_and_passes_the_status(h):
    h.run_d("--name", "j", "--", "sh", "-c", "echo run-out; echo run-err >&2; exit 3")
    assert h.hutch("wait", "j").out.strip() == "3"
    r = h.hutch("start", "-a", "j", check=False)
    assert r.rc == 3, r
    assert r.out == "run-out\n" and r.err == "run-err\n", r
    # both runs are in the log
    assert h.hutch("logs", "j").out == "run-out\nrun-out\n"


def test_restart_runs_it_again_with_the_same_address(h):
    cid = h.run_d("--name", "r", "--", "sleep", "300")
    before = h.inspect("r")
    assert h.hutch("restart", "-t", "1", "r", timeout=30).out == "r\n"
    after = h.inspect("r")
    assert after["Id"] == cid and after["State"]["Running"]
    assert after["State"]["Pid"] != before["State"]["Pid"]
    assert after["NetworkSettings"]["IPAddress"] == before["NetworkSettings"]["IPAddress"]
    # restart of an exited container starts it
    h.hutch("stop", "-t", "1", "r", timeout=30)
    h.hutch("restart", "r", timeout=30)
    assert h.inspect("r")["State"]["Running"]


def test_on_failure_restarts_exactly_max_times(h):
    cid = h.run_d("--name", "of", "--restart", "on-failure:2", "--", "sh", "-c", "echo attempt; exit 3")
    c = wait_until(lambda: (lambda c: c if c["State"]["Status"] == "exited" else None)(h.inspect("of")),
                   timeout=20, desc="on-failure:2 to give up")
    assert c["RestartCount"] == 2 and c["State"]["ExitCode"] == 3
    assert c["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert h.hutch("logs", "of").out == "attempt\n" * 3
    h.wait_veth_gone(cid)
    # on-failure does not restart after a success
    h.run_d("--name", "ok", "--restart", "on-failure", "--", "true")
    c = h.wait_exited("ok")
    assert c["RestartCount"] == 0 and c["State"]["ExitCode"] == 0


def test_always_restarts_in_the_same_network_until_stopped(h):
    out = h.outside()
    # serves for a moment, then exits 0: `always` brings it back each time
    cid = h.run_d("--name", "al", "--restart", "always", "-p", "8088:80", "--", "sh", "-c",
                  f"timeout 1 {PY} -m http.server 80 --directory /; exit 0")
    ip = h.ip_of("al")
    wait_until(lambda: h.inspect("al")["RestartCount"] >= 2, timeout=20, desc="two restarts")
    # the network stayed: same address, the published port still reaches it
    wait_until(lambda: (lambda c: c if c["State"]["Running"] and not c["State"]["Restarting"] else None)(h.inspect("al")),
               desc="a running period")
    assert h.ip_of("al") == ip
    assert web_ok(h, out, 8088) == cid[:12]
    assert h.inspect("al")["HostConfig"]["RestartPolicy"]["Name"] == "always"
    h.hutch("stop", "-t", "2", "al", timeout=30)
    c = h.inspect("al")
    assert c["State"]["Status"] == "exited"
    count = c["RestartCount"]
    h.wait_veth_gone(cid)
    # not restarted after the user's stop
    h.run(["sleep", "1.5"])
    c = h.inspect("al")
    assert c["State"]["Status"] == "exited" and c["RestartCount"] == count
    # start clears the stop: the policy applies again
    h.hutch("start", "al")
    wait_until(lambda: h.inspect("al")["RestartCount"] >= 1, timeout=20, desc="a restart after start")
    h.hutch("kill", "al")
    c = wait_until(lambda: (lambda c: c if c["State"]["Status"] == "exited" else None)(h.inspect("al")), desc="kill to stop it")
    h.run(["sleep", "1"])
    assert h.inspect("al")["State"]["Status"] == "exited", "a killed container is not restarted (Docker)"


def test_restarting_shows_in_ps_and_rm_f_leaves_nothing(h):
    cid = h.run_d("--name", "fl", "--restart", "always", "--", "sh", "-c", "exit 1")
    # the backoff doubles (100 ms, 200 ms, ... 1 min): soon it is caught waiting
    def restarting():
        st = h.hutch("ps", "--filter", "name=fl", "--format", "{{.Status}}|{{.State}}").out.strip()
        return st if st.endswith("|restarting") else None
    st = wait_until(restarting, timeout=20, desc="ps to show Restarting")
    assert re.fullmatch(r"Restarting \(1\) .* ago\|restarting", st), st
    # (each check catches it in a wait: it runs again between them)
    c = wait_until(lambda: (lambda c: c if c["State"]["Restarting"] else None)(h.inspect("fl")), timeout=20,
                   desc="inspect to show Restarting")
    assert c["State"]["Status"] == "restarting" and c["State"]["Pid"] == 0 and c["RestartCount"] >= 1
    assert c["State"]["Running"] is True, "restarting is a kind of running (Docker)"
    assert cid[:12] in h.ps_ids(all=False), "a restarting container is listed without -a (Docker)"
    ids = wait_until(lambda: h.hutch("ps", "-q", "--filter", "status=restarting").out.split(), timeout=20,
                     desc="ps --filter status=restarting")
    assert ids == [cid[:12]]
    h.hutch("rm", "-f", "fl")
    assert_gone(h, cid)


def test_stop_of_a_container_waiting_to_restart(h):
    cid = h.run_d("--name", "w", "--restart", "on-failure", "--", "sh", "-c", "exit 4")
    wait_until(lambda: h.inspect("w")["State"]["Restarting"], timeout=20, desc="a wait between restarts")
    h.hutch("stop", "w", timeout=20)
    c = h.inspect("w")
    # 4: its last exit; 143 if the stop's SIGTERM met a run that had just begun
    assert c["State"]["Status"] == "exited" and c["State"]["ExitCode"] in (4, 143)
    count = c["RestartCount"]
    h.run(["sleep", "1"])
    assert h.inspect("w")["RestartCount"] == count
    h.wait_veth_gone(cid)


def test_monitor_killed_leaves_nothing_and_is_not_restarted(h):
    import os
    import signal
    cid = h.run_d("--name", "k9", "--restart", "always", "-p", "8089:80", "--", "sleep", "300")
    shim = None
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                args = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if len(args) > 1 and args[0].endswith(b"hutch-shim") and args[1] == b"run" and cid.encode() in b" ".join(args):
                shim = int(p)
    assert shim, "the container's monitor"
    os.kill(shim, signal.SIGKILL)
    # the next command repairs: the container exited, its network, address and port are gone
    c = wait_until(lambda: (lambda c: c if c["State"]["Status"] == "exited" else None)(h.inspect("k9")),
                   desc="the record to be repaired")
    assert c["State"]["Running"] is False
    h.wait_veth_gone(cid)
    assert h.hutch("port", "k9").out.strip() == ""
    # and it can be started again
    h.hutch("start", "k9")
    assert "8089" in h.hutch("port", "k9").out
    h.hutch("rm", "-f", "k9")
    assert_gone(h, cid)


def test_start_a_pod_member_joins_the_pod_again(h):
    h.hutch("pod", "create", "--name", "pd")
    h.run_d("--pod", "pd", "--name", "m", "--", "sh", "-c", "hostname")
    h.wait_exited("m")
    h.hutch("start", "m")
    h.wait_exited("m")
    assert h.hutch("logs", "m").out == "pd\npd\n"
    h.hutch("pod", "rm", "-f", "pd")


def test_start_and_restart_policy_with_iptables(h):
    from harness import Backend, rules
    fw = Backend(h, "iptables")
    out = h.outside()
    cid = fw.run_d("--name", "ipt", "--hostname", "ipthost", "--restart", "on-failure", "-p", "8090:80", *SERVE)
    assert web_ok(h, out, 8090) == "ipthost"
    fw.hutch("stop", "-t", "2", "ipt", timeout=30)
    fw.wait_exited("ipt")
    assert "--dport 8090" not in rules(h, "iptables")
    fw.hutch("start", "ipt")
    assert "--dport 8090" in rules(h, "iptables"), "the DNAT rule is back"
    assert web_ok(h, out, 8090) == "ipthost"
    fw.hutch("rm", "-f", "ipt")
    assert_gone(h, cid)
    assert "--dport 8090" not in rules(h, "iptables")


def test_a_command_that_cannot_start_is_not_restarted(h):
    r = h.hutch("run", "-d", "--name", "bad", "--restart", "always", "--", "/nonexistent-hutch-cmd", check=False, timeout=20)
    assert r.rc == 127 and "/nonexistent-hutch-cmd" in r.err, r
    assert h.ps_ids(all=True) == []
    h.wait_no_veths()


def test_start_joins_connected_networks_again(h):
    h.hutch("network", "create", "--subnet", "10.132.0.0/24", "front")
    h.hutch("network", "create", "--subnet", "10.133.0.0/24", "back")
    h.run_d("--name", "cn", "--network", "front", "--", "sleep", "300")
    h.hutch("network", "connect", "--alias", "api", "back", "cn")
    before = h.inspect("cn")["NetworkSettings"]["Networks"]
    assert set(before) == {"front", "back"}
    h.hutch("stop", "-t", "0", "cn", timeout=30)
    h.hutch("start", "cn")
    after = h.inspect("cn")["NetworkSettings"]["Networks"]
    assert set(after) == {"front", "back"}
    assert after["back"]["IPAddress"] == before["back"]["IPAddress"] and after["back"]["Aliases"] == ["api"]
    out = h.hutch("exec", "cn", "ip", "-o", "-4", "addr", "show", "dev", "eth1").out
    assert f"inet {before['back']['IPAddress']}/" in out, out
    # a peer on back reaches it by its alias
    h.run_d("--name", "peer", "--network", "back", "--", "sleep", "300")
    assert h.hutch("exec", "peer", "getent", "hosts", "api").out.split()[0] == before["back"]["IPAddress"]
    h.hutch("rm", "-f", "cn", "peer")
    h.hutch("network", "rm", "front", "back")


def test_start_attach_passes_signals_on(h):
    import signal
    # ^C at the terminal reaches only hutch (the container has a session of its own): passed on
    h.run_d("--name", "trap", "--", "sh", "-c", 'trap "echo got-int; exit 5" INT; echo ready; while :; do sleep 0.1; done')
    h.hutch("stop", "-t", "0", "trap", timeout=20)
    p = h.hutch_bg("start", "-a", "trap")
    wait_until(lambda: "ready" in p.output(), desc="the command to start")
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    assert p.returncode == 5 and "got-int" in p.output(), p.output()
    assert h.inspect("trap")["State"]["ExitCode"] == 5
