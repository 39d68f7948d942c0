"""Integration-test harness for hutch.

Every test gets a throwaway "host" network namespace (`hutch-t-<pid>-<rand>`) and a fresh
state root. hutch runs inside that namespace only (`nsenter --net=/run/netns/NAME hutch
--root DIR ...`); the mount and pid namespaces stay the machine's, so hutch's processes and
mounts are visible to the leak check.

Leak check (any difference fails the test, see `root_snapshot` and `Host.teardown`):
  - root network namespace: `ip -o link`, `ip -o addr`, `ip route`, `ip netns list`,
    `nft list ruleset`, `iptables-save`, `ip6tables-save`, ip_forward / route_localnet;
  - root mount namespace: /proc/self/mountinfo;
  - the host's /etc/hosts, /etc/hostname, /etc/resolv.conf and /var/lib/hutch (the default
    state root, which tests must never touch);
  - processes: new `hutch-shim` processes, any process in the test's namespaces, in a
    container's net/pid namespace, or with the state root on its command line;
  - inside the throwaway netns, after `hutch rm -f $(hutch ps -aq)`: no veth, no process;
  - the state root's containers/ directory is empty.

Network safety: traffic only goes to loopback, 10.87.0.0/16 inside the throwaway namespace
and 192.0.2.0/24 between the throwaway namespace and the "outside" namespace the test made.
"""

import collections
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
WHOAMI = os.path.join(HERE, "whoami.py")
# The interpreter used inside containers and namespaces. The Debian one, so that a pyenv shim
# earlier on PATH does not matter inside a container's environment.
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"

SUBNET_PREFIX = "10.87."
GATEWAY = "10.87.0.1"
HOST_OUT_IP = "192.0.2.1"   # throwaway host's end of the link to the outside namespace
OUTSIDE_IP = "192.0.2.2"    # the "outside world"

DEFAULT_TIMEOUT = 30
POLL_TIMEOUT = 10

Result = collections.namedtuple("Result", "rc out err")


class HarnessError(AssertionError):
    pass


# ---------------------------------------------------------------------------------------------
# processes


def _fmt_cmd(argv):
    return " ".join(a if re.fullmatch(r"[\w@%+=:,./-]+", a) else repr(a) for a in argv)


def run(argv, timeout=DEFAULT_TIMEOUT, input=None, env=None, check=False, cwd=None):
    """Runs argv, returns Result(rc, out, err) as text.

    Distinguishes "the process did not exit in time" from "it exited but a child it left behind
    still holds its stdout/stderr" (e.g. a detached shim that inherited the CLI's pipes, which
    makes `ID=$(hutch run -d ...)` hang in a shell)."""
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    bufs = {"out": [], "err": []}

    def reader(stream, key):
        for chunk in iter(lambda: stream.read1(65536), b""):
            bufs[key].append(chunk)

    threads = [
        threading.Thread(target=reader, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=reader, args=(proc.stderr, "err"), daemon=True),
    ]
    for t in threads:
        t.start()
    if input is not None:
        try:
            proc.stdin.write(input.encode() if isinstance(input, str) else input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        for t in threads:
            t.join(2)
        raise HarnessError(
            f"command did not exit within {timeout}s: {_fmt_cmd(argv)}\n"
            f"stdout so far: {b''.join(bufs['out']).decode(errors='replace')!r}\n"
            f"stderr so far: {b''.join(bufs['err']).decode(errors='replace')!r}"
        )
    deadline = time.monotonic() + 5
    for t in threads:
        t.join(max(0, deadline - time.monotonic()))
    if any(t.is_alive() for t in threads):
        holders = _pipe_holders(proc)  # (the reader threads keep the pipes until the holders exit)
        raise HarnessError(
            f"command exited (rc={rc}) but its stdout/stderr stayed open for 5 s more, held by "
            f"processes it left behind: {holders}: {_fmt_cmd(argv)}\n"
            f"stdout: {b''.join(bufs['out']).decode(errors='replace')!r}\n"
            f"stderr: {b''.join(bufs['err']).decode(errors='replace')!r}"
        )
    proc.stdout.close()
    proc.stderr.close()
    res = Result(rc, b"".join(bufs["out"]).decode(errors="replace"),
                 b"".join(bufs["err"]).decode(errors="replace"))
    if check and rc != 0:
        raise HarnessError(f"command failed (rc={rc}): {_fmt_cmd(argv)}\nstdout: {res.out!r}\nstderr: {res.err!r}")
    return res


def _pipe_holders(proc):
    """Processes (pid, cmdline) that hold the write end of proc's stdout/stderr pipes."""
    targets = set()
    for f in (proc.stdout, proc.stderr):
        try:
            targets.add(os.fstat(f.fileno()).st_ino)
        except OSError:
            pass
    found = []
    for pid in _all_pids():
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                m = re.fullmatch(r"pipe:\[(\d+)\]", link)
                if m and int(m.group(1)) in targets and pid != os.getpid():
                    found.append((pid, cmdline(pid)))
                    break
        except OSError:
            continue
    return found


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _read(path):
    with open(path, errors="replace") as f:
        return f.read()


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, from the state on (OSError if gone)."""
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()


def proc_starttime(pid):
    """Start time (clock ticks since boot) of pid, or None if gone; guards against pid reuse."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return None
    if fields[0] == "Z":
        return None  # a zombie is gone as far as leaks go (its parent is checked separately)
    return int(fields[19])


def ppid_of(pid):
    """The parent pid of pid (e.g. a container's shim), from /proc/PID/stat; OSError if gone."""
    return int(_stat_fields(pid)[1])


def proc_tree(root):
    """[(pid, state, cmdline)] of root and all its descendants (from /proc)."""
    parent, state = {}, {}
    for pid in _all_pids():
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        state[pid], parent[pid] = fields[0], int(fields[1])
    tree, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree += frontier
    return [(p, state.get(p, "?"), cmdline(p)) for p in tree if p in state]


def ns_inode(pid, kind):
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def pids_with_ns(kind, inodes):
    """Pids (not zombies) whose namespace of kind is one of inodes."""
    inodes = set(i for i in inodes if i)
    out = []
    for pid in _all_pids():
        if ns_inode(pid, kind) in inodes and proc_starttime(pid) is not None:
            out.append(pid)
    return out


def describe(pids):
    return "; ".join(f"pid {p}: {cmdline(p) or '?'}" for p in pids)


def parts(res, n, sep=None):
    """res.out split (by sep, default whitespace) into exactly n parts, or a readable failure."""
    p = res.out.split(sep)
    if sep is None:
        pass
    elif p and p[-1] == "" and len(p) == n + 1:
        p = p[:-1]
    if len(p) != n:
        raise HarnessError(f"expected {n} parts (separator {sep!r}) in the output, got {len(p)}: "
                           f"rc={res.rc} stdout={res.out!r} stderr={res.err!r}")
    return p


def wait_until(fn, timeout=POLL_TIMEOUT, interval=0.05, desc="condition"):
    """Polls fn until it returns a truthy value (returned); raises HarnessError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except HarnessError as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout}s waiting for {desc} (last: {last!r})")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


# ---------------------------------------------------------------------------------------------
# root-namespace snapshot


def _out(argv):
    try:
        r = run(argv, timeout=20)
    except (FileNotFoundError, HarnessError) as e:
        return f"<{argv[0]} unavailable: {e}>"
    return r.out + (f"\n<rc={r.rc} stderr={r.err.strip()}>" if r.rc else "")


def _file_digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        return f"<{errno.errorcode.get(e.errno, e.errno)}>"


def _normalize(section, text):
    lines = []
    for line in text.splitlines():
        if section == "ip -o addr":
            line = re.sub(r"valid_lft \S+ preferred_lft \S+", "", line)
        elif section in ("iptables-save", "ip6tables-save"):
            if line.startswith("#"):
                continue
            line = re.sub(r"\[\d+:\d+\]", "[0:0]", line)
        elif section == "nft list ruleset":
            line = re.sub(r"counter packets \d+ bytes \d+", "counter", line)
        line = line.rstrip()
        if line:
            lines.append(line)
    return lines


# The cgroup hierarchies hutch makes a `hutch` parent in: v2, v2 beside v1, and the v1 controllers.
CGROUP_BASES = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified") + tuple(
    f"/sys/fs/cgroup/{c}" for c in ("memory", "pids", "cpu", "cpuacct"))


def remove_empty_cgroup_parents():
    """The `hutch` parent cgroups, where nothing is left in them (hutch keeps them once made, as
    Docker keeps `docker`; a test run should leave nothing behind). One that still holds a
    container's cgroup, or processes, is not removable (rmdir fails) and stays."""
    for base in CGROUP_BASES:
        d = os.path.join(base, "hutch")
        if os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError:
                pass


def root_snapshot():
    """What a test must leave exactly as it found it, as {section: [lines]}."""
    snap = {}
    cmds = {
        "ip -o link": ["ip", "-o", "link"],
        "ip -o addr": ["ip", "-o", "addr"],
        "ip route": ["ip", "route"],
        "ip netns list": ["ip", "netns", "list"],
        "nft list ruleset": ["nft", "list", "ruleset"],
        "iptables-save": ["iptables-save"],
        "ip6tables-save": ["ip6tables-save"],
    }
    for name, argv in cmds.items():
        snap[name] = _normalize(name, _out(argv))
    with open("/proc/self/mountinfo") as f:
        snap["mountinfo"] = _normalize("mountinfo", f.read())
    sysctls = []
    for key in ("net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/ipv4/conf/all/forwarding"):
        try:
            with open(f"/proc/sys/{key}") as f:
                sysctls.append(f"{key}={f.read().strip()}")
        except OSError:
            pass
    snap["sysctl"] = sysctls
    # Container cgroups (hutch/ID in every hierarchy; the `hutch` parents may stay while the
    # suite runs, as Docker's do: `remove_empty_cgroup_parents` takes them at its end).
    cgs = []
    for base in CGROUP_BASES:
        d = os.path.join(base, "hutch")
        if os.path.isdir(d):
            cgs += [f"{d}/{e}" for e in os.listdir(d) if len(e) == 64]
    snap["cgroups"] = sorted(cgs)
    snap["host files"] = [f"{p} {_file_digest(p)}" for p in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")]
    if os.path.exists("/var/lib/hutch"):
        snap["/var/lib/hutch"] = sorted(os.listdir("/var/lib/hutch")) or ["<empty>"]
    else:
        snap["/var/lib/hutch"] = ["<absent>"]
    return snap


def _foreign(line, own_names):
    """Lines that belong to another concurrently running copy of this suite (other pid), or that
    the user asked to ignore (HUTCH_LEAK_IGNORE regex, for shared development machines)."""
    for name in own_names:
        if name in line:
            return True
    m = re.search(r"hutch-[to]-(\d+)-", line)
    if m and int(m.group(1)) != os.getpid():
        return True
    pat = os.environ.get("HUTCH_LEAK_IGNORE")
    if pat and re.search(pat, line):
        return True
    return False


def diff_snapshots(before, after, own_names=()):
    """Human-readable list of differences ('+' appeared, '-' disappeared) per section."""
    problems = []
    for section in sorted(set(before) | set(after)):
        b = collections.Counter(before.get(section, []))
        a = collections.Counter(after.get(section, []))
        added = [l for l in (a - b).elements() if not _foreign(l, own_names)]
        removed = [l for l in (b - a).elements() if not _foreign(l, own_names)]
        if added or removed:
            lines = [f"  + {l}" for l in added] + [f"  - {l}" for l in removed]
            problems.append(f"root {section} changed:\n" + "\n".join(lines))
    return problems


def shim_pids():
    """Live (not zombie: a detached shim is reaped by the machine's init, which may be slow)
    processes whose command line mentions hutch-shim."""
    r = run(["pgrep", "-f", "hutch-shim"], timeout=10)
    return {int(p) for p in r.out.split()
            if proc_starttime(int(p)) is not None and not cmdline(int(p)).startswith("pgrep")} - {os.getpid()}


# ---------------------------------------------------------------------------------------------
# namespaces


def _rand():
    return secrets.token_hex(3)


def netns_add(name):
    run(["ip", "netns", "add", name], check=True)
    run(["nsenter", f"--net=/run/netns/{name}", "ip", "link", "set", "lo", "up"], check=True)


def netns_del(name):
    if os.path.exists(f"/run/netns/{name}"):
        run(["ip", "netns", "del", name], check=False)


class Namespace:
    """A named network namespace we created; run commands in it with nsenter (net only)."""

    def __init__(self, name):
        self.name = name
        self.path = f"/run/netns/{name}"
        netns_add(name)
        self.inode = os.stat(self.path).st_ino
        self._bg = []

    def argv(self, argv):
        return ["nsenter", f"--net={self.path}", "--"] + list(argv)

    def run(self, argv, check=True, timeout=DEFAULT_TIMEOUT, input=None, env=None):
        return run(self.argv(argv), timeout=timeout, input=input, env=env, check=check)

    def sh(self, cmd, check=True, timeout=DEFAULT_TIMEOUT, input=None):
        """Runs a shell command inside this namespace; Result(rc, out, err)."""
        return self.run(["sh", "-c", cmd], check=check, timeout=timeout, input=input)

    def bg(self, argv_or_cmd, logdir=None, env=None):
        """Starts a background process in this namespace (its own session; stdout and stderr
        together in a log file, `p.output()`); its process group is killed at teardown."""
        argv = ["sh", "-c", argv_or_cmd] if isinstance(argv_or_cmd, str) else list(argv_or_cmd)
        log = tempfile.NamedTemporaryFile(prefix="hutch-bg-", suffix=".log", dir=logdir, delete=False)
        p = subprocess.Popen(self.argv(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        p.logpath = log.name
        log.close()
        p.output = lambda: _read(p.logpath)
        self._bg.append(p)
        return p

    def kill_bg(self):
        for p in self._bg:
            _kill_group(p.pid)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.unlink(p.logpath)
            except OSError:
                pass
        self._bg = []

    def links(self, kind=None):
        argv = ["ip", "-o", "link", "show"] + (["type", kind] if kind else [])
        out = self.run(argv).out
        return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if l.strip()]

    def processes(self):
        return pids_with_ns("net", [self.inode])

    def delete(self):
        self.kill_bg()
        netns_del(self.name)


class Outside(Namespace):
    """A second namespace playing "another machine": linked to the throwaway host by a veth pair
    (host side 192.0.2.1/24, outside 192.0.2.2/24)."""

    def __init__(self, host, name, default_route=False):
        super().__init__(name)
        self.host_if = "hto" + _rand()
        host.run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", name])
        host.run(["ip", "addr", "add", f"{HOST_OUT_IP}/24", "dev", self.host_if])
        host.run(["ip", "link", "set", self.host_if, "up"])
        self.run(["ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0"])
        self.run(["ip", "link", "set", "eth0", "up"])
        if default_route:
            host.run(["ip", "route", "add", "default", "via", OUTSIDE_IP])
        self.ip = OUTSIDE_IP
        self.host_ip = HOST_OUT_IP
        self.host = host

    def delete(self):
        self.kill_bg()
        # Deleting one end removes the pair at once; a deleted netns is torn down asynchronously.
        if os.path.exists(self.host.path):
            self.host.run(["ip", "link", "del", self.host_if], check=False)
        netns_del(self.name)


# ---------------------------------------------------------------------------------------------
# the throwaway host


class Host(Namespace):
    """A throwaway host: network namespace + state root + the hutch binary under test."""

    def __init__(self, hutch_bin=None):
        self.tag = f"{os.getpid()}-{_rand()}"
        super().__init__(f"hutch-t-{self.tag}")
        self.hutch_bin = hutch_bin
        self.root = tempfile.mkdtemp(prefix="hutch-root-")
        self.tmp = tempfile.mkdtemp(prefix="hutch-tmp-")
        os.chmod(self.tmp, 0o755)
        self._outside = None
        self.known = {}  # id -> dict(pid, start, netns, pidns) of containers seen running
        self.own_names = [self.name]

    # -- hutch ------------------------------------------------------------------------------

    def hutch_env(self, extra=None):
        env = dict(os.environ)
        env.pop("HUTCH_ROOT", None)
        env.update(extra or {})
        return env

    def hutch(self, *args, check=True, timeout=DEFAULT_TIMEOUT, input=None, env=None, root=True):
        """Runs `hutch --root ROOT ARGS...` inside the throwaway netns; Result(rc, out, err).
        check=True asserts rc == 0."""
        assert self.hutch_bin, "no hutch binary"
        argv = [self.hutch_bin] + (["--root", self.root] if root else []) + [str(a) for a in args]
        res = self.run(argv, check=False, timeout=timeout, input=input, env=self.hutch_env(env))
        if check and res.rc != 0:
            raise HarnessError(f"hutch failed (rc={res.rc}): {_fmt_cmd(argv)}\nstdout: {res.out!r}\nstderr: {res.err!r}")
        return res

    def share(self):
        """`-v TMP:TMP`: the test's temporary folder, bound into a container at the same path.
        By default a container sees the host as an image (a private overlay of its root, a /tmp of
        its own), so files pass between a test and a container only through a volume."""
        return ["-v", f"{self.tmp}:{self.tmp}"]

    def hutch_bg(self, *args, env=None):
        """Starts `hutch --root ROOT ARGS...` in the background inside the throwaway netns (see
        `bg`: nsenter execs hutch, so the process's pid is hutch's); killed at teardown."""
        assert self.hutch_bin, "no hutch binary"
        return self.bg([self.hutch_bin, "--root", self.root] + [str(a) for a in args], env=self.hutch_env(env))

    def run_d(self, *args, timeout=DEFAULT_TIMEOUT):
        """`hutch run -d ARGS...`: returns the 64-hex id it printed (asserted)."""
        res = self.hutch("run", "-d", *args, timeout=timeout)
        cid = res.out.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid), f"run -d printed {res.out!r}, want a 64-hex id (stderr {res.err!r})"
        self.remember(cid)
        return cid

    def inspect(self, *names):
        res = self.hutch("inspect", *names)
        try:
            data = json.loads(res.out)
        except ValueError as e:
            raise HarnessError(f"inspect printed invalid JSON ({e}): {res.out!r}")
        assert isinstance(data, list), f"inspect must print a JSON array, got {type(data).__name__}"
        for c in data:
            self._note(c)
        return data if len(names) != 1 else data[0]

    def remember(self, name):
        try:
            self.inspect(name)
        except HarnessError:
            pass

    def _note(self, c):
        try:
            pid = c["State"]["Pid"]
            cid = c["Id"]
        except (KeyError, TypeError):
            return
        if isinstance(pid, int) and pid > 0 and cid not in self.known:
            self.known[cid] = dict(pid=pid, start=proc_starttime(pid), netns=ns_inode(pid, "net"),
                                   pidns=ns_inode(pid, "pid"))

    def ps_ids(self, all=True):
        res = self.hutch("ps", "-q", *(["-a"] if all else []))
        return res.out.split()

    def ip_of(self, name):
        return self.inspect(name)["NetworkSettings"]["IPAddress"]

    def wait_veth_gone(self, cid, desc="its veth to go"):
        """Waits until container `cid`'s host-side veth is gone: the kernel deletes the pair with
        the container's network namespace, asynchronously, a moment after the last process exits."""
        wait_until(lambda: self.veth_name(cid) not in self.links(), desc=desc)

    def wait_no_veths(self, desc="every veth to go"):
        wait_until(lambda: self.links("veth") == [], desc=desc)

    def veth_name(self, cid):
        return "hv" + cid[:11]

    def state_entries(self, cid=None):
        """Entries under ROOT/containers/ (those for cid only, if given)."""
        d = os.path.join(self.root, "containers")
        if not os.path.isdir(d):
            return []
        names = sorted(os.listdir(d))
        if cid:
            names = [n for n in names if n.startswith(cid[:12]) or cid.startswith(n)]
        return names

    def wait_exited(self, name, timeout=POLL_TIMEOUT):
        return wait_until(lambda: (lambda c: c if c["State"]["Status"] == "exited" else None)(self.inspect(name)),
                          timeout=timeout, desc=f"container {name} to exit")

    def wait_http(self, url, timeout=POLL_TIMEOUT, ns=None):
        """Polls `curl URL` from this (or another) namespace until it answers 200; returns the body."""
        ns = ns or self

        def probe():
            r = ns.run(["curl", "-sS", "--max-time", "2", "-o", "-", "-w", "\n%{http_code}", url], check=False, timeout=10)
            body, _, code = r.out.rpartition("\n")
            return body if code == "200" else None

        return wait_until(probe, timeout=timeout, desc=f"HTTP 200 from {url} in {ns.name}")

    def outside(self, default_route=False):
        if self._outside is None:
            self._outside = Outside(self, f"hutch-o-{self.tag}", default_route=default_route)
            self.own_names.append(self._outside.name)
        return self._outside

    # -- teardown / leak check -------------------------------------------------------------

    def teardown(self):
        """Cleans up and returns the list of leaks found (empty when clean)."""
        problems = []
        self.kill_bg()
        if self._outside:
            self._outside.kill_bg()
        if self.hutch_bin and os.path.exists(self.hutch_bin):
            problems += self._hutch_cleanup()
        problems += self._inner_leaks()
        self._force_cleanup()
        if self._outside:
            self._outside.delete()
        self.delete()
        self._remove_dirs()
        return problems

    def _hutch_cleanup(self):
        problems = []
        # Pods first: `rm -f` rightly refuses a pod's infra container.
        try:
            pods = self.hutch("pod", "ls", "-q", check=False)
            if pods.rc == 0 and pods.out.split():
                self.hutch("pod", "rm", "-f", *pods.out.split(), check=False, timeout=60)
        except HarnessError as e:
            problems.append(f"cleanup: `hutch pod rm -f $(hutch pod ls -q)` failed: {e}")
        try:
            ids = self.ps_ids(all=True)
            if ids:
                self.inspect(*ids)  # records pids of running containers for the process check
        except (HarnessError, AssertionError) as e:
            return [f"cleanup: `hutch ps -aq` / inspect failed: {e}"]
        if ids:
            try:
                self.hutch("rm", "-f", *ids, timeout=60)
            except HarnessError as e:
                problems.append(f"cleanup: `hutch rm -f $(hutch ps -aq)` failed: {e}")
        try:
            left = self.ps_ids(all=True)
            if left:
                problems.append(f"cleanup: `hutch ps -aq` still lists {left} after rm -f")
        except HarnessError as e:
            problems.append(f"cleanup: `hutch ps -aq` failed after rm -f: {e}")
        return problems

    def leftover_processes(self):
        """Processes that the test (through hutch) left behind."""
        pids = set(self.processes())
        if self._outside:
            pids |= set(self._outside.processes())
        for info in self.known.values():
            if info["start"] is not None and proc_starttime(info["pid"]) == info["start"]:
                pids.add(info["pid"])
        # Namespace inodes are recycled once a namespace dies, so they identify a container's
        # namespaces only while its recorded first process is still alive (a pid namespace dies
        # with its init anyway).
        live = [i for i in self.known.values() if i["start"] is not None and proc_starttime(i["pid"]) == i["start"]]
        pids |= set(pids_with_ns("net", [i["netns"] for i in live]))
        pids |= set(pids_with_ns("pid", [i["pidns"] for i in live]))
        me = os.getpid()
        for pid in _all_pids():
            if pid != me and self.root in cmdline(pid) and proc_starttime(pid) is not None:
                pids.add(pid)
        # the namespaces of pid 1's own (the machine's) are never a container's
        return sorted(pids - {me})

    def _inner_leaks(self):
        problems = []
        # Processes may take a moment to go after `rm -f` returned (bounded poll, no timing asserted).
        try:
            wait_until(lambda: not self.leftover_processes(), timeout=5, desc="no leftover processes")
        except HarnessError:
            pass
        procs = self.leftover_processes()
        if procs:
            problems.append("processes left behind: " + describe(procs))
        if self._outside:
            self._outside.delete()  # also removes its veth pair
        # The kernel deletes a veth pair with its container's network namespace, asynchronously
        # (bounded poll, no timing asserted).
        try:
            wait_until(lambda: not self.links("veth"), timeout=5, desc="no veth left")
        except HarnessError:
            pass
        try:
            veths = self.links("veth")
        except HarnessError as e:
            veths = [f"<ip link failed: {e}>"]
        if veths:
            problems.append(f"veth left in the throwaway netns {self.name}: {veths}")
        entries = self.state_entries()
        if entries:
            problems.append(f"state left under {self.root}/containers/: {entries}")
        mounts = [l for l in _read("/proc/self/mountinfo").splitlines()
                  if self.root in l or self.tmp in l]
        if mounts:
            problems.append("mounts left under the state root: " + " | ".join(mounts))
        return problems

    def _force_cleanup(self):
        """Removes whatever leaked so that later tests start clean (the leak is already reported)."""
        for pid in self.leftover_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            wait_until(lambda: not self.leftover_processes(), timeout=5, desc="killed leftovers to go")
        except HarnessError:
            pass
        for line in reversed(_read("/proc/self/mountinfo").splitlines()):
            mp = line.split()[4]
            if mp.startswith(self.root) or mp.startswith(self.tmp):
                run(["umount", "-l", mp], timeout=10)

    def _remove_dirs(self):
        for d in (self.root, self.tmp):
            shutil.rmtree(d, ignore_errors=True)


HEX64 = re.compile(r"[0-9a-f]{64}")


def db_rows(h, table, missing_ok=False, **where):
    """Rows of a table of the throwaway host's state store (read-only, stdlib sqlite3), in the
    store's order; `where` keeps those whose columns equal the given values (owner=ID, ...).
    missing_ok: [] when the store or the table does not exist yet (else sqlite3's error)."""
    db = os.path.join(h.root, "hutch.db")
    if missing_ok and not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        if missing_ok:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if table not in tables:
                return []
        q = f"SELECT * FROM {table}"
        if where:
            q += " WHERE " + " AND ".join(f"{col} = ?" for col in where)
        return con.execute(q, tuple(where.values())).fetchall()
    finally:
        con.close()


def rules(h, backend):
    """The throwaway host's rules of the given backend, as text."""
    if backend == "iptables":
        return h.sh("iptables-save").out
    return h.sh("nft list ruleset").out


def hutch_nft_table(h):
    """`nft list table ip hutch` in the throwaway host, "" when there is no such table."""
    r = h.sh("nft list table ip hutch", check=False)
    return r.out if r.rc == 0 else ""


class Backend:
    """The throwaway host `h` seen through one firewall backend: `--firewall BACKEND` on every
    hutch call (no option at all when backend is None)."""

    def __init__(self, h, backend=None):
        self.h = h
        self.backend = backend

    def _lead(self):
        return ("--firewall", self.backend) if self.backend else ()

    def argv(self, *args):
        return [self.h.hutch_bin, *self._lead(), "--root", self.h.root, *map(str, args)]

    def hutch(self, *args, **kw):
        return self.h.hutch(*self._lead(), *args, **kw)

    def inspect(self, name):
        r = self.hutch("inspect", name)
        data = json.loads(r.out)
        assert isinstance(data, list) and len(data) == 1, r.out
        self.h._note(data[0])  # the harness's process leak check then knows its pid
        return data[0]

    def run_d(self, *args):
        r = self.hutch("run", "-d", *args)
        cid = r.out.strip()
        assert HEX64.fullmatch(cid), f"run -d printed {r.out!r}, want a 64-hex id (stderr {r.err!r})"
        self.inspect(cid)
        return cid

    def ip_of(self, name):
        return self.inspect(name)["NetworkSettings"]["IPAddress"]

    def wait_exited(self, name):
        return wait_until(lambda: self.inspect(name)["State"]["Status"] == "exited", desc=f"{name} to exit")

    def port(self, name, *spec):
        return self.hutch("port", name, *spec).out
