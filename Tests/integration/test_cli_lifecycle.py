"""Issue 14 §3 and §4: the everyday flags and commands (`--env-file`, `--add-host`, `--dns`,
`rename`, `network connect/disconnect`) and the defects found when hutch was tried as a new user
would (exit status after `--rm`, a world-readable store, special-purpose subnets, `exec ""`,
image names, long names, `--help=true`, `ps` for pod members, padded hosts files).

Everything happens inside the harness's throwaway host namespace; the 10.9x.0.0/24 subnets and
the nameservers written into resolv.conf (192.0.2.x, TEST-NET-1) are never contacted.
"""
import json
import os
import shutil
import subprocess

import pytest

from harness import GATEWAY, PY, db_rows, wait_until
from harness import Backend as Fw

BACKENDS = ["nftables", "iptables"]
BLOCKED = (7, 28)  # curl: refused / unreachable, timed out (dropped)


def one_line_error(r, rc=125):
    assert r.rc == rc, r
    assert r.err.startswith("hutch: ") and r.err.count("\n") == 1, r
    return r.err


def tcp_probe(h, name, host, port, timeout=2):
    """Exit status of a TCP connect from inside container `name` (0: connected)."""
    code = (f"import socket,sys\ns=socket.socket();s.settimeout({timeout})\n"
            f"try:\n s.connect(({host!r},{port}));s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n');"
            f"print(s.recv(12).decode())\nexcept OSError as e:\n print(e);sys.exit(1)")
    return h.hutch("exec", name, PY, "-c", code, check=False, timeout=timeout + 20)


# ---------------------------------------------------------------------------------------------
# §4: wait after --rm, kill


def test_wait_gets_the_status_of_a_removed_container(h):
    """`run -d --rm` then `wait`: the exit status outlives the record (3, and 137 when killed)."""
    h.hutch("run", "-d", "--rm", "--name", "x", "--", "sh", "-c", "sleep 1; exit 3")
    # Two waiters that start while it runs, and one after it is gone: all get 3.
    waiters = [subprocess.Popen(h.argv([h.hutch_bin, "--root", h.root, "wait", "x"]), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [w.communicate(timeout=30) for w in waiters]
    assert [(w.returncode, o[0]) for w, o in zip(waiters, outs)] == [(0, "3\n")] * 2, outs
    wait_until(lambda: not h.ps_ids(), desc="x to be removed")
    assert h.hutch("wait", "x").out == "3\n"

    h.hutch("run", "-d", "--rm", "--name", "k", "--", "sleep", "300")
    h.hutch("kill", "k")
    assert h.hutch("wait", "k").out == "137\n"
    # Without --rm too, and by SIGTERM (143).
    h.run_d("--name", "t", "--", "sleep", "300")
    h.hutch("kill", "-s", "TERM", "t")
    assert h.hutch("wait", "t").out == "143\n"
    # rm -f of a running --rm container: a waiter started before gets 137.
    h.hutch("run", "-d", "--rm", "--name", "f", "--", "sleep", "300")
    w = subprocess.Popen(h.argv([h.hutch_bin, "--root", h.root, "wait", "f"]), stdout=subprocess.PIPE, text=True)
    wait_until(lambda: w.poll() is None and os.path.exists(f"/proc/{w.pid}"), desc="the waiter to start")
    h.hutch("rm", "-f", "f")
    assert w.communicate(timeout=30)[0] == "137\n"
    # An unknown name is still an error.
    one_line_error(h.hutch("wait", "never-was", check=False))


# ---------------------------------------------------------------------------------------------
# §4: the store is not world-readable, secrets stay off command lines


def test_state_is_private_to_root(h):
    secret = "s3cret-" + os.urandom(4).hex()
    h.run_d("--name", "db", "-e", f"DB_PASSWORD={secret}", "--", "sleep", "300")
    for f in ("hutch.db", "hutch.db-wal", "hutch.db-shm"):
        p = os.path.join(h.root, f)
        if os.path.exists(p):
            assert os.stat(p).st_mode & 0o777 == 0o600, f"{f} has mode {oct(os.stat(p).st_mode & 0o777)}"
    # The container still sees it.
    assert h.hutch("exec", "db", "sh", "-c", "echo $DB_PASSWORD").out.strip() == secret
    # An unprivileged user, with the state root traversable (as /var/lib/hutch, 0711), cannot
    # read the store, with sqlite3, cat or hutch itself.
    os.chmod(h.root, 0o711)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    db = os.path.join(h.root, "hutch.db")
    tries = [["cat", db], ["hutch-inspect"]]
    if shutil.which("sqlite3"):
        tries.append(["sqlite3", db, "select env from containers"])
    for argv in tries:
        if argv == ["hutch-inspect"]:
            argv = [h.hutch_bin, "--root", h.root, "inspect", "db"]
        r = h.run(nobody + argv, check=False)
        assert r.rc != 0 and secret not in r.out + r.err, f"{argv[0]} as nobody: {r}"
    # Nor in any process's command line (world-readable): the shim gets it in its environment.
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert secret.encode() not in f.read(), f"the secret is on the command line of pid {pid}"
        except OSError:
            pass
    r = h.run(nobody + ["ps", "-eo", "args"], check=False)
    assert secret not in r.out


# ---------------------------------------------------------------------------------------------
# §4: bad input that used to pass or fail obscurely


@pytest.mark.parametrize("subnet", ["224.0.0.0/24", "0.0.0.0/8", "127.0.0.0/24", "255.255.255.0/30",
                                    "169.254.10.0/24", "240.0.0.0/24", "192.0.0.0/2"])
def test_network_create_refuses_special_purpose_ranges(h, subnet):
    before = h.hutch("network", "ls", "-q").out
    err = one_line_error(h.hutch("network", "create", "--subnet", subnet, "m", check=False))
    assert subnet in err and "special-purpose" in err, err
    assert h.hutch("network", "ls", "-q").out == before
    assert not [l for l in h.links() if l.startswith("hb-")]


def test_empty_command_word_is_docker_not_found(h):
    r = h.hutch("run", "--rm", "--", "", check=False)
    assert (r.rc, r.err) == (127, 'hutch: exec: "": executable file not found in $PATH\n'), r
    assert h.hutch("ps", "-aq").out == ""


def test_an_image_name_gets_the_host_commands_hint(h):
    r = h.hutch("run", "--rm", "alpine", "echo", "hi", check=False)
    err = one_line_error(r, rc=127)
    assert 'exec: "alpine": executable file not found in $PATH' in err and "not images" in err, err
    assert h.hutch("ps", "-aq").out == ""


def test_long_name_is_refused_naming_the_limit(h):
    err = one_line_error(h.hutch("run", "--rm", "--name", "a" * 300, "--", "true", check=False))
    assert "at most 128 characters" in err and "300" in err, err
    assert len(err) < 300, "the message should not repeat the whole name"


def test_help_takes_a_boolean_value(h):
    for args in (["run", "--help=true"], ["run", "--help=1"], ["network", "--help=true"]):
        r = h.hutch(*args)
        assert "USAGE" in r.out, (args, r)
    r = h.hutch("run", "--help=false", "--rm", "--net", "none", "--", "echo", "ran")
    assert r.out == "ran\n"


def test_ps_shows_a_pod_members_pod(h):
    h.hutch("pod", "create", "--name", "web", "--net", "none")
    try:
        h.run_d("--pod", "web", "--name", "app", "--", "sleep", "300")
        rows = {l.split()[-1]: l for l in h.hutch("ps").out.splitlines()[1:]}
        assert "pod:web" in rows["app"].split(), rows["app"]
        assert "container:" not in rows["app"]
    finally:
        h.hutch("pod", "rm", "-f", "web")


def test_hosts_file_on_a_user_network_is_not_padded(h):
    h.hutch("network", "create", "un")
    h.run_d("--name", "a", "--net", "un", "--", "sleep", "300")
    pid = h.inspect("a")["State"]["Pid"]
    path = os.path.join(h.root, "containers", h.inspect("a")["Id"], "hosts")
    ino = os.stat(path).st_ino
    h.run_d("--name", "b-with-a-long-name", "--net", "un", "--network-alias", "bee", "--", "sleep", "300")
    text = h.hutch("exec", "a", "cat", "/etc/hosts").out
    assert "bee" in text and not text.endswith(" \n") and "   " not in text, repr(text)
    assert os.stat(path).st_size == len(text.encode())
    h.hutch("rm", "-f", "b-with-a-long-name")
    text = h.hutch("exec", "a", "cat", "/etc/hosts").out
    assert "bee" not in text and " \n" not in text and "#" not in text, repr(text)
    # Still the file the container has mounted (rewritten in place).
    assert os.stat(path).st_ino == ino
    assert h.inspect("a")["State"]["Pid"] == pid
    h.hutch("rm", "-f", "a")
    h.hutch("network", "rm", "un")


# ---------------------------------------------------------------------------------------------
# §3: --env-file, --add-host, --dns


def test_env_file(h):
    f = os.path.join(h.tmp, "app.env")
    with open(f, "w") as fh:
        fh.write("\ufeff# settings\n\nA=1\n  B=two words  \nQUOTED=\"kept\"\nFROM_CALLER\nNOT_SET_ANYWHERE\n"
                 "EMPTY=\nOVER=file\n# C=commented\n")
    r = h.hutch("run", "--rm", "--net", "none", "--env-file", f, "-e", "OVER=flag", "--", "env",
                env={"FROM_CALLER": "passed"})
    env = dict(l.split("=", 1) for l in r.out.splitlines() if "=" in l)
    assert env["A"] == "1" and env["B"] == "two words  " and env["QUOTED"] == '"kept"'
    assert env["FROM_CALLER"] == "passed" and env["EMPTY"] == "" and env["OVER"] == "flag"
    assert "NOT_SET_ANYWHERE" not in env and "C" not in env and "# settings" not in r.out


def test_add_host_and_dns(h):
    h.hutch("network", "create", "--subnet", "10.93.0.0/24", "ah")
    cid = h.run_d("--name", "c", "--net", "ah", "--add-host", "db.local:10.1.2.3", "--add-host", "api:10.1.2.4",
                  "--add-host", "gw.local:host-gateway", "--dns", "192.0.2.53", "--dns", "192.0.2.54",
                  "--", "sleep", "300")
    assert h.hutch("exec", "c", "getent", "hosts", "db.local").out.split() == ["10.1.2.3", "db.local"]
    assert h.hutch("exec", "c", "getent", "hosts", "api").out.split()[0] == "10.1.2.4"
    assert h.hutch("exec", "c", "getent", "hosts", "gw.local").out.split()[0] == "10.93.0.1"
    conf = h.hutch("exec", "c", "cat", "/etc/resolv.conf").out
    assert [l.split()[1] for l in conf.splitlines() if l.startswith("nameserver")] == ["192.0.2.53", "192.0.2.54"], conf
    hc = h.inspect(cid)["HostConfig"]
    assert hc["ExtraHosts"] == ["db.local:10.1.2.3", "api:10.1.2.4", "gw.local:host-gateway"]
    assert hc["Dns"] == ["192.0.2.53", "192.0.2.54"]
    # The extra lines survive a rewrite of the names (another container joins).
    h.run_d("--name", "d", "--net", "ah", "--", "sleep", "300")
    wait_until(lambda: "\td" in h.hutch("exec", "c", "cat", "/etc/hosts").out, desc="d in c's hosts file")
    assert h.hutch("exec", "c", "getent", "hosts", "db.local").out.split()[0] == "10.1.2.3"
    # On the default bridge too; host-gateway is its gateway.
    r = h.hutch("run", "--rm", "--add-host", "h:host-gateway", "--", "getent", "hosts", "h")
    assert r.out.split()[0] == GATEWAY
    h.hutch("rm", "-f", "c", "d")
    h.hutch("network", "rm", "ah")


# ---------------------------------------------------------------------------------------------
# §3: rename


def test_rename(h):
    h.hutch("network", "create", "rn")
    cid = h.run_d("--name", "old", "--net", "rn", "--", "sleep", "300")
    h.run_d("--name", "peer", "--net", "rn", "--", "sleep", "300")
    h.hutch("rename", "old", "new")
    assert h.inspect("new")["Id"] == cid and h.inspect("new")["Name"].lstrip("/") == "new"
    assert h.hutch("exec", "new", "echo", "ok").out == "ok\n"
    one_line_error(h.hutch("exec", "old", "true", check=False))
    # The names on the network follow: peer resolves the new name, no longer the old one.
    ip = h.inspect("new")["NetworkSettings"]["IPAddress"]
    assert h.hutch("exec", "peer", "getent", "hosts", "new").out.split()[0] == ip
    assert h.hutch("exec", "peer", "getent", "hosts", "old", check=False).rc != 0
    assert "new" in h.hutch("exec", "new", "cat", "/etc/hosts").out.split()
    # The old name is free again; a taken one is refused.
    h.run_d("--name", "old", "--net", "none", "--", "sleep", "300")
    err = one_line_error(h.hutch("rename", "new", "peer", check=False))
    assert "peer" in err and "already in use" in err
    # A stopped container too.
    h.hutch("stop", "-t", "0", "peer")
    h.hutch("rename", "peer", "peer2")
    assert h.inspect("peer2")["State"]["Status"] == "exited"
    h.hutch("rm", "-f", "new", "old", "peer2")
    h.hutch("network", "rm", "rn")


# ---------------------------------------------------------------------------------------------
# §3: network connect / disconnect


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_connect_and_disconnect(h, backend):
    fw = Fw(h, backend)
    fw.hutch("network", "create", "--subnet", "10.94.0.0/24", "front")
    fw.hutch("network", "create", "--subnet", "10.95.0.0/24", "back")
    fw.run_d("--name", "app", "--net", "front", "--", "sleep", "300")
    fw.run_d("--name", "db", "--net", "back", "--", PY, "-m", "http.server", "8000")
    db_ip = fw.ip_of("db")
    wait_until(lambda: h.run(["curl", "-s", "-o", "/dev/null", "--max-time", "1", f"http://{db_ip}:8000/"],
                             check=False).rc == 0, desc="db's server")
    # Isolated networks: no way from front to back.
    assert tcp_probe(h, "app", db_ip, 8000).rc != 0

    fw.hutch("network", "connect", "--alias", "application", "back", "app")
    addrs = h.hutch("exec", "app", "ip", "-o", "-4", "addr", "show", "eth1").out
    app_back = fw.inspect("app")["NetworkSettings"]["Networks"]["back"]["IPAddress"]
    assert app_back.startswith("10.95.0.") and f"inet {app_back}/24" in addrs, addrs
    # The default route stays on eth0; back's subnet goes through eth1.
    routes = h.hutch("exec", "app", "ip", "route").out
    assert "default via 10.94.0.1 dev eth0" in routes and "10.95.0.0/24 dev eth1" in routes, routes
    # A real TCP connection over the new interface, by name and by address.
    r = tcp_probe(h, "app", "db", 8000)
    assert r.rc == 0 and r.out.startswith("HTTP/1.0 200"), r
    assert tcp_probe(h, "app", db_ip, 8000).rc == 0
    # db knows app by its name and alias, at its address on back.
    for n in ("app", "application"):
        assert h.hutch("exec", "db", "getent", "hosts", n).out.split()[0] == app_back
    # Idempotent; a different address is refused; network rm refuses while app is connected.
    fw.hutch("network", "connect", "back", "app")
    one_line_error(fw.hutch("network", "connect", "--ip", "10.95.0.200", "back", "app", check=False))
    err = one_line_error(fw.hutch("network", "rm", "back", check=False))
    assert "app" in err
    assert sorted(r[2] for r in db_rows(h, "leases", network="back")) == sorted(
        [fw.inspect("db")["Id"], fw.inspect("app")["Id"]])

    fw.hutch("network", "disconnect", "back", "app")
    assert "eth1" not in h.hutch("exec", "app", "ip", "-o", "link").out
    assert tcp_probe(h, "app", db_ip, 8000).rc != 0
    assert h.hutch("exec", "db", "getent", "hosts", "app", check=False).rc != 0
    assert [r[2] for r in db_rows(h, "leases", network="back")] == [fw.inspect("db")["Id"]]
    assert "back" not in fw.inspect("app")["NetworkSettings"]["Networks"]
    fw.hutch("network", "disconnect", "back", "app")  # idempotent
    # Its own network cannot be disconnected.
    one_line_error(fw.hutch("network", "disconnect", "front", "app", check=False))

    # Connected again, then the container goes: the interface and the lease go with it.
    fw.hutch("network", "connect", "back", "app")
    fw.hutch("rm", "-f", "app")
    assert [r[2] for r in db_rows(h, "leases", network="back")] == [fw.inspect("db")["Id"]]
    assert db_rows(h, "attachments") == []
    fw.hutch("rm", "-f", "db")
    h.wait_no_veths()
    fw.hutch("network", "rm", "front", "back")


def test_network_connect_failures_change_nothing(h):
    h.hutch("network", "create", "--subnet", "10.96.0.0/24", "n")
    h.run_d("--name", "holder", "--net", "n", "--ip", "10.96.0.9", "--", "sleep", "300")
    h.run_d("--name", "c", "--", "sleep", "300")
    h.run_d("--name", "hostmode", "--net", "host", "--", "sleep", "300")
    h.hutch("run", "--name", "stopped", "--", "true")
    links = sorted(h.links())
    leases = db_rows(h, "leases")
    for args, mention in [
        (["--ip", "10.96.0.9", "n", "c"], "10.96.0.9"),     # taken address: undone after the reservation
        (["--ip", "10.97.0.9", "n", "c"], "10.97.0.9"),     # not in the subnet
        (["n", "hostmode"], "host"),
        (["n", "stopped"], "not running"),
        (["n", "missing"], "missing"),
        (["nonet", "c"], "nonet"),
        (["--alias", "bad_alias", "n", "c"], "bad_alias"),
    ]:
        err = one_line_error(h.hutch("network", "connect", *args, check=False))
        assert mention in err, (args, err)
    assert sorted(h.links()) == links and db_rows(h, "leases") == leases
    assert "eth1" not in h.hutch("exec", "c", "ip", "-o", "link").out
    assert db_rows(h, "attachments") == []
    h.hutch("rm", "-f", "holder", "c", "hostmode", "stopped")
    h.hutch("network", "rm", "n")
