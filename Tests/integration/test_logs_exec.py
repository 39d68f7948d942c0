"""logs, logs -f, exec."""
import os

from harness import ns_inode, parts, pids_with_ns, wait_until


def test_logs_stdout_and_stderr(h):
    h.run_d("--name", "l", "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2")
    h.hutch("wait", "l")
    r = h.hutch("logs", "l")
    both = r.out + r.err
    for word in ("out1", "err1", "out2"):
        assert word in both, r
    assert r.out.index("out1") < r.out.index("out2")


def test_logs_of_running_container(h):
    h.run_d("--name", "l", "--", "sh", "-c", "echo started; exec sleep 300")
    wait_until(lambda: "started" in h.hutch("logs", "l").out, desc="the log line")


def test_logs_follow(h):
    go = os.path.join(h.tmp, "go")
    h.run_d("--name", "f", *h.share(), "--", "sh", "-c",
            f"echo one; while [ ! -e {go} ]; do sleep 0.1; done; echo two; echo three")
    p = h.hutch_bg("logs", "-f", "f")  # stdout and stderr together in p.output()
    wait_until(lambda: "one\n" in p.output().splitlines(True), desc="`logs -f` to print the first line")
    assert p.poll() is None, "logs -f exited while the container still runs"
    open(go, "w").close()
    # logs -f ends by itself when the container exits, after printing everything
    p.wait(timeout=10)
    assert p.output().splitlines(True) == ["one\n", "two\n", "three\n"], p.output()
    assert p.returncode == 0, p.output()


def test_logs_follow_of_exited_container_returns(h):
    h.run_d("--name", "x", "--", "sh", "-c", "echo bye")
    h.hutch("wait", "x")
    assert h.hutch("logs", "-f", "x", timeout=10).out == "bye\n"


def test_logs_foreground_run_goes_to_terminal(h):
    r = h.hutch("run", "--rm", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2")
    assert r.out == "to-stdout\n" and "to-stderr" in r.err, r


def test_exec_basic(h):
    cid = h.run_d("--name", "e", "--hostname", "ebox", "--", "sleep", "300")
    assert h.hutch("exec", "e", "hostname").out.strip() == "ebox"
    assert h.hutch("exec", cid[:8], "echo", "hi there").out == "hi there\n"
    ip = h.ip_of("e")
    assert f"inet {ip}/" in h.hutch("exec", "e", "ip", "-o", "-4", "addr", "show", "dev", "eth0").out


def test_exec_env_and_workdir(h):
    h.run_d("--name", "e", "-e", "BASE=1", "--", "sleep", "300")
    r = h.hutch("exec", "-e", "FOO=bar", "-w", "/tmp", "e", "sh", "-c", 'echo "$FOO $BASE $(pwd)"')
    foo, base, cwd = parts(r, 3)
    assert (foo, cwd) == ("bar", "/tmp")
    assert base == "1", "exec inherits the container's environment (Docker)"


def test_exec_joins_pid_namespace(h):
    h.run_d("--name", "e", "--", "sleep", "300")
    r = h.hutch("exec", "e", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
    first, me = r.out.splitlines()
    assert "sleep" in first or "init" in first or "shim" in first, first
    assert int(me) < 50, "exec'd process must live in the container's pid namespace"


def test_exec_sees_container_mounts(h):
    h.run_d("--name", "e", "--hostname", "mnt1", "--", "sleep", "300")
    assert h.hutch("exec", "e", "cat", "/etc/hostname").out.strip() == "mnt1"
    assert any(l.split()[1] == "mnt1" for l in h.hutch("exec", "e", "cat", "/etc/hosts").out.splitlines()
               if len(l.split()) > 1)


def test_exec_leaves_no_process(h):
    h.run_d("--name", "e", "--", "sleep", "300")
    pid = h.inspect("e")["State"]["Pid"]
    before = set(h.processes())
    h.hutch("exec", "e", "true")
    h.hutch("exec", "e", "sh", "-c", "exit 3", check=False)
    assert set(h.processes()) == before
    # no extra process left in the container's pid namespace either
    wait_until(lambda: len(pids_with_ns("pid", [ns_inode(pid, "pid")])) <= 2,
               desc="exec'd processes to be gone from the container")
