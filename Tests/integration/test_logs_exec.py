"""logs, logs -f, exec."""
import os
import re

from harness import ns_inode, parts, pids_with_ns, wait_until


def test_logs_stdout_and_stderr(h):
    h.run_d("--name", "l", "--", "sh", "-c", "echo out1; echo err1 >&2; echo out2; printf no-newline >&2")
    h.hutch("wait", "l")
    r = h.hutch("logs", "l")
    # each stream to its own (Docker): the container's stdout on stdout, its stderr on stderr
    assert r.out == "out1\nout2\n", r
    assert r.err == "err1\nno-newline", r


def test_logs_of_a_tty_container_are_one_stream(h):
    h.run_d("-t", "--name", "t", "--", "sh", "-c", "echo out; echo err >&2")
    h.hutch("wait", "t")
    r = h.hutch("logs", "t")
    assert r.out == "out\r\nerr\r\n" and r.err == "", r


def test_logs_tail(h):
    h.run_d("--name", "s", "--", "sh", "-c", "seq 1 10; echo e >&2")
    h.hutch("wait", "s")
    r = h.hutch("logs", "--tail", "3", "s")
    assert (r.out, r.err) == ("9\n10\n", "e\n"), r
    assert h.hutch("logs", "-n", "1", "s").out == ""
    assert h.hutch("logs", "--tail", "0", "s").out == ""
    assert h.hutch("logs", "--tail", "all", "s").out == "".join(f"{i}\n" for i in range(1, 11))


TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def stepped(h, name, lines):
    """A container that writes `lines` one at a time, each once the test has seen the one before
    in its log (so each has its own time stamp)."""
    script = "; ".join(f"echo {w}; while [ ! -e {h.tmp}/{name}{i} ]; do sleep 0.05; done" for i, w in enumerate(lines))
    h.run_d("--name", name, *h.share(), "--", "sh", "-c", script)
    for i, w in enumerate(lines):
        wait_until(lambda: h.hutch("logs", name).out.endswith(f"{w}\n"), desc=f"line {w}")
        open(f"{h.tmp}/{name}{i}", "w").close()
    h.hutch("wait", name)


def test_logs_timestamps_since_until(h):
    stepped(h, "ts", ["one", "two", "three"])
    r = h.hutch("logs", "-t", "ts")
    stamps = []
    for line, word in zip(r.out.splitlines(), ["one", "two", "three"]):
        m = re.fullmatch(f"({TS}) {word}", line)
        assert m, r.out
        stamps.append(m.group(1))
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert h.hutch("logs", "--since", stamps[1], "ts").out == "two\nthree\n"
    assert h.hutch("logs", "--until", stamps[1], "ts").out == "one\ntwo\n"
    assert h.hutch("logs", "--since", stamps[1], "--until", stamps[1], "ts").out == "two\n"
    # durations before now and Unix seconds
    assert h.hutch("logs", "--since", "10m", "ts").out == "one\ntwo\nthree\n"
    assert h.hutch("logs", "--until", "10m", "ts").out == ""
    assert h.hutch("logs", "--since", "4102444800", "ts").out == ""  # 2100-01-01
    assert h.hutch("logs", "--since", "1000000000.5", "--tail", "1", "ts").out == "three\n"
    # -t on stderr too
    h.run_d("--name", "e", "--", "sh", "-c", "echo bad >&2")
    h.hutch("wait", "e")
    r = h.hutch("logs", "--timestamps", "e")
    assert r.out == "" and re.fullmatch(f"{TS} bad\n", r.err), r


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
