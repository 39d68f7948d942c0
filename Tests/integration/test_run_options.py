"""run's options: hostname, generated /etc files, -e, -w, init / PID namespace, HUTCH_ROOT."""
import hashlib
import os
import re

from harness import GATEWAY, proc_tree, run, wait_until


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_hostname_flag(h):
    r = h.hutch("run", "--rm", "--hostname", "box1", "--", "sh", "-c", "hostname; cat /etc/hostname")
    assert r.out.split() == ["box1", "box1"]


def test_default_hostname_is_short_id(h):
    cid = h.run_d("--name", "named", "--", "sleep", "300")
    assert h.hutch("exec", "named", "hostname").out.strip() == cid[:12]
    assert h.hutch("exec", "named", "cat", "/etc/hostname").out.strip() == cid[:12]
    assert h.inspect("named")["Config"]["Hostname"] == cid[:12]


def test_hostname_does_not_change_the_hosts(h):
    before = run(["hostname"]).out
    h.hutch("run", "--rm", "--hostname", "box2", "--", "hostname")
    assert run(["hostname"]).out == before
    # nor the throwaway host's (same UTS namespace as the machine's)
    assert h.sh("hostname").out == before


def test_etc_hosts_bridge(h):
    files = {p: digest(p) for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")}
    cid = h.run_d("--hostname", "box3", "--", "sleep", "300")
    ip = h.ip_of(cid)
    hosts = h.hutch("exec", cid, "cat", "/etc/hosts").out
    entries = [l.split() for l in hosts.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert any(e[0] == ip and "box3" in e[1:] for e in entries), hosts
    assert any(e[0] == GATEWAY and "host.hutch.internal" in e[1:] for e in entries), hosts
    assert any(e[0] == "127.0.0.1" and "localhost" in e[1:] for e in entries), hosts
    # the names resolve through the normal resolver inside the container
    r = h.hutch("exec", cid, "getent", "ahostsv4", "host.hutch.internal")
    assert r.out.split()[0] == GATEWAY
    r = h.hutch("exec", cid, "getent", "ahostsv4", "box3")
    assert r.out.split()[0] == ip
    # the host's files are untouched, and the container's are bind mounts inside it only
    assert {p: digest(p) for p in files} == files
    mounts = h.hutch("exec", cid, "cat", "/proc/self/mountinfo").out
    for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        assert any(l.split()[4] == p for l in mounts.splitlines()), f"{p} is not a mount in the container"
        assert not any(l.split()[4] == p for l in open("/proc/self/mountinfo").read().splitlines()), \
            f"the container's {p} mount propagated to the host's mount namespace"


def test_etc_hosts_not_changed_by_many_runs(h):
    before = digest("/etc/hosts")
    for name in ("x1", "x2"):
        h.run_d("--name", name, "--", "sleep", "300")
    h.hutch("rm", "-f", "x1", "x2")
    assert digest("/etc/hosts") == before


def test_resolv_conf_is_the_hosts_without_loopback_nameservers(h):
    host_ns = [l.split()[1] for l in open("/etc/resolv.conf").read().splitlines()
               if l.startswith("nameserver") and len(l.split()) > 1]
    r = h.hutch("run", "--rm", "--", "cat", "/etc/resolv.conf")
    got = [l.split()[1] for l in r.out.splitlines() if l.startswith("nameserver") and len(l.split()) > 1]
    assert not [n for n in got if n.startswith("127.")], r.out
    for n in host_ns:
        if not n.startswith("127."):
            assert n in got, f"host nameserver {n} missing from the container's resolv.conf:\n{r.out}"


def test_resolv_conf_drops_127_nameservers(h):
    # Give hutch a host resolv.conf with a loopback resolver (systemd-resolved style) without
    # touching the real file: a private mount namespace for this one foreground run.
    fake = os.path.join(h.tmp, "resolv.conf")
    with open(fake, "w") as f:
        f.write("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.test\noptions edns0\n")
    script = (f"mount --make-rprivate / && mount --bind {fake} /etc/resolv.conf && "
              f"exec nsenter --net={h.path} -- {h.hutch_bin} --root {h.root} run --rm -- cat /etc/resolv.conf")
    r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=30, env=h.hutch_env())
    assert r.rc == 0, r
    assert "127.0.0.53" not in r.out, r.out
    assert "nameserver 192.0.2.53" in r.out, r.out
    assert "example.test" in r.out, r.out


def test_env(h):
    r = h.hutch("run", "--rm", "-e", "FOO=bar", "--env", "EMPTY=", "-e", "SPACED=a b  c", "--",
                "sh", "-c", 'printf "%s|%s|%s|%s\\n" "$FOO" "${EMPTY-unset}" "$SPACED" "$PATH"')
    foo, empty, spaced, path = r.out.rstrip("\n").split("|")
    assert (foo, empty, spaced) == ("bar", "", "a b  c")
    assert "/usr/bin" in path.split(":"), "PATH must have a default inside the container"


def test_env_in_inspect(h):
    cid = h.run_d("-e", "FOO=bar", "--", "sleep", "300")
    assert "FOO=bar" in h.inspect(cid)["Config"]["Env"]


def test_workdir(h):
    assert h.hutch("run", "--rm", "-w", "/tmp", "--", "pwd").out.strip() == "/tmp"
    assert h.hutch("run", "--rm", "--workdir", "/usr/share", "--", "pwd").out.strip() == "/usr/share"
    assert h.hutch("run", "--rm", "--", "pwd").out.strip() == "/"


def test_pid_namespace_with_init(h):
    r = h.hutch("run", "--rm", "--", "sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | sort -n | tr '\\n' ' '")
    me, pids = r.out.split("\n", 1)
    assert me.strip() == "2", "with the default init the command is PID 2"
    assert all(int(p) < 20 for p in pids.split()), f"the container sees host pids: {pids}"


def test_pid_namespace_no_init(h):
    r = h.hutch("run", "--rm", "--no-init", "--", "sh", "-c", "echo $$")
    assert r.out.strip() == "1"
    r = h.hutch("run", "--rm", "--init", "--", "sh", "-c", "echo $$")
    assert r.out.strip() == "2"


def test_new_uts_ipc_mount_namespaces(h):
    cid = h.run_d("--", "sleep", "300")
    pid = h.inspect(cid)["State"]["Pid"]
    for kind in ("pid", "uts", "ipc", "mnt", "net"):
        assert os.stat(f"/proc/{pid}/ns/{kind}").st_ino != os.stat(f"/proc/self/ns/{kind}").st_ino, kind
    assert os.stat(f"/proc/{pid}/ns/net").st_ino != h.inode


def test_init_reaps_orphans(h):
    # A grandchild orphaned inside the container is reparented to PID 1 (the init), which must
    # reap it: no zombie may stay in the container's process tree.
    marker = os.path.join(h.tmp, "forked")
    cid = h.run_d(*h.share(), "--", "sh", "-c", f"(sleep 0.3 &) ; touch {marker}; exec sleep 300")
    pid = h.inspect(cid)["State"]["Pid"]
    wait_until(lambda: os.path.exists(marker), desc="the container to fork its orphan")

    def settled():
        tree = proc_tree(pid)
        return not [t for t in tree if t[1] == "Z" or t[2] == "sleep 0.3"], tree

    wait_until(lambda: settled()[0], desc=f"the orphan to exit and be reaped (tree: {settled()[1]})")


def test_hutch_root_env(h):
    r = h.hutch("run", "-d", "--name", "viaenv", "--", "sleep", "300", root=False, env={"HUTCH_ROOT": h.root})
    cid = r.out.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), r
    h.remember(cid)
    assert cid[:12] in h.hutch("ps", "-q").out.split()
    assert h.hutch("ps", "-q", root=False, env={"HUTCH_ROOT": h.root}).out.split() == [cid[:12]]
