"""hutch-shim on its own, against docs/shim-protocol.md (root required).

Self-contained: every shim runs inside a throwaway network namespace made by this module
(`ip netns add`, entered with `nsenter --net=`), the protocol pipes are placed at fds 3/4/5 the
way the CLI places them, and every test checks that it left no process or mount behind.

The binary: $HUTCH_SHIM, else .build/debug/hutch-shim in the repository.
"""
import fcntl
import os
import re
import select
import signal
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIM = os.path.abspath(os.environ.get("HUTCH_SHIM") or os.path.join(REPO, ".build", "debug", "hutch-shim"))
NETNS = f"hutch-shim-t-{os.getpid()}"
NETNS_PATH = f"/run/netns/{NETNS}"
DOCKER_CAPS = "a80425fb"
TIMEOUT = 10

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.access(SHIM, os.X_OK), reason=f"no shim binary at {SHIM} (build it or set HUTCH_SHIM)"),
]


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def netns():
    """The throwaway network namespace every shim of this module runs in."""
    # Namespaces of earlier runs that were killed before their teardown (their pytest is gone).
    for name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        if name.startswith("hutch-shim-t-") and not os.path.exists(f"/proc/{name.rsplit('-', 1)[1]}"):
            subprocess.run(["ip", "netns", "del", name])
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "set", "lo", "up"], check=True)
    yield NETNS_PATH
    subprocess.run(["ip", "netns", "del", NETNS], check=True)


def shim_pids():
    """Live shim processes in this module's netns (zombies have no exe link and do not count;
    shims of other test sessions running at the same time live in other namespaces)."""
    want = f"net:[{os.stat(NETNS_PATH).st_ino}]"
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink(f"/proc/{p}/exe") == SHIM and os.readlink(f"/proc/{p}/ns/net") == want:
                    out.add(int(p))
            except OSError:
                pass
    return out


def mounts():
    """The host's mount points, except network namespace files (other sessions add those)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f if not line.split()[4].startswith("/run/netns"))


@pytest.fixture(autouse=True)
def no_leaks():
    """Every test must leave no shim process and no mount behind. Whatever a failed test left
    running is killed (a container dies with its shim), then reported."""
    shims, mnt = shim_pids(), mounts()
    yield
    deadline = time.time() + 3
    while shim_pids() - shims and time.time() < deadline:
        time.sleep(0.05)
    for s in Shim.started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
    Shim.started.clear()
    leaked = shim_pids() - shims
    for pid in leaked:
        os.kill(pid, signal.SIGKILL)
    assert leaked == set(), "leaked shim processes"
    assert mounts() == mnt, "leaked mounts"


# --- driving the shim like the CLI does ---------------------------------------------------------

def _high(fd):
    """Moves fd to >= 100, close-on-exec, so the dup2s onto 3/4/5 never collide with it."""
    n = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return n


def _read_all(fd, timeout=TIMEOUT):
    """Reads fd to EOF, failing the test instead of hanging."""
    chunks = []
    deadline = time.time() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        assert ready, f"no EOF on fd {fd} within {timeout}s"
        b = os.read(fd, 4096)
        if not b:
            return b"".join(chunks).decode()
        chunks.append(b)


class Shim:
    """One `hutch-shim run` with its status (3), go (4) and error (5) pipes, as the CLI wires them.

    `leak_fd`: an extra inheritable fd placed at 9, to prove the command only gets 0/1/2.
    `wrap`: a shell snippet that runs the shim as `"$@"` (to give it a different parent)."""

    started = []

    def __init__(self, *args, leak_fd=False, wrap=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE):
        st_r, st_w = map(_high, os.pipe())
        go_r, go_w = map(_high, os.pipe())
        er_r, er_w = map(_high, os.pipe())
        extra = _high(os.open("/dev/null", os.O_RDONLY)) if leak_fd else None

        def place():
            os.dup2(st_w, 3)
            os.dup2(go_r, 4)
            os.dup2(er_w, 5)
            if extra is not None:
                os.dup2(extra, 9)

        cmd = [SHIM, "run", *args]
        if wrap:
            cmd = ["sh", "-c", wrap, "sh", *cmd]
        self.proc = subprocess.Popen(["nsenter", f"--net={NETNS_PATH}", "--", *cmd], preexec_fn=place,
                                     close_fds=False, stdout=stdout, stderr=stderr, stdin=stdin)
        for fd in (st_w, go_r, er_w) + ((extra,) if extra is not None else ()):
            os.close(fd)
        self.status_r, self.go_w, self.err_r = st_r, go_w, er_r
        self.pid = None
        Shim.started.append(self)

    def read_status(self):
        """Reads the status pipe (fd 3) to EOF and closes it: the pid, or the shim's error line."""
        line = _read_all(self.status_r)
        os.close(self.status_r)
        return line

    def read_pid(self):
        self.pid = int(self.read_status())
        return self.pid

    def go(self):
        """Reads the pid, lets the child go on, returns what the child reported on fd 5 ('' = exec ok)."""
        if self.pid is None:
            self.read_pid()
        os.write(self.go_w, b"G")
        os.close(self.go_w)
        self.go_w = None
        report = _read_all(self.err_r)
        os.close(self.err_r)
        self.err_r = None
        return report

    def abort(self):
        os.close(self.go_w)
        self.go_w = None

    def wait(self):
        out, err = self.proc.communicate(timeout=TIMEOUT)
        for fd in (self.go_w, self.err_r):
            if fd is not None:
                os.close(fd)
        self.go_w = self.err_r = None
        return self.proc.returncode, (out or b"").decode(), (err or b"").decode()

    def kill(self, sig):
        self.proc.send_signal(sig)


def run(*args, **kw):
    """Runs a container to completion: (exit status, fd-5 report, stdout, stderr)."""
    s = Shim(*args, **kw)
    report = s.go()
    code, out, err = s.wait()
    return code, report, out, err


def sh(script, *opts, **kw):
    return run(*opts, "--", "sh", "-c", script, **kw)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=TIMEOUT):
    deadline = time.time() + timeout
    while alive(pid):
        assert time.time() < deadline, f"process {pid} still alive"
        time.sleep(0.02)


# --- namespaces ---------------------------------------------------------------------------------

def test_command_is_pid_1():
    code, report, out, _ = sh("echo $$")
    assert (code, report, out) == (0, "", "1\n")


def test_init_makes_the_command_pid_2():
    code, report, out, _ = sh("echo $$; tr '\\0' '\\n' < /proc/1/cmdline", "--init", "--env", "SECRET=x")
    assert (code, report) == (0, "")
    # The init hides the run options (env values, host paths) from the container's ps.
    assert out.splitlines() == ["2", "hutch-shim init"]


def test_proc_shows_the_container_pid_namespace():
    code, _, out, _ = run("--", "ls", "/proc")
    assert code == 0 and [x for x in out.split() if x.isdigit()] == ["1"]  # only ls itself
    code, _, out, _ = run("--no-proc", "--", "ls", "/proc")
    assert code == 0 and len([x for x in out.split() if x.isdigit()]) > 1  # the host's /proc


def test_container_has_its_own_session():
    # Keyboard signals reach the container only once, through the shim's forwarding.
    code, _, out, _ = run("--", "cat", "/proc/self/stat")
    assert code == 0 and out.split(")")[1].split()[3] == "1"  # session id = its own pid 1


def test_hostname():
    code, report, out, _ = run("--hostname", "box", "--", "hostname")
    assert (code, report, out) == (0, "", "box\n")
    assert os.uname().nodename != "box"


def test_new_netns_has_only_lo():
    code, _, out, _ = run("--", "ip", "-o", "link")
    assert code == 0
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    code, _, out, _ = run("--", "readlink", "/proc/self/ns/net")
    assert code == 0 and out.startswith("net:["), out
    assert out.strip() != f"net:[{os.stat(NETNS_PATH).st_ino}]"


def test_netns_host_stays_in_the_shims_netns():
    code, _, out, _ = run("--netns", "host", "--", "readlink", "/proc/self/ns/net")
    assert code == 0
    assert out.strip() == f"net:[{os.stat(NETNS_PATH).st_ino}]"


def test_join_another_process_netns():
    # A process in yet another netns, with a veth pair to recognise it by.
    holder = subprocess.Popen(["nsenter", f"--net={NETNS_PATH}", "--", "unshare", "--net", "--", "sh", "-c",
                               "ip link add hutchv0 type veth peer name hutchv1 && echo ready && exec sleep 60"],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ready\n"
        ns = f"/proc/{holder.pid}/ns/net"
        code, report, out, _ = sh("ip -o link | cut -d: -f2; readlink /proc/self/ns/net", "--netns", ns)
        assert (code, report) == (0, "")
        lines = [x.strip() for x in out.splitlines()]
        assert "hutchv0@hutchv1" in lines
        assert lines[-1] == os.readlink(ns)
    finally:
        holder.kill()
        holder.wait()


def test_join_bad_netns_path_fails_before_clone():
    s = Shim("--netns", "/nonexistent/ns", "--", "true")
    line = s.read_status()
    code, _, err = s.wait()
    assert code == 125
    assert line.startswith("hutch-shim: cannot open the network namespace /nonexistent/ns")
    assert err.startswith("hutch-shim: ")


def test_unopenable_log_fails_before_clone(tmp_path):
    s = Shim("--log", f"{tmp_path}/missing/log", "--", "true")
    line = s.read_status()
    assert s.wait()[0] == 125
    assert line == f"hutch-shim: cannot open the log {tmp_path}/missing/log: No such file or directory\n"


def test_setns_into_a_non_netns_file_reports_the_step():
    code, report, _, _ = run("--netns", "/proc/self/ns/uts", "--", "true")
    assert code == 125
    assert report.startswith("setns-net\t22\t/proc/self/ns/uts")


# --- mounts -------------------------------------------------------------------------------------

def test_bind_mount_visible_inside_only(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_text("from the bind\n")
    dst.write_text("original\n")
    code, report, out, _ = run("--bind", f"{src}:{dst}", "--", "cat", str(dst))
    assert (code, report, out) == (0, "", "from the bind\n")
    assert dst.read_text() == "original\n"
    assert str(dst) not in open("/proc/self/mountinfo").read()


def test_bind_missing_target_reports_the_step(tmp_path):
    src = tmp_path / "src"
    src.write_text("x")
    code, report, _, _ = run("--bind", f"{src}:{tmp_path}/missing", "--", "true")
    assert code == 125
    assert report.startswith(f"bind\t2\t{src}:{tmp_path}/missing: No such file or directory")


def test_mounts_do_not_propagate_to_the_host(tmp_path):
    # A shared mount on the host: without MS_PRIVATE, a mount made under it inside the container
    # would show up on the host too.
    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "hutch-shim-test", str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        (shared / "m").mkdir()
        code, report, out, _ = sh(f"mount -t tmpfs inner {shared}/m && touch {shared}/m/x && ls {shared}/m")
        assert (code, report, out) == (0, "", "x\n")
        assert not (shared / "m" / "x").exists()
        assert f"{shared}/m " not in open("/proc/self/mountinfo").read()
        # and the container saw its / as private
        code, _, out, _ = sh("grep ' / / ' /proc/self/mountinfo")
        assert "shared:" not in out
    finally:
        subprocess.run(["umount", "-l", str(shared)], check=True)


# --- exit codes and errors ----------------------------------------------------------------------

def test_exit_zero_and_three():
    assert run("--", "true")[:2] == (0, "")
    assert sh("exit 3")[:2] == (3, "")


def test_missing_command_is_127():
    code, report, _, _ = run("--", "hutch-no-such-command")
    assert code == 127
    assert report == "exec\t2\thutch-no-such-command\n"


def test_env_is_complete_and_its_path_is_used():
    code, report, out, _ = run("--env", "FOO=bar", "--env", "PATH=/usr/bin:/bin", "--", "env")
    assert (code, report) == (0, "")
    assert sorted(out.splitlines()) == ["FOO=bar", "PATH=/usr/bin:/bin"]
    code, report, _, _ = run("--env", "PATH=/nonexistent", "--", "true")
    assert (code, report) == (127, "exec\t2\ttrue\n")


def test_non_executable_file_is_126(tmp_path):
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\necho hi\n")
    f.chmod(0o644)
    code, report, _, _ = run("--", str(f))
    assert code == 126
    assert report == f"exec\t13\t{f}\n"


def test_sigkill_is_137():
    s = Shim("--", "sleep", "60")
    pid = s.read_pid()
    assert s.go() == ""
    os.kill(pid, signal.SIGKILL)
    assert s.wait()[0] == 137


def test_workdir():
    assert run("--workdir", "/tmp", "--", "pwd")[2] == "/tmp\n"
    assert run("--", "pwd")[2] == "/\n"
    code, report, _, _ = run("--workdir", "/nonexistent", "--", "pwd")
    assert code == 125
    assert report == "chdir\t2\t/nonexistent: No such file or directory\n"


@pytest.mark.parametrize("args,needle", [
    ([], "missing command"),
    (["--bogus", "--", "true"], "unknown option --bogus"),
    (["--caps", "xyz", "--", "true"], "invalid --caps"),
    (["--pause", "--", "true"], "--pause takes no command"),
    (["--init", "--pause"], "exclude each other"),
    (["--uts", "host", "--hostname", "x", "--", "true"], "--hostname needs a new UTS namespace"),
    (["--bind", "nocolon", "--", "true"], "invalid --bind"),
    (["--netns", "relative", "--", "true"], "invalid --netns"),
])
def test_argument_errors_are_125(args, needle):
    p = subprocess.run([SHIM, "run", *args], capture_output=True, text=True, timeout=TIMEOUT)
    assert p.returncode == 125
    assert p.stderr.startswith("hutch-shim: ") and needle in p.stderr and p.stderr.count("\n") == 1


def test_argument_errors_also_go_to_the_status_pipe():
    # A detached shim's stderr is /dev/null: the CLI shows what it reads on fd 3 instead of a pid.
    s = Shim("--bind", "nocolon", "--", "true")
    line = s.read_status()
    code, _, err = s.wait()
    assert code == 125
    assert line == err == 'hutch-shim: invalid --bind "nocolon": use SRC:DST\n'


# --- init, signals, reaping ---------------------------------------------------------------------

def test_sigterm_is_forwarded_through_the_init():
    s = Shim("--init", "--", "sleep", "60")
    pid = s.read_pid()
    assert s.go() == ""
    time.sleep(0.1)
    start = time.time()
    s.kill(signal.SIGTERM)
    code, _, _ = s.wait()
    assert code == 128 + signal.SIGTERM
    assert time.time() - start < 2
    wait_gone(pid)


def test_signals_reach_a_command_that_handles_them():
    # Without --init the command is PID 1: it gets forwarded signals it has a handler for.
    s = Shim("--", "sh", "-c", "trap 'echo usr1; exit 4' USR1; echo ready; while :; do sleep 0.05; done")
    s.go()
    assert s.proc.stdout.readline() == b"ready\n"
    s.kill(signal.SIGUSR1)
    code, out, _ = s.wait()
    assert (code, out) == (4, "usr1\n")


def test_init_reaps_orphaned_zombies():
    # The inner shell leaves an orphan that exits after 0.2 s; it is re-parented to PID 1.
    script = ("sh -c 'sleep 0.2 & exit 0'; sleep 1; "
              "awk '{print $3}' /proc/[0-9]*/stat | grep -c Z || true")
    code, report, out, _ = sh(script, "--init")
    assert (code, report, out) == (0, "", "0\n")


def test_init_exits_with_the_commands_status_while_others_run():
    code, _, _, _ = sh("sleep 60 & exit 9", "--init")
    assert code == 9


def test_pause_exits_0_on_sigterm():
    s = Shim("--pause")
    pid = s.read_pid()
    assert s.go() == ""  # pause closed fd 5: setup succeeded
    assert alive(pid)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read() == b"hutch-shim pause\0"
    s.kill(signal.SIGTERM)
    assert s.wait()[0] == 0
    wait_gone(pid)


# --- stdio, exit file, exit command, the go pipe ------------------------------------------------

LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)")


def log_entries(log):
    """The log's entries as (stream, tag, text); every line must be framed (CRI's format)."""
    out = []
    for line in log.read_text().splitlines():
        m = LOG_LINE.fullmatch(line)
        assert m, f"not a framed log line: {line!r}"
        out.append(m.group(2, 3, 4))
    return out


def test_log_captures_stdout_and_stderr(tmp_path):
    log = tmp_path / "log"
    code, report, out, err = sh("echo out; echo err >&2; cat", "--log", str(log))
    assert (code, report, out, err) == (0, "", "", "")
    assert sorted(log_entries(log)) == [("stderr", "F", "err"), ("stdout", "F", "out")]
    assert oct(log.stat().st_mode & 0o777) == oct(0o640)
    sh("echo again", "--log", str(log))
    assert log_entries(log)[-1] == ("stdout", "F", "again")
    # a line without its newline is a P(artial) entry; a line is never split by the other stream
    sh("printf 'a b'; printf ' c\\nd'; echo x >&2", "--log", str(log))
    tail = log_entries(log)[3:]
    assert [e for e in tail if e[0] == "stdout"][-1] == ("stdout", "P", "d"), tail
    assert "".join(e[2] + ("\n" if e[1] == "F" else "") for e in tail if e[0] == "stdout") == "a b c\nd"
    assert [e for e in tail if e[0] == "stderr"] == [("stderr", "F", "x")]


def test_exit_file(tmp_path):
    ef = tmp_path / "exit"
    assert sh("exit 7", "--exit-file", str(ef))[0] == 7
    assert ef.read_text() == "7\n"
    assert not (tmp_path / "exit.tmp").exists()


def test_exit_cmd_runs_when_detached(tmp_path):
    ef, marker = tmp_path / "exit", tmp_path / "marker"
    code, _, _, _ = sh("exit 5", "--detach", "--exit-file", str(ef),
                       "--exit-cmd", "sh", "--exit-cmd", "-c", "--exit-cmd", f"cat {ef} > {marker}")
    assert code == 5
    assert marker.read_text() == "5\n"


def test_detach_makes_a_new_session():
    code, _, out, _ = run("--detach", "--netns", "host", "--", "true")
    assert code == 0
    s = Shim("--detach", "--", "sleep", "60")
    s.read_pid()
    assert s.go() == ""
    assert os.getsid(s.proc.pid) == s.proc.pid
    s.kill(signal.SIGKILL)  # the container dies with its monitor (PDEATHSIG)
    s.wait()
    wait_gone(s.pid)


def test_exit_cmd_not_run_in_the_foreground(tmp_path):
    marker = tmp_path / "marker"
    assert sh("exit 0", "--exit-cmd", "touch", "--exit-cmd", str(marker))[0] == 0
    assert not marker.exists()


def test_exit_cmd_runs_when_the_parent_changed(tmp_path):
    # The shim's parent (a shell standing in for the CLI) exits once the shim has started: the CLI
    # "died" while the container ran in the foreground.
    marker = tmp_path / "marker"
    s = Shim("--exit-cmd", "touch", "--exit-cmd", str(marker), "--", "sleep", "0.3",
             wrap='"$@" & exec 3>&- 4<&- 5>&-; read _', stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
             stderr=subprocess.DEVNULL)
    s.read_pid()
    s.proc.stdin.close()
    s.proc.stdin = None
    s.proc.wait(timeout=TIMEOUT)  # the wrapper shell is gone now
    assert s.go() == ""
    deadline = time.time() + TIMEOUT
    while not marker.exists():
        assert time.time() < deadline, "exit command did not run"
        time.sleep(0.05)
    s.wait()


def test_go_pipe_eof_aborts(tmp_path):
    ef, marker = tmp_path / "exit", tmp_path / "marker"
    s = Shim("--exit-file", str(ef), "--detach", "--exit-cmd", "touch", "--exit-cmd", str(marker),
             "--", "sh", "-c", f"touch {tmp_path}/ran")
    pid = s.read_pid()
    assert alive(pid)
    s.abort()
    report = _read_all(s.err_r)
    code, _, _ = s.wait()
    assert (code, report) == (125, "")
    wait_gone(pid)
    assert not ef.exists() and not marker.exists() and not (tmp_path / "ran").exists()


def test_status_pipe_reports_the_host_pid():
    s = Shim("--", "sleep", "60")
    pid = s.read_pid()
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    assert f"PPid:\t{s.proc.pid}\n" in status
    assert "NSpid:\t%d\t1\n" % pid in status
    s.go()
    os.kill(pid, signal.SIGKILL)
    s.wait()


# --- what the command gets ----------------------------------------------------------------------

def test_only_fds_0_1_2_reach_the_command():
    code, report, out, _ = run("--", "ls", "-l", "/proc/self/fd", leak_fd=True)
    assert (code, report) == (0, "")
    fds = {line.split()[-3]: line.split()[-1] for line in out.splitlines() if "->" in line}
    # ls's own directory fd is the only other one.
    others = {fd for fd, target in fds.items() if fd not in ("0", "1", "2") and not target.endswith("/fd")}
    assert others == set()
    assert {"0", "1", "2"} <= set(fds)


def test_only_fds_0_1_2_under_init():
    code, report, out, _ = sh("ls /proc/1/fd /proc/$$/fd", "--init", leak_fd=True)
    assert (code, report) == (0, "")
    assert out.split() == ["/proc/1/fd:", "0", "1", "2", "/proc/2/fd:", "0", "1", "2"]


def test_capabilities():
    code, report, out, _ = run("--caps", DOCKER_CAPS, "--", "grep", "^Cap", "/proc/self/status")
    assert (code, report) == (0, "")
    caps = dict(line.split(":\t") for line in out.splitlines())
    for k in ("CapEff", "CapBnd", "CapPrm"):
        assert caps[k] == "00000000" + DOCKER_CAPS, k
    # Inheritable empty, as Docker since CVE-2022-24769.
    assert caps["CapInh"] == "0000000000000000"
    assert caps["CapAmb"] == "0000000000000000"


def test_no_new_privs():
    assert "NoNewPrivs:\t1" in run("--no-new-privs", "--", "grep", "NoNewPrivs", "/proc/self/status")[2]
    assert "NoNewPrivs:\t0" in run("--", "grep", "NoNewPrivs", "/proc/self/status")[2]


# --- exec ---------------------------------------------------------------------------------------

def shim_exec(pid, *args):
    p = subprocess.run(["nsenter", f"--net={NETNS_PATH}", "--", SHIM, "exec", "--pid", str(pid), *args],
                       capture_output=True, text=True, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def test_exec_joins_the_container():
    s = Shim("--init", "--hostname", "execbox", "--", "sleep", "60")
    pid = s.read_pid()
    try:
        assert s.go() == ""
        code, out, err = shim_exec(pid, "--env", "A=1", "--workdir", "/tmp", "--caps", DOCKER_CAPS,
                                   "--", "sh", "-c", "hostname; readlink /proc/self/ns/net /proc/self/ns/pid; "
                                   "echo $A; pwd; grep CapEff /proc/self/status; ls /proc/$$/fd")
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == "execbox"
        assert lines[1] == os.readlink(f"/proc/{pid}/ns/net")
        assert lines[2] == os.readlink(f"/proc/{pid}/ns/pid")
        assert lines[3:6] == ["1", "/tmp", "CapEff:\t00000000" + DOCKER_CAPS]
        assert lines[6:] == ["0", "1", "2"]

        code, out, _ = shim_exec(pid, "--", "sh", "-c", "exit 6")
        assert code == 6
        code, _, err = shim_exec(pid, "--", "hutch-no-such-command")
        assert code == 127 and err.startswith("hutch: exec failed: hutch-no-such-command")
        code, _, err = shim_exec(pid, "--workdir", "/nonexistent", "--", "true")
        assert code == 125 and err.startswith("hutch: cannot change to the working directory")
    finally:
        s.kill(signal.SIGTERM)
        assert s.wait()[0] == 143


def test_exec_into_a_missing_process():
    code, _, err = shim_exec(0x3ffffff0, "--", "true")
    assert code == 125 and err.startswith("hutch: ")


# --- linger ---------------------------------------------------------------------------------------

def ip_links():
    out = subprocess.run(["ip", "-n", NETNS, "-o", "link"], capture_output=True, text=True, check=True).stdout
    return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines()]


def test_linger_deletes_links_holds_its_fds_until_stdin_eof():
    subprocess.run(["ip", "-n", NETNS, "link", "add", "hvlingera", "type", "veth", "peer", "name", "hvlingerb"], check=True)
    subprocess.run(["ip", "-n", NETNS, "link", "add", "hvlingerc", "type", "veth", "peer", "name", "hvlingerd"], check=True)
    held_r, held_w = os.pipe()   # stands in for the nftables socket the CLI hands over
    stdin_r, stdin_w = os.pipe()
    p = subprocess.Popen(["nsenter", f"--net={NETNS_PATH}", "--", SHIM, "linger",
                          "--del-link", "hvlingera", "--del-link=hvlingerc", "--del-link", "nosuch0"],
                         stdin=stdin_r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         pass_fds=(held_w,))
    os.close(stdin_r)
    os.close(held_w)
    try:
        deadline = time.time() + TIMEOUT
        while any(n.startswith("hvlinger") for n in ip_links()) and time.time() < deadline:
            time.sleep(0.02)
        assert not any(n.startswith("hvlinger") for n in ip_links()), "linger did not delete the links (and peers)"
        assert p.poll() is None, "linger exited before its stdin reached EOF"
        r, _, _ = select.select([held_r], [], [], 0)
        assert not r, "linger dropped the descriptor it was given before its stdin reached EOF"
        os.close(stdin_w)        # the CLI exits
        assert p.wait(TIMEOUT) == 0, p.stderr.read()
        r, _, _ = select.select([held_r], [], [], TIMEOUT)
        assert r and os.read(held_r, 1) == b"", "the descriptor is still open after linger exited"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(held_r)


@pytest.mark.parametrize("args", [["--bogus"], ["--del-link"], ["stray"]])
def test_linger_rejects_bad_arguments(args):
    r = subprocess.run(["nsenter", f"--net={NETNS_PATH}", "--", SHIM, "linger", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 125 and r.stderr.startswith("hutch-shim: "), r
