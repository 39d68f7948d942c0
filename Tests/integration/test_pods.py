"""Pods (issue 4): a pause process holds the pod's net, uts and ipc namespaces; `run --pod` joins them.

Every test here removes its pods before the harness's own cleanup (`rm -f $(ps -aq)`, which hutch
rightly refuses for a pod's infra container), then the usual leak check runs.
"""
import json
import os
import re
import signal

import pytest

from harness import (HEX64, HOST_OUT_IP, OUTSIDE_IP, PY, WHOAMI, cmdline, db_rows, ns_inode, ppid_of,
                     proc_starttime, wait_until)

HEX12 = re.compile(r"[0-9a-f]{12}")


# ---------------------------------------------------------------------------------------------
# helpers


def pod_create(h, *args):
    """`hutch pod create ARGS`: returns the 64-hex pod id it printed; notes the infra's pid."""
    r = h.hutch("pod", "create", *args)
    pid = r.out.strip()
    assert HEX64.fullmatch(pid), f"pod create printed {r.out!r}, want a 64-hex id (stderr {r.err!r})"
    infra = pod_inspect(h, pid).get("InfraContainerID")
    if infra:
        h.remember(infra)  # the pause process is then part of the harness's process leak check
    return pid


def pod_inspect_all(h, *names):
    r = h.hutch("pod", "inspect", *names)
    try:
        data = json.loads(r.out)
    except ValueError as e:
        raise AssertionError(f"pod inspect printed invalid JSON ({e}): {r.out!r}")
    assert isinstance(data, list) and len(data) == len(names), f"want a JSON array of {len(names)}: {r.out!r}"
    return data


def pod_inspect(h, name):
    return pod_inspect_all(h, name)[0]


def infra_pid(h, pod):
    pid = pod_inspect(h, pod)["InfraPid"]
    assert isinstance(pid, int) and pid > 0, pid
    return pid


def main_pid(h, name):
    pid = h.inspect(name)["State"]["Pid"]
    assert isinstance(pid, int) and pid > 0, pid
    return pid


def in_pod(h, pod, script, check=True, timeout=30):
    """`hutch run --rm --pod POD -- sh -c SCRIPT` (foreground): Result."""
    r = h.hutch("run", "--rm", "--pod", pod, "--", "sh", "-c", script, check=False, timeout=timeout)
    if check:
        assert r.rc == 0, f"rc={r.rc} out={r.out!r} err={r.err!r}"
    return r


def retry(cmd, tries=100):
    """A shell loop that retries cmd (e.g. a curl to a server still starting) every 0.1 s."""
    return f"i=0; until {cmd}; do i=$((i+1)); [ $i -ge {tries} ] && exit 1; sleep 0.1; done"


def curl_loop(url):
    return retry(f"curl -fsS --max-time 2 {url}")


def nft_lines(h):
    return h.run(["nft", "list", "ruleset"], check=False).out.splitlines()


def assert_error(r, *words):
    assert r.rc == 125, f"want exit 125, got rc={r.rc} out={r.out!r} err={r.err!r}"
    assert r.err.startswith("hutch: "), r.err
    for w in words:
        assert w in r.err, f"{w!r} not in the message {r.err!r}"


def assert_process_gone(pid, start, what):
    wait_until(lambda: proc_starttime(pid) != start, desc=f"{what} (pid {pid}) to exit")


def assert_pod_gone(h, pod_id, infra_id, ip=None, host_port=None):
    """Nothing of the pod left: no record, no container, no veth, no lease/port, no rule, no state."""
    assert pod_id[:12] not in h.hutch("pod", "ls", "-q").out.split()
    assert h.hutch("pod", "inspect", pod_id, check=False).rc == 125
    assert h.ps_ids(all=True) == []
    h.wait_veth_gone(infra_id, desc="the pod's veth to go")
    h.wait_no_veths()
    assert db_rows(h, "pods") == []
    assert db_rows(h, "containers") == []
    assert db_rows(h, "leases") == [], "the pod's IP lease was not released"
    assert db_rows(h, "ports") == [], "the pod's port reservation was not released"
    rules = nft_lines(h)
    if ip:
        assert not [l for l in rules if re.search(rf"\b{re.escape(ip)}\b", l)], "\n".join(rules)
    if host_port:
        assert not [l for l in rules if re.search(rf"\b{host_port}\b", l)], "\n".join(rules)
    ipt = h.run(["iptables-save"], check=False).out
    if ip:
        assert ip not in ipt, ipt
    assert h.state_entries() == []
    wait_until(lambda: h.leftover_processes() == [], desc="no process left")


# ---------------------------------------------------------------------------------------------
# namespaces


def test_members_share_net_uts_ipc_with_the_pause_process(h):
    pod_create(h, "--name", "p", "--net", "none")
    pause = infra_pid(h, "p")
    assert "pause" in open(f"/proc/{pause}/cmdline", "rb").read().decode(errors="replace"), \
        "InfraPid should be the pod's pause process"
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    h.run_d("--pod", "p", "--name", "b", "--", "sleep", "300")
    a, b = main_pid(h, "a"), main_pid(h, "b")
    for kind in ("net", "uts", "ipc"):
        want = ns_inode(pause, kind)
        assert want and ns_inode(a, kind) == want and ns_inode(b, kind) == want, \
            f"{kind} namespace not shared: pause {want}, a {ns_inode(a, kind)}, b {ns_inode(b, kind)}"
        assert want != ns_inode(os.getpid(), kind), f"the pod's {kind} namespace must be its own"
    assert ns_inode(pause, "net") != h.inode
    for kind in ("pid", "mnt"):
        inodes = {ns_inode(pause, kind), ns_inode(a, kind), ns_inode(b, kind), ns_inode(os.getpid(), kind)}
        assert len(inodes) == 4, f"each member needs its own {kind} namespace: {inodes}"
    # inside: a member sees itself as PID 1's tree, not the pause process
    r = h.hutch("exec", "a", "cat", "/proc/1/cmdline")
    assert "pause" not in r.out, "a member must have its own pid namespace"


def test_ipc_namespace_is_shared_and_private(h):
    pod_create(h, "--name", "p", "--net", "none")
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    size = "43217"  # an odd size marks the segment (Debian's ipcmk cannot pick a key)
    h.hutch("exec", "a", "ipcmk", "-M", size)
    seen = in_pod(h, "p", "ipcs -m").out
    assert re.search(rf"\s{size}\s", seen), f"a SysV segment made in one member must be visible to another:\n{seen}"
    # ... and only inside the pod
    r = h.hutch("run", "--rm", "--net", "none", "--", "ipcs", "-m")
    assert not re.search(rf"\s{size}\s", r.out), r.out


def test_members_talk_over_localhost(h):
    pod_create(h, "--name", "p", "--net", "none")
    h.run_d("--pod", "p", "--name", "srv", "--", PY, WHOAMI, "127.0.0.1", "8000")
    r = in_pod(h, "p", curl_loop("http://127.0.0.1:8000/"))
    assert r.out.strip() == "127.0.0.1"
    r = in_pod(h, "p", "curl -fsS --max-time 2 http://localhost:8000/")
    assert r.out.strip() in ("127.0.0.1", "::1")
    # the pod's loopback is its own: neither the host nor a container outside the pod reach it
    assert h.run(["curl", "-sS", "--max-time", "2", "http://127.0.0.1:8000/"], check=False).rc != 0
    r = h.hutch("run", "--rm", "--net", "none", "--", "curl", "-sS", "--max-time", "2",
                "http://127.0.0.1:8000/", check=False)
    assert r.rc != 0, r


def test_members_talk_over_localhost_bridge(h):
    pod_create(h, "--name", "p")
    h.run_d("--pod", "p", "--name", "srv", "--", PY, WHOAMI, "0.0.0.0", "8000")
    assert in_pod(h, "p", curl_loop("http://127.0.0.1:8000/")).out.strip() == "127.0.0.1"
    # and the pod's address serves the same listener, from the host too
    ip = pod_inspect(h, "p")["IPAddress"]
    assert re.fullmatch(r"10\.87\.\d+\.\d+", ip), ip
    assert h.wait_http(f"http://{ip}:8000/").strip() != ""


def test_pod_on_a_user_defined_network(h):
    # (its default subnet lives only inside the throwaway host, like everything here)
    h.hutch("network", "create", "podnet")
    pod_create(h, "--name", "api", "--net", "podnet")
    ip = pod_inspect(h, "api")["IPAddress"]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", ip) and not ip.startswith("10.87."), ip
    h.run_d("--pod", "api", "--name", "srv", "--", PY, WHOAMI, "0.0.0.0", "8000")
    # another container on that network reaches the pod by its name, and is seen as itself
    h.run_d("--name", "client", "--net", "podnet", "--", "sleep", "300")
    client_ip = h.ip_of("client")
    r = h.hutch("exec", "client", "sh", "-c", curl_loop("http://api:8000/"))
    assert r.rc == 0 and r.out.strip() == client_ip, r
    assert in_pod(h, "api", curl_loop("http://127.0.0.1:8000/")).out.strip() == "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# hostname and /etc/hosts


def test_hostname_defaults_to_the_pod_name(h):
    pod_create(h, "--name", "web", "--net", "none")
    assert pod_inspect(h, "web")["Hostname"] == "web"
    r = in_pod(h, "web", "hostname; cat /etc/hostname")
    assert r.out.split() == ["web", "web"]
    h.run_d("--pod", "web", "--name", "a", "--", "sleep", "300")
    assert h.hutch("exec", "a", "hostname").out.strip() == "web"
    assert h.hutch("exec", "a", "sh", "-c", "echo $HOSTNAME").out.strip() == "web"


def test_hostname_option(h):
    pod_create(h, "--name", "web", "--hostname", "front-1", "--net", "none")
    assert pod_inspect(h, "web")["Hostname"] == "front-1"
    r = in_pod(h, "web", "hostname; cat /etc/hostname")
    assert r.out.split() == ["front-1", "front-1"]
    hosts = in_pod(h, "web", "cat /etc/hosts").out
    names = {w for line in hosts.splitlines() for w in line.split()[1:]}
    assert {"front-1", "web"} <= names, hosts


def test_hostname_of_a_member_is_refused(h):
    pod_create(h, "--name", "web", "--net", "none")
    r = h.hutch("run", "--rm", "--pod", "web", "--hostname", "other", "--", "true", check=False)
    assert_error(r, "--hostname")


def test_invalid_pod_hostname_and_name(h):
    assert_error(h.hutch("pod", "create", "--name", "bad name", check=False), "name")
    assert_error(h.hutch("pod", "create", "--name", "ok", "--hostname", "-bad-", check=False), "hostname")
    assert h.hutch("pod", "ls", "-q").out.split() == []
    assert h.ps_ids(all=True) == []


def test_etc_hosts_names_the_pod(h):
    pod_create(h, "--name", "web")
    ip = pod_inspect(h, "web")["IPAddress"]
    h.run_d("--pod", "web", "--name", "a", "--", "sleep", "300")
    h.run_d("--pod", "web", "--name", "b", "--", "sleep", "300")
    for m in ("a", "b"):
        hosts = h.hutch("exec", m, "cat", "/etc/hosts").out
        entries = {tuple(l.split()[1:]): l.split()[0] for l in hosts.splitlines() if l.strip() and not l.startswith("#")}
        assert any("web" in names and addr == ip for names, addr in entries.items()), \
            f"/etc/hosts of {m} should map the pod's name to {ip}:\n{hosts}"
        assert "localhost" in hosts
    # the pod's name resolves inside (getent goes through /etc/hosts)
    assert in_pod(h, "web", "getent hosts web").out.split()[0] == ip


# ---------------------------------------------------------------------------------------------
# published ports


def test_pod_publish_reached_from_outside(h):
    pod_create(h, "--name", "web", "-p", "8081:80")
    info = pod_inspect(h, "web")
    assert info["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8081"}]}, info["Ports"]
    h.run_d("--pod", "web", "--name", "srv", "--", PY, WHOAMI, "0.0.0.0", "80")
    out = h.outside()
    # from another machine, through the throwaway host's address; no proxy: the source IP stays
    body = h.wait_http(f"http://{HOST_OUT_IP}:8081/", ns=out)
    assert body.strip() == OUTSIDE_IP
    # the sidecar's localhost sees the same server
    assert in_pod(h, "web", curl_loop("http://127.0.0.1:80/")).out.strip() == "127.0.0.1"
    # the server is replaced: the pod, its address and its published port stay
    h.hutch("rm", "-f", "srv")
    h.run_d("--pod", "web", "--name", "srv2", "--", PY, WHOAMI, "0.0.0.0", "80")
    assert h.wait_http(f"http://{HOST_OUT_IP}:8081/", ns=out).strip() == OUTSIDE_IP
    assert pod_inspect(h, "web")["IPAddress"] == info["IPAddress"]


def test_pod_port_clash_is_refused(h):
    pod_create(h, "--name", "a", "-p", "8085:80")
    r = h.hutch("pod", "create", "--name", "b", "-p", "8085:80", check=False)
    assert_error(r, "8085")
    assert h.hutch("pod", "ls", "-q").out.split() == [pod_inspect(h, "a")["Id"][:12]]
    r = h.hutch("run", "--rm", "-p", "8085:80", "--", "true", check=False)
    assert_error(r, "8085")


# ---------------------------------------------------------------------------------------------
# life of a pod


def test_pod_survives_member_exit(h):
    pid = pod_create(h, "--name", "p")
    before = pod_inspect(h, "p")
    pause, start = before["InfraPid"], proc_starttime(before["InfraPid"])
    ip = before["IPAddress"]
    assert re.fullmatch(r"10\.87\.\d+\.\d+", ip), ip
    h.run_d("--pod", "p", "--name", "short", "--", "sh", "-c", "exit 3")
    assert h.wait_exited("short")["State"]["ExitCode"] == 3
    h.run_d("--pod", "p", "--name", "long", "--", "sleep", "300")
    h.hutch("stop", "-t", "1", "long", timeout=30)
    h.hutch("rm", "long")
    after = pod_inspect(h, "p")
    assert after["State"] == "Running"
    assert after["InfraPid"] == pause and proc_starttime(pause) == start, "the pause process must not change"
    assert after["IPAddress"] == ip
    assert {c["Name"]: c["State"] for c in after["Containers"]} == {"short": "exited"}
    assert "hv" + after["InfraContainerID"][:11] in h.links()
    # new members join the same namespaces and see the same address
    h.run_d("--pod", "p", "--name", "new", "--", "sleep", "300")
    assert ns_inode(main_pid(h, "new"), "net") == ns_inode(pause, "net")
    r = in_pod(h, "p", "ip -4 -o addr show dev eth0")
    assert f" {ip}/" in r.out, r.out
    assert pod_inspect(h, pid)["Id"] == pid


def test_pod_rm_force_leaves_nothing(h):
    pod_id = pod_create(h, "--name", "p", "-p", "8082:80")
    info = pod_inspect(h, "p")
    infra, ip, pause = info["InfraContainerID"], info["IPAddress"], info["InfraPid"]
    pause_start = proc_starttime(pause)
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    h.run_d("--pod", "p", "--name", "b", "--", PY, WHOAMI, "0.0.0.0", "80")
    h.run_d("--pod", "p", "--name", "c", "--", "true")
    members = [(main_pid(h, n), n) for n in ("a", "b")]
    starts = [(p, proc_starttime(p), n) for p, n in members]
    assert db_rows(h, "leases", owner=infra), "expected the pod's lease in the store"
    assert db_rows(h, "ports", owner=infra), "expected the pod's port reservation in the store"
    r = h.hutch("pod", "rm", "-f", "p", timeout=60)
    assert r.out.strip() == "p"
    assert_process_gone(pause, pause_start, "the pause process")
    for p, s, n in starts:
        assert_process_gone(p, s, f"member {n}")
    assert_pod_gone(h, pod_id, infra, ip=ip, host_port=8082)
    # the name and the port are free again
    pod_create(h, "--name", "p", "-p", "8082:80")


def test_pod_rm_force_while_members_join(h):
    """`run --pod` racing with `pod rm -f`: every run either fails (125) or its container is
    removed with the pod; nothing is left behind either way."""
    import threading
    pod_id = pod_create(h, "--name", "p")
    infra = pod_inspect(h, "p")["InfraContainerID"]
    for i in range(2):
        h.run_d("--pod", "p", "--name", f"m{i}", "--", "sleep", "300")
    results, stop = [], threading.Event()

    def joiner(k):
        for i in range(15):
            if stop.is_set():
                return
            r = h.hutch("run", "-d", "--pod", "p", "--", "sleep", "300", check=False, timeout=60)
            results.append(r)
            if r.rc == 0:
                h.remember(r.out.strip())
            elif r.rc != 125:
                return

    threads = [threading.Thread(target=joiner, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    wait_until(lambda: sum(r.rc == 0 for r in results) >= 2, timeout=30, desc="some joins to succeed")
    h.hutch("pod", "rm", "-f", "p", timeout=60)
    stop.set()
    for t in threads:
        t.join(90)
    assert all(r.rc in (0, 125) for r in results), [r for r in results if r.rc not in (0, 125)]
    # a join that won the race after the removal finished may have created an orphan: none allowed
    assert h.ps_ids(all=True) == [], h.hutch("ps", "-a").out
    assert_pod_gone(h, pod_id, infra)


def test_pod_rm_refused_while_members_run(h):
    pod_id = pod_create(h, "--name", "p", "--net", "none")
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    r = h.hutch("pod", "rm", "p", check=False)
    assert_error(r, "p", "-f")
    assert pod_inspect(h, "p")["State"] == "Running"
    assert h.inspect("a")["State"]["Running"] is True
    # once its members stopped, a plain `pod rm` removes it (and its pause process)
    infra = pod_inspect(h, "p")["InfraContainerID"]
    h.hutch("stop", "-t", "1", "a", timeout=30)
    h.hutch("pod", "rm", "p", timeout=60)
    assert_pod_gone(h, pod_id, infra)


def test_infra_container_cannot_be_removed_alone(h):
    pod_create(h, "--name", "p", "--net", "none")
    infra = pod_inspect(h, "p")["InfraContainerID"]
    assert_error(h.hutch("rm", "-f", infra, check=False), "pod")
    assert pod_inspect(h, "p")["State"] == "Running"


def test_pod_stop(h):
    pod_id = pod_create(h, "--name", "p")
    info = pod_inspect(h, "p")
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    h.run_d("--pod", "p", "--name", "b", "--", "sleep", "300")
    h.hutch("pod", "stop", "-t", "1", "p", timeout=60)
    after = pod_inspect(h, "p")
    assert after["State"] == "Exited"
    assert {c["State"] for c in after["Containers"]} == {"exited"}
    assert proc_starttime(info["InfraPid"]) is None
    h.wait_veth_gone(info["InfraContainerID"], desc="the pod's veth to go")
    assert db_rows(h, "leases") == []
    r = h.hutch("run", "--rm", "--pod", "p", "--", "true", check=False)
    assert_error(r, "not running")
    # stopping again is not an error; a stopped pod is removed without -f
    h.hutch("pod", "stop", "p", timeout=30)
    h.hutch("pod", "rm", "p", timeout=60)
    assert_pod_gone(h, pod_id, info["InfraContainerID"], ip=info["IPAddress"])


@pytest.mark.parametrize("monitor_too", [False, True], ids=["pause", "pause-and-its-monitor"])
def test_kill9_pause_is_detected_and_cleaned(h, monitor_too):
    pod_id = pod_create(h, "--name", "p", "-p", "8083:80")
    info = pod_inspect(h, "p")
    infra, pause, ip = info["InfraContainerID"], info["InfraPid"], info["IPAddress"]
    h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    h.run_d("--pod", "p", "--name", "b", "--", "sleep", "300")
    members = [(main_pid(h, n), n) for n in ("a", "b")]
    starts = [(p, proc_starttime(p), n) for p, n in members]
    pause_start = proc_starttime(pause)
    if monitor_too:
        # the crash case: nobody is left to record the exit, only the next hutch command can
        shim = ppid_of(pause)
        assert "hutch-shim" in cmdline(shim)
        os.kill(shim, signal.SIGKILL)
        wait_until(lambda: proc_starttime(shim) is None, desc="the monitor to die")
    os.kill(pause, signal.SIGKILL)
    assert_process_gone(pause, pause_start, "the pause process")

    # the next hutch command sees the pod dead, and its members are gone
    wait_until(lambda: pod_inspect(h, "p")["State"] == "Exited", desc="pod inspect to show the pod Exited")
    for p, s, n in starts:
        assert_process_gone(p, s, f"member {n}")
    wait_until(lambda: {c["State"] for c in pod_inspect(h, "p")["Containers"]} == {"exited"},
               desc="the members to be marked exited")
    assert h.ps_ids(all=False) == []
    h.wait_veth_gone(infra, desc="the pod's veth to go")
    wait_until(lambda: db_rows(h, "leases") == [] and db_rows(h, "ports") == [], desc="lease and port released")
    assert not [l for l in nft_lines(h) if re.search(rf"\b{re.escape(ip)}\b|\b8083\b", l)]
    # a dead pod cannot be joined; it is removed without -f, leaving nothing
    assert_error(h.hutch("run", "--rm", "--pod", "p", "--", "true", check=False), "not running")
    assert h.ps_ids(all=True) != []
    h.hutch("pod", "rm", "p", timeout=60)
    assert_pod_gone(h, pod_id, infra, ip=ip, host_port=8083)
    # its port can be published again
    pod_create(h, "--name", "p", "-p", "8083:80")


# ---------------------------------------------------------------------------------------------
# errors


def test_run_in_missing_pod_creates_nothing(h):
    r = h.hutch("run", "-d", "--pod", "missing", "--name", "x", "--", "sleep", "300", check=False)
    assert_error(r, "missing")
    assert r.out == ""
    assert h.ps_ids(all=True) == []
    assert h.hutch("pod", "ls", "-q").out.split() == []
    assert h.state_entries() == []
    assert h.links("veth") == []
    assert db_rows(h, "containers") == [] and db_rows(h, "leases") == []
    # the name was not reserved
    h.run_d("--name", "x", "--net", "none", "--", "true")
    h.hutch("wait", "x")


@pytest.mark.parametrize("opts,word", [
    (["-p", "8080:80"], "publish"),
    (["--publish", "8080:80"], "publish"),
    (["--net", "none"], "network"),
    (["--net", "host"], "network"),
    (["--network", "bridge"], "network"),
    (["--net", "container:p-infra"], "network"),
])
def test_pod_refuses_publish_and_network(h, opts, word):
    pod_create(h, "--name", "p", "--net", "none")
    r = h.hutch("run", "-d", "--pod", "p", *opts, "--name", "x", "--", "sleep", "300", check=False)
    assert_error(r)
    assert word in r.err.lower() and "pod" in r.err, r.err
    assert h.hutch("pod", "ps", "-q", "p").out.split() == []
    assert h.hutch("inspect", "x", check=False).rc == 125


def test_pod_command_errors(h):
    assert_error(h.hutch("pod", "inspect", "nope", check=False), "nope")
    assert_error(h.hutch("pod", "ps", "nope", check=False), "nope")
    assert_error(h.hutch("pod", "rm", "nope", check=False), "nope")
    assert_error(h.hutch("pod", "rm", "-f", "nope", check=False), "nope")
    assert_error(h.hutch("pod", "stop", "nope", check=False), "nope")
    pod_create(h, "--name", "p", "--net", "none")
    assert_error(h.hutch("pod", "create", "--name", "p", "--net", "none", check=False), "p")
    assert len(h.hutch("pod", "ls", "-q").out.split()) == 1
    assert_error(h.hutch("pod", "create", "--name", "q", "--net", "container:x", check=False))
    assert_error(h.hutch("pod", "create", "--name", "q", "-p", "notaport", check=False))
    assert_error(h.hutch("pod", "create", "--name", "q", "--net", "none", "-p", "8080:80", check=False))
    assert len(h.hutch("pod", "ls", "-q").out.split()) == 1
    assert len(h.ps_ids(all=True)) == 1  # the infra container of p only


# ---------------------------------------------------------------------------------------------
# ls / inspect / ps shapes


def test_pod_ls(h):
    assert h.hutch("pod", "ls", "-q").out == ""
    header = h.hutch("pod", "ls").out.splitlines()
    assert len(header) == 1 and header[0].split()[:2] == ["POD", "ID"] and "NAME" in header[0]
    a = pod_create(h, "--name", "alpha", "--net", "none")
    b = pod_create(h, "--name", "beta", "--net", "none")
    h.run_d("--pod", "beta", "--name", "m", "--", "sleep", "300")
    q = h.hutch("pod", "ls", "-q").out.split()
    assert sorted(q) == sorted([a[:12], b[:12]])
    assert all(HEX12.fullmatch(x) for x in q)
    lines = h.hutch("pod", "ls").out.splitlines()
    assert len(lines) == 3
    for head in ("POD ID", "NAME", "STATUS", "CREATED"):
        assert head in lines[0], lines[0]
    rows = {l.split()[1]: l for l in lines[1:]}
    assert set(rows) == {"alpha", "beta"}
    assert rows["alpha"].startswith(a[:12]) and rows["beta"].startswith(b[:12])
    assert "Running" in rows["alpha"] and "Running" in rows["beta"]
    h.hutch("pod", "stop", "-t", "1", "alpha", timeout=30)
    rows = {l.split()[1]: l for l in h.hutch("pod", "ls").out.splitlines()[1:]}
    assert "Exited" in rows["alpha"] and "Running" in rows["beta"]
    assert h.hutch("pod", "list", "-q").out.split() == q


def test_pod_inspect_shape(h):
    pid = pod_create(h, "--name", "web", "--hostname", "front", "-p", "8084:80")
    h.run_d("--pod", "web", "--name", "app", "--", "sleep", "300")
    h.run_d("--pod", "web", "--name", "once", "--", "true")
    h.wait_exited("once")
    p = pod_inspect(h, "web")
    for key in ("Id", "Name", "Hostname", "InfraPid", "InfraContainerID", "IPAddress", "Ports", "Containers",
                "Created", "State"):
        assert key in p, f"pod inspect lacks {key}: {sorted(p)}"
    assert p["Id"] == pid and p["Name"] == "web" and p["Hostname"] == "front"
    assert p["State"] == "Running"
    assert isinstance(p["InfraPid"], int) and proc_starttime(p["InfraPid"]) is not None
    assert HEX64.fullmatch(p["InfraContainerID"])
    assert re.fullmatch(r"10\.87\.\d+\.\d+", p["IPAddress"])
    assert p["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8084"}]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", p["Created"]), p["Created"]
    cs = {c["Name"]: c for c in p["Containers"]}
    assert set(cs) == {"app", "once"}, "Containers lists the members (not the infra container)"
    assert cs["app"]["State"] == "running" and cs["once"]["State"] == "exited"
    assert cs["app"]["Id"] == h.inspect("app")["Id"]
    # the infra container is an ordinary container record joined by the members
    infra = h.inspect(p["InfraContainerID"])
    assert infra["State"]["Pid"] == p["InfraPid"]
    assert h.inspect("app")["State"]["Pid"] != p["InfraPid"]
    # by id prefix, several at once, none mode has no address
    pod_create(h, "--name", "quiet", "--net", "none")
    both = pod_inspect_all(h, pid[:8], "quiet")
    assert [x["Name"] for x in both] == ["web", "quiet"]
    assert both[1]["IPAddress"] in ("", None) and both[1]["Ports"] in ({}, None)
    assert both[1]["Hostname"] == "quiet"


def test_pod_ps(h):
    pod_create(h, "--name", "p", "--net", "none")
    pod_create(h, "--name", "other", "--net", "none")
    assert h.hutch("pod", "ps", "-q", "p").out == ""
    a = h.run_d("--pod", "p", "--name", "a", "--", "sleep", "300")
    b = h.run_d("--pod", "p", "--name", "b", "--", "sh", "-c", "exit 2")
    h.run_d("--pod", "other", "--name", "elsewhere", "--", "sleep", "300")
    h.wait_exited("b")
    q = h.hutch("pod", "ps", "-q", "p").out.split()
    assert sorted(q) == sorted([a[:12], b[:12]])
    lines = h.hutch("pod", "ps", "p").out.splitlines()
    assert "CONTAINER ID" in lines[0] and "NAMES" in lines[0] and "STATUS" in lines[0]
    rows = {l.split()[-1]: l for l in lines[1:]}
    assert set(rows) == {"a", "b"}
    assert "Up" in rows["a"] and "Exited (2)" in rows["b"]
    assert rows["a"].startswith(a[:12])


def test_pod_net_host(h):
    pod_create(h, "--name", "hp", "--net", "host")
    pause = infra_pid(h, "hp")
    assert ns_inode(pause, "net") == h.inode, "a host-mode pod uses the host's network namespace"
    assert ns_inode(pause, "uts") != ns_inode(os.getpid(), "uts")
    r = in_pod(h, "hp", "hostname")
    assert r.out.strip() == "hp"
