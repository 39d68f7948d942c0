"""Interactive containers: -i, -t, -it on run and exec, driven through a real pseudo-terminal.

Each interactive test starts hutch (inside the throwaway host netns) on the slave of a pty the
test opened, as the leader of a new session with that slave as its controlling terminal: the
test plays the user's terminal emulator on the master (typing, reading the screen, resizing).
"""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from harness import HarnessError, ppid_of, wait_until

PROMPT = "tty-test$ "
SHELL_ENV = ["-e", f"PS1={PROMPT}"]
# The outer terminal's local modes that raw mode turns off and that must come back.
COOKED = termios.ECHO | termios.ICANON | termios.ISIG


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and ppid_of(int(p)) == pid:
                out.append(int(p))
        except OSError:
            pass  # gone meanwhile
    return out


class Term:
    """`hutch --root ROOT ARGS...` on a fresh pty of `rows` x `cols`."""

    def __init__(self, h, *args, rows=24, cols=80):
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.cooked = termios.tcgetattr(self.slave)
        argv = h.argv([h.hutch_bin, "--root", h.root] + [str(a) for a in args])

        def controlling_terminal():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        # nsenter execs hutch: the pid is hutch's, the session and process group are its own.
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     start_new_session=True, preexec_fn=controlling_terminal,
                                     env=h.hutch_env())
        self.screen = b""

    def _read(self, timeout):
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.screen += data
        return bool(data)

    def expect(self, pattern, timeout=10):
        """Reads until `pattern` (a regex over the decoded screen) matches after the last
        expect's match; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen.decode(errors="replace")
            m = rx.search(text)
            if m:
                self.screen = text[m.end():].encode()
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError(f"did not see {pattern!r} within {timeout}s; screen: {text!r}")
            self._read(min(left, 0.2))

    def send(self, text):
        os.write(self.master, text.encode() if isinstance(text, str) else text)

    def resize(self, rows, cols):
        # The terminal emulator's resize: the kernel signals SIGWINCH to the foreground group.
        set_size(self.master, rows, cols)

    def lflag(self):
        return termios.tcgetattr(self.slave)[3]

    def wait(self, timeout=15):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise HarnessError(f"hutch did not exit within {timeout}s; screen: {self.screen!r}")
            self._read(0.05)
        while self._read(0.05):
            pass
        return self.proc.returncode

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        os.close(self.master)
        os.close(self.slave)

    def assert_restored(self):
        assert self.lflag() & COOKED == self.cooked[3] & COOKED, "the terminal was left in raw mode"
        assert termios.tcgetattr(self.slave) == self.cooked, "the terminal settings were not restored"


@pytest.fixture
def term(h):
    opened = []

    def start(*args, **kw):
        t = Term(h, *args, **kw)
        opened.append(t)
        return t

    yield start
    for t in opened:
        t.close()


# --- run -it ------------------------------------------------------------------------------------


def test_run_it_shell_prompt_pid_and_exit_status(h, term):
    t = term("run", "-it", "--rm", *SHELL_ENV, "--", "sh")
    t.expect(re.escape(PROMPT))
    assert t.lflag() & COOKED == 0, "raw mode: the outer terminal must not echo, edit lines or signal"
    t.send("echo $$; exit 3\r")
    # hutch runs its init as PID 1 by default, so the shell is PID 2 (Docker, without an init by
    # default, shows 1: see --no-init below). The echo comes from the container's terminal.
    t.expect(r"echo \$\$; exit 3\r\n2\r\n")
    assert t.wait() == 3
    t.assert_restored()
    assert h.ps_ids() == [], "--rm: the container is gone"


def test_run_it_without_init_shell_is_pid_1(h, term):
    t = term("run", "-it", "--rm", "--no-init", *SHELL_ENV, "--", "sh")
    t.expect(re.escape(PROMPT))
    t.send("echo pid=$$ tty=$(tty); exit 0\r")
    t.expect(r"pid=1 tty=/dev/pts/0\r\n")
    assert t.wait() == 0
    t.assert_restored()


def test_ctrl_c_reaches_the_foreground_job_and_the_shell_survives(h, term):
    t = term("run", "-it", "--rm", *SHELL_ENV, "--", "sh")
    t.expect(re.escape(PROMPT))
    t.send("sleep 100\r")
    t.expect(r"sleep 100\r\n")
    time.sleep(0.3)
    started = time.monotonic()
    t.send("\x03")
    # sleep is killed by SIGINT (130), the shell prompts again, hutch keeps running.
    t.expect(re.escape(PROMPT), timeout=5)
    assert time.monotonic() - started < 5
    assert t.proc.poll() is None, "^C must not reach hutch"
    t.send("echo status=$?\r")
    t.expect(r"status=130\r\n")
    t.send("echo alive-$((40+2))\r")
    t.expect(r"alive-42\r\n")
    t.send("exit\r")
    assert t.wait() == 0  # sh exits with its last command's status (the echo's)
    t.assert_restored()


def test_job_control_in_bash(h, term):
    t = term("run", "-it", "--rm", *SHELL_ENV, "--", "bash", "--norc", "--noprofile")
    t.expect(re.escape(PROMPT))
    t.send("sleep 100\r")
    time.sleep(0.3)
    t.send("\x1a")  # ^Z: the terminal stops the foreground job, bash takes the terminal back
    t.expect(r"Stopped\s+sleep 100")
    t.expect(re.escape(PROMPT))
    t.send("jobs\r")
    t.expect(r"\[1\]\+\s+Stopped\s+sleep 100")
    t.expect(re.escape(PROMPT))
    # fg hands the terminal back to the job (tcsetpgrp); ^C then reaches it, not bash.
    t.send("fg\r")
    t.expect(r"fg\r\n.*sleep 100\r\n")
    time.sleep(0.3)
    t.send("\x03")
    t.expect(re.escape(PROMPT), timeout=5)
    t.send("echo status=$? jobs=$(jobs | wc -l)\r")
    t.expect(r"status=130 jobs=0\r\n")
    t.send("exit 7\r")
    assert t.wait() == 7
    t.assert_restored()


def test_window_size_initial_and_resize(h, term):
    t = term("run", "-it", "--rm", *SHELL_ENV, "--", "sh", rows=33, cols=111)
    t.expect(re.escape(PROMPT))
    t.send("stty size\r")
    t.expect(r"stty size\r\n33 111\r\n")
    t.expect(re.escape(PROMPT))
    t.resize(44, 99)
    # The size follows, and the container's foreground job gets SIGWINCH.
    t.send("trap 'echo winched' WINCH; sleep 5 & wait\r")
    time.sleep(0.5)
    t.resize(45, 100)
    t.expect(r"winched\r\n")
    t.send("stty size\r")
    t.expect(r"stty size\r\n45 100\r\n")
    t.send("exit\r")
    assert t.wait() == 0
    t.assert_restored()


def test_terminal_restored_when_the_command_fails_or_hutch_is_signalled(h, term):
    # Not found: 127 after the raw mode was (or was not yet) set.
    t = term("run", "-it", "--rm", "--", "nosuchcommand-tty")
    assert t.wait() == 127
    assert b"executable file not found" in t.screen
    t.assert_restored()

    # SIGTERM to hutch: passed on to the container (137/143 Docker-style), terminal restored.
    t = term("run", "-it", "--rm", "--", "sleep", "100")
    wait_until(lambda: t.lflag() & COOKED == 0, desc="raw mode")
    t.proc.send_signal(signal.SIGTERM)
    assert t.wait() == 143
    t.assert_restored()

    # The shim SIGKILLed while the terminal is raw: the CLI puts the settings back.
    t = term("run", "-it", "--rm", "--", "sleep", "100")
    wait_until(lambda: t.lflag() & COOKED == 0, desc="raw mode")
    shims = children(t.proc.pid)
    assert len(shims) == 1, shims
    os.kill(shims[0], signal.SIGKILL)
    assert t.wait() == 137
    t.assert_restored()
    assert h.ps_ids() == []


@pytest.mark.parametrize("mode", ["bridge", "none", "host", "container", "pod"])
def test_every_network_mode(h, term, mode):
    extra = []
    if mode == "container":
        h.run_d("--name", "tgt", "--", "sleep", "300")
        extra = ["--net", "container:tgt"]
    elif mode == "pod":
        h.hutch("pod", "create", "--name", "pp")
        extra = ["--pod", "pp"]
    else:
        extra = ["--net", mode]
    t = term("run", "-it", "--rm", *extra, *SHELL_ENV, "--", "sh", rows=30, cols=90)
    t.expect(re.escape(PROMPT))
    t.send("tty; stty size; exit 4\r")
    t.expect(r"/dev/pts/0\r\n30 90\r\n")
    assert t.wait() == 4
    t.assert_restored()
    if mode == "pod":
        h.hutch("pod", "rm", "-f", "pp")


# --- without a terminal, -i alone, -t alone -----------------------------------------------------


def test_it_without_a_terminal_is_refused(h):
    for args in (["run", "-it", "--rm", "--name", "nope", "--", "true"],
                 ["run", "-i", "-t", "--", "true"], ["run", "--interactive", "--tty", "--", "true"]):
        r = h.hutch(*args, check=False)
        assert r.rc == 125, r
        assert r.err.strip() == "hutch: the input device is not a TTY", r
        assert r.out == ""
    assert h.ps_ids() == [], "nothing created"
    h.run_d("--name", "e", "--", "sleep", "300")
    r = h.hutch("exec", "-it", "e", "true", check=False)
    assert (r.rc, r.err.strip()) == (125, "hutch: the input device is not a TTY"), r


def test_t_alone_needs_no_terminal(h):
    # Docker's check is for -i with -t: -t alone gets a pty whose output comes back.
    r = h.hutch("run", "-t", "--rm", "--", "sh", "-c", "tty; echo out; echo err >&2; exit 5", check=False)
    assert r.rc == 5, r
    assert r.out == "/dev/pts/0\r\nout\r\nerr\r\n", r


def test_stdin_is_empty_without_i(h):
    r = h.hutch("run", "--rm", "--", "sh", "-c", "cat; echo end", input="typed\n")
    assert r.out == "end\n", "without -i the container's stdin is empty (Docker)"
    r = h.hutch("run", "-i", "--rm", "--", "sh", "-c", "cat; echo end", input="typed\n")
    assert r.out == "typed\nend\n"
    h.run_d("--name", "e", "--", "sleep", "300")
    assert h.hutch("exec", "e", "sh", "-c", "cat; echo end", input="typed\n").out == "end\n"
    assert h.hutch("exec", "-i", "e", "sh", "-c", "cat; echo end", input="typed\n").out == "typed\nend\n"


# --- detached with a terminal -------------------------------------------------------------------


def test_detached_tty_output_in_logs(h):
    h.run_d("-t", "--name", "dt", "--", "sh", "-c", "tty; stty size; echo hi-from-the-pty")
    assert h.hutch("wait", "dt").out.strip() == "0"
    out = h.hutch("logs", "dt").out
    assert out == "/dev/pts/0\r\n0 0\r\nhi-from-the-pty\r\n", out


def test_detached_it_shell_keeps_running_and_exec_it_joins(h, term):
    # -dit: the shell waits on its terminal (no EOF ever comes), as under Docker.
    h.run_d("-dit", "--name", "web", "-e", f"PS1={PROMPT}", "--", "sh")
    time.sleep(0.5)
    assert h.inspect("web")["State"]["Running"] is True
    assert PROMPT in h.hutch("logs", "web").out

    t = term("exec", "-it", "web", "sh", rows=25, cols=70)
    t.send("echo pid=$$ tty=$(tty) size=$(stty size) host=$(hostname)\r")
    m = t.expect(r"pid=(\d+) tty=(\S+) size=(\d+ \d+) host=(\S+)\r\n")
    # The container's own devpts: PID 1's shell has /dev/pts/0, the exec gets the next one.
    assert m.group(2) == "/dev/pts/1" and m.group(3) == "25 70", m.group(0)
    assert int(m.group(1)) > 2
    t.send("sleep 100\r")
    time.sleep(0.3)
    t.send("\x03")
    t.send("echo status=$?\r")
    t.expect(r"status=130\r\n", timeout=5)
    t.send("exit 6\r")
    assert t.wait() == 6
    t.assert_restored()
    assert h.inspect("web")["State"]["Running"] is True


def test_exec_it_into_a_container_without_tty(h, term):
    h.run_d("--name", "plain", "--", "sleep", "300")
    t = term("exec", "-it", "-e", f"PS1={PROMPT}", "plain", "sh", rows=40, cols=120)
    t.expect(re.escape(PROMPT))
    t.send("test -t 0 && stty size; exit 9\r")
    t.expect(r"40 120\r\n")
    assert t.wait() == 9
    t.assert_restored()


def test_detached_i_keeps_stdin_open(h):
    # `run -di ... sh` is Docker's way to keep a shell container up: its stdin stays open (no
    # EOF), while without -i it is empty and the shell ends at once.
    h.run_d("-i", "--name", "keep", "--", "sh")
    h.run_d("--name", "gone", "--", "sh")
    assert h.hutch("wait", "gone").out.strip() == "0"
    time.sleep(0.3)
    assert h.inspect("keep")["State"]["Running"] is True
    assert h.hutch("exec", "keep", "readlink", "/proc/2/fd/0").out.startswith("pipe:")  # the shell's (PID 2)
    h.hutch("stop", "-t", "1", "keep")


def test_shim_tty_by_hand(h):
    # The protocol's --tty without the CLI: output through the pty, stderr merged, status kept.
    shim = os.environ.get("HUTCH_SHIM") or os.path.join(os.path.dirname(h.hutch_bin), "hutch-shim")
    r = h.run([shim, "run", "--tty", "--init", "--env", "PATH=/usr/bin:/bin", "--",
               "sh", "-c", "tty; echo err >&2; exit 3"], check=False)
    assert (r.rc, r.out) == (3, "/dev/pts/0\r\nerr\r\n"), r
    r = h.run([shim, "run", "--tty", "--pause"], check=False)
    assert r.rc == 125 and "--tty and --pause exclude each other" in r.err, r
