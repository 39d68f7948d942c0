#!/usr/bin/env python3
"""hutch's benchmark suite (issue 7). Root only; Python 3 standard library only.

    bench/bench.py [--quick] [--hutch BIN] [--shim BIN] [--out DIR] [--no-profile]

Everything runs inside a throwaway "host" network namespace (hbench-h-TAG) with a throwaway state
root; a second namespace (hbench-o-TAG) plays "outside", linked to the host by a veth pair with
192.0.2.1/24 (host) and 192.0.2.2/24 (outside). The outer process creates both, re-runs this
script inside the host namespace with `nsenter --net=/run/netns/...` (so every timed command,
hutch and baselines alike, is spawned the same way from inside), and removes everything in a
`finally` — processes under the state root, mounts, namespaces, the root itself — even when the
measurement fails or is interrupted. Nothing touches the real host network.

Prints one table (operation, n, median, p95, ratio to its baseline, target) and writes the raw
samples as JSON to bench/results/bench-<time>[-quick].json.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WIRING = os.path.join(HERE, "baseline_wiring.sh")
HOST_OUT_IP, OUTSIDE_IP = "192.0.2.1", "192.0.2.2"
HUTCH_SUBNET = "10.87.0.0/16"
CMD_TIMEOUT = 60
# `python3 -c POOLED_CLIENT URL SECS THREADS`: THREADS threads, each with a urllib3 pool of one
# keep-alive connection and urllib3's Retry (3 tries; a GET whose reused connection the server
# closed is sent again on a new one), GET for SECS seconds; prints JSON {ok, failed, retried, secs}.
POOLED_CLIENT = r'''
import json, sys, threading, time, urllib3
url, secs, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
lock = threading.Lock()
count = {"ok": 0, "failed": 0, "retried": 0}
end = time.monotonic() + secs
def worker():
    pool = urllib3.PoolManager(maxsize=1, retries=urllib3.Retry(total=3, backoff_factor=0),
                               timeout=urllib3.Timeout(connect=5, read=10))
    while time.monotonic() < end:
        try:
            r = pool.request("GET", url)
            good, tries = r.status == 200, len(r.retries.history) if r.retries else 0
        except Exception:
            good, tries = False, 0
        with lock:
            count["ok" if good else "failed"] += 1
            count["retried"] += tries
t0 = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
count["secs"] = time.monotonic() - t0
print(json.dumps(count))
'''
UNSHARE = ["unshare", "--net", "--uts", "--ipc", "--pid", "--mount", "--fork", "true"]


class Skip(Exception):
    """An operation that cannot run here; the row is reported as skipped with the reason."""


class Failed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# small helpers

def sh(argv, check=True, timeout=CMD_TIMEOUT, capture=True, input=None):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None, input=input,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout, text=True)
    if check and r.returncode != 0:
        raise Failed(f"rc={r.returncode}: {' '.join(argv)}: {(r.stderr or '').strip()[-500:]}")
    return r


def timed(argv, capture=False, timeout=CMD_TIMEOUT):
    """Runs argv, returns (milliseconds, CompletedProcess); raises Failed on a non-zero status."""
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout, text=True)
    ms = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        err = (r.stderr or "").strip()
        raise Failed(f"rc={r.returncode}: {' '.join(argv)}: {err[-500:]}")
    return ms, r


def timed_cpu(argv, timeout=CMD_TIMEOUT):
    """Runs argv, returns (wall milliseconds, CPU milliseconds): the user + system time of it and
    every descendant it waited for (a foreground `hutch run`: the shim and the container). CPU
    time hardly moves when other work competes for the cores, where wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ms, _ = timed(argv, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return ms, cpu


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def meminfo():
    out = {}
    for line in read("/proc/meminfo").splitlines():
        k, _, v = line.partition(":")
        out[k] = int(v.split()[0])  # kB
    return out


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def cmdline(pid):
    return read(f"/proc/{pid}/cmdline").split("\0")


def ppid_map():
    m = {}
    for pid in all_pids():
        s = read(f"/proc/{pid}/stat")
        if s:
            m[pid] = int(s[s.rindex(")") + 2:].split()[1])
    return m


def descendants(roots, pmap=None):
    pmap = pmap or ppid_map()
    kids = {}
    for pid, pp in pmap.items():
        kids.setdefault(pp, []).append(pid)
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_mem(pid):
    """(VmRSS kB, Pss kB) of pid, or None when it is gone."""
    roll = read(f"/proc/{pid}/smaps_rollup")
    status = read(f"/proc/{pid}/status")
    if not roll or not status:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+)", roll, re.M)
    return (int(rss.group(1)) if rss else 0, int(pss.group(1)) if pss else 0)


def machine():
    cpu = re.search(r"model name\s*:\s*(.*)", read("/proc/cpuinfo"))
    rev = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--", "Sources"], check=False).stdout.strip()
    return {
        "cpu": cpu.group(1) if cpu else platform.processor(),
        "cores": os.cpu_count(),
        "mem_MiB": meminfo().get("MemTotal", 0) // 1024,
        "kernel": platform.release(),
        "os": (re.search(r'PRETTY_NAME="(.*)"', read("/etc/os-release")) or [None, "?"])[1],
        "hutch_rev": rev + ("+dirty Sources" if dirty else ""),
        "loadavg_start": read("/proc/loadavg").split()[:3],
    }


# ---------------------------------------------------------------------------------------------
# the results table

class Results:
    def __init__(self, quick):
        self.rows = []
        self.notes = []
        self.quick = quick

    def add(self, name, samples=None, unit="ms", baseline=None, target=None, skipped=None, note=None,
            value=None, p95=None, higher_is_better=False, extra=None):
        row = dict(name=name, unit=unit, samples=[round(s, 4) for s in (samples or [])], baseline=baseline,
                   target=target, skipped=skipped, note=note, higher_is_better=higher_is_better)
        if samples:
            row["median"] = statistics.median(samples)
            row["p95"] = pct(samples, 5 if higher_is_better else 95)
            row["n"] = len(samples)
        if value is not None:
            row["median"], row["n"] = value, row.get("n") or 1
        if p95 is not None:
            row["p95"] = p95
        if extra:
            row.update(extra)
        self.rows.append(row)
        self._print_progress(row)
        return row

    def get(self, name):
        for r in self.rows:
            if r["name"] == name and r.get("median") is not None:
                return r
        return None

    def _print_progress(self, row):
        if row.get("skipped"):
            print(f"  .. {row['name']}: skipped ({row['skipped']})", flush=True)
        else:
            print(f"  .. {row['name']}: {fmt(row.get('median'), row['unit'])}", flush=True)

    def ratios(self):
        for r in self.rows:
            b = self.get(r["baseline"]) if r.get("baseline") else None
            if b and r.get("median") is not None and b["median"]:
                r["ratio"] = r["median"] / b["median"]

    def table(self):
        self.ratios()
        head = ["operation", "n", "median", "p95", "ratio", "baseline", "target"]
        lines = []
        for r in self.rows:
            if r.get("skipped"):
                lines.append([r["name"], "-", "skipped", "", "", "", r.get("target") or ""])
                continue
            ratio = f"{r['ratio']:.2f}x" if r.get("ratio") is not None else ""
            p95 = fmt(r.get("p95"), r["unit"]) if r.get("p95") is not None else ""
            lines.append([r["name"], str(r.get("n", "")), fmt(r.get("median"), r["unit"]), p95, ratio,
                          r.get("baseline") or "", r.get("target") or ""])
        w = [max(len(head[i]), *(len(l[i]) for l in lines)) for i in range(len(head))]
        out = ["  ".join(h.ljust(w[i]) for i, h in enumerate(head)), "  ".join("-" * x for x in w)]
        for l in lines:
            out.append("  ".join((l[i].rjust(w[i]) if i in (1, 2, 3, 4) else l[i].ljust(w[i]))
                                 for i in range(len(head))))
        skipped = [r for r in self.rows if r.get("skipped")]
        if skipped:
            out.append("")
            out += [f"skipped: {r['name']}: {r['skipped']}" for r in skipped]
        notes = [f"note: {r['name']}: {r['note']}" for r in self.rows if r.get("note")]
        if notes or self.notes:
            out.append("")
            out += notes + [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def fmt(v, unit):
    if v is None:
        return ""
    if unit == "ms":
        return f"{v:.1f} ms" if v >= 10 else f"{v:.2f} ms"
    if unit in ("Gbit/s", "x"):
        return f"{v:.2f} {unit}"
    if unit == "/s":
        return f"{v:.1f} /s"
    if unit == "KiB":
        return f"{v:.0f} KiB"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    return f"{v:g} {unit}"


# ---------------------------------------------------------------------------------------------
# the measurements (run inside the throwaway host netns)

def make_rootfs(path):
    """A tiny root file system for --rootfs: the host's dash and the libraries it loads."""
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2("/usr/bin/dash", os.path.join(path, "bin/sh"))
    with open(os.path.join(path, "bin/true"), "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(os.path.join(path, "bin/true"), 0o755)
    for line in sh(["ldd", "/usr/bin/dash"]).stdout.splitlines():
        for p in line.split():
            if p.startswith("/"):
                dst = os.path.join(path, p.lstrip("/"))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy(p, dst)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/:/bin/sh\n")


class Bench:
    def __init__(self, ctx):
        self.ctx = ctx
        self.quick = ctx["quick"]
        self.hutch_bin = ctx["hutch"]
        self.root = ctx["root"]
        self.outside = ctx["outside_path"]
        self.res = Results(self.quick)
        self.ports_ok = None
        self.ports_reason = None
        self.n = (lambda full, quick: quick if self.quick else full)

    def hutch(self, *args):
        return [self.hutch_bin, "--root", self.root] + [str(a) for a in args]

    def in_outside(self, argv):
        return ["nsenter", f"--net={self.outside}", "--"] + list(argv)

    def cleanup_containers(self):
        r = sh(self.hutch("pod", "ls", "-q"), check=False)
        pods = r.stdout.split() if r.returncode == 0 else []
        if pods:
            sh(self.hutch("pod", "rm", "-f", *pods), check=False, timeout=120)
        r = sh(self.hutch("ps", "-aq"), check=False)
        ids = r.stdout.split() if r.returncode == 0 else []
        for i in range(0, len(ids), 50):
            sh(self.hutch("rm", "-f", *ids[i:i + 50]), check=False, timeout=300)

    def paired(self, name, fn, n, target, warmup=2):
        """A row with a target ratio: each sample is taken right after an `unshare` sample, and the
        ratio is to those `unshare` samples. This VM's speed drifts by up to ~30% within minutes,
        so a baseline measured at the start of the run would move the ratio by as much."""
        base = []

        def both(i):
            base.append(timed(UNSHARE)[0])
            return fn(i)
        base_name = f"unshare, paired with: {name}"
        row = self.loop(name, both, n, warmup=warmup, baseline=base_name, target=target)
        if len(base) > warmup:
            self.res.add(base_name, base[warmup:])
        return row

    def loop(self, name, fn, n, warmup=2, **kw):
        """Times fn() n times (after warmup runs); fn returns milliseconds. Adds the row."""
        try:
            for i in range(warmup):
                fn(i)
            samples = [fn(i) for i in range(n)]
        except Skip as e:
            return self.res.add(name, skipped=str(e), target=kw.get("target"))
        except (Failed, subprocess.TimeoutExpired) as e:
            self.cleanup_containers()
            return self.res.add(name, skipped=f"failed: {e}", target=kw.get("target"))
        return self.res.add(name, samples, **kw)

    # -- baselines ---------------------------------------------------------------------------

    def baselines(self):
        print("baselines", flush=True)
        self.loop("spawn floor: /bin/true", lambda i: timed(["/bin/true"])[0], self.n(50, 20))
        self.loop("unshare --net --uts --ipc --pid --mount --fork true",
                  lambda i: timed(UNSHARE)[0],
                  self.n(50, 20))
        env = dict(os.environ, BENCH_NS_PREFIX=f"hbench-b-{self.ctx['tag']}")
        sh([WIRING, "setup-bridge"])
        try:
            def wiring(i):
                t0 = time.perf_counter()
                r = subprocess.run([WIRING, "run", str(i), "18070"], env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=CMD_TIMEOUT)
                ms = (time.perf_counter() - t0) * 1000
                if r.returncode != 0:
                    raise Failed(f"baseline_wiring.sh run {i}: {r.stderr.strip()[-300:]}")
                return ms
            self.loop("ip/iptables script: bridge+veth+DNAT, true, teardown", wiring, self.n(20, 6),
                      baseline="unshare --net --uts --ipc --pid --mount --fork true")
        finally:
            sh([WIRING, "teardown-bridge"], check=False)

    def peers(self):
        for tool in ("podman", "docker"):
            path = shutil.which(tool)
            if not path:
                self.res.notes.append(f"{tool} is not installed: no {tool} rows (not a dependency)")
                continue
            info = sh([tool, "info"], check=False, timeout=20)
            if info.returncode != 0:
                self.res.notes.append(f"{tool} is installed ({path}) but `{tool} info` fails "
                                      f"({(info.stderr or '').strip().splitlines()[-1:] or ['?']}): no {tool} rows")
                continue
            imgs = sh([tool, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], check=False).stdout.split()
            imgs = [i for i in imgs if "<none>" not in i]
            if not imgs:
                self.res.notes.append(f"{tool} works but has no local image (the suite never pulls one): no {tool} rows")
                continue
            img = next((i for i in imgs if i.startswith(("alpine", "busybox", "docker.io/library/alpine",
                                                         "docker.io/library/busybox"))), imgs[0])
            # Only --network none: docker's bridge lives in the daemon's (the real host's) network
            # namespace, which this suite never touches.
            self.loop(f"{tool} run --rm --network none ({img}) true",
                      lambda i: timed([tool, "run", "--rm", "--network", "none", img, "true"])[0], self.n(10, 3),
                      warmup=1, baseline="unshare --net --uts --ipc --pid --mount --fork true",
                      note="bridge/-p modes not measured: they would change the real host's network")

    # -- single operations -----------------------------------------------------------------------

    def detect_ports(self):
        r = sh(self.hutch("run", "--rm", "-p", "18080:80", "--", "true"), check=False)
        if r.returncode == 0:
            self.ports_ok, why = self.probe_published_port()
            if not self.ports_ok:
                self.ports_reason = f"`hutch run -p` is accepted but the published port does not answer ({why})"
        else:
            self.ports_ok = False
            err = (r.stderr or "").strip()
            self.ports_reason = f"`hutch run -p` failed: {err[-200:]}"
        print(f"port publishing: {'works' if self.ports_ok else self.ports_reason}", flush=True)

    def probe_published_port(self):
        """Is -p really wired? A container listening on :80, published as 18079, must answer on
        127.0.0.1:18079 and 192.0.2.1:18079 (from the host namespace) within a few seconds."""
        import socket
        server = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  "s.bind(('',80));s.listen(8)\nwhile True:\n c,_=s.accept();c.sendall(b'hutch-bench');c.close()")
        try:
            _, r = timed(self.hutch("run", "-d", "-p", "18079:80", "--", "/usr/bin/python3", "-c", server), capture=True)
        except (Failed, Skip) as e:
            return False, str(e)
        cid = r.stdout.strip()
        why = {}
        try:
            for addr in ("127.0.0.1", HOST_OUT_IP):
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline:
                    try:
                        with socket.create_connection((addr, 18079), timeout=1) as c:
                            if c.recv(32) == b"hutch-bench":
                                why[addr] = "ok"
                                break
                    except OSError as e:
                        why[addr] = e.strerror or str(e)
                    time.sleep(0.1)
        finally:
            sh(self.hutch("rm", "-f", cid), check=False)
        ok = all(v == "ok" for v in why.values())
        return ok, ", ".join(f"{a}:18079 {v}" for a, v in why.items())

    def need_ports(self):
        if not self.ports_ok:
            raise Skip(self.ports_reason)

    def single_ops(self):
        print("hutch: single operations", flush=True)
        base = "unshare --net --uts --ipc --pid --mount --fork true"
        # first run in a fresh state root: creates the database, hutch0 and the nft table
        try:
            ms, _ = timed(self.hutch("run", "--rm", "--", "true"))
            self.res.add("run --rm bridge -- true, cold (new root, creates hutch0)", [ms], baseline=base)
        except Failed as e:
            self.res.add("run --rm bridge -- true, cold (new root, creates hutch0)", skipped=f"failed: {e}")
        self.detect_ports()
        n = self.n(40, 12)
        self.paired("run --rm --net none -- true",
                    lambda i: timed(self.hutch("run", "--rm", "--net", "none", "--", "true"))[0], n, "<= 3x")
        for mode in ("host", "bridge"):
            self.loop(f"run --rm --net {mode} -- true",
                      lambda i, m=mode: timed(self.hutch("run", "--rm", "--net", m, "--", "true"))[0],
                      n, baseline=base)

        def run_p(i):
            self.need_ports()
            return timed(self.hutch("run", "--rm", "-p", "18080:80", "--", "true"))[0]
        self.paired("run --rm -p 18080:80 -- true (bridge)", run_p, n, "<= 8x (~25 ms)")

        # run -d + rm -f, timed separately (rm -f alone = teardown cost)
        for label, extra in (("bridge", []), ("bridge -p", ["-p", "18081:80"])):
            runs, rms, both = [], [], []
            try:
                if extra:
                    self.need_ports()
                for i in range(self.n(30, 10) + 2):
                    t1, r = timed(self.hutch("run", "-d", *extra, "--", "sleep", "600"), capture=True)
                    cid = r.stdout.strip()
                    t2, _ = timed(self.hutch("rm", "-f", cid))
                    if i >= 2:
                        runs.append(t1), rms.append(t2), both.append(t1 + t2)
            except Skip as e:
                for nm in (f"run -d ({label})", f"rm -f ({label}): teardown", f"run -d + rm -f ({label})"):
                    self.res.add(nm, skipped=str(e))
                continue
            except (Failed, subprocess.TimeoutExpired) as e:
                self.cleanup_containers()
                self.res.add(f"run -d + rm -f ({label})", skipped=f"failed: {e}")
                continue
            self.res.add(f"run -d ({label})", runs, baseline=base)
            self.res.add(f"rm -f ({label}): teardown", rms, baseline=base)
            self.res.add(f"run -d + rm -f ({label})", both, baseline=base)

        # pod create with a port + pod rm -f
        creates, rms = [], []
        try:
            self.need_ports()
            for i in range(self.n(20, 6) + 1):
                t1, _ = timed(self.hutch("pod", "create", "--name", f"bp{i}", "-p", "18090:80"), capture=True)
                t2, _ = timed(self.hutch("pod", "rm", "-f", f"bp{i}"), capture=True)
                if i >= 1:
                    creates.append(t1), rms.append(t2)
            self.res.add("pod create -p 18090:80", creates, baseline=base)
            self.res.add("pod rm -f (with a port)", rms, baseline=base)
            self.res.add("pod create -p + pod rm -f", [a + b for a, b in zip(creates, rms)], baseline=base)
        except Skip as e:
            self.res.add("pod create -p + pod rm -f", skipped=str(e))
        except (Failed, subprocess.TimeoutExpired) as e:
            self.cleanup_containers()
            self.res.add("pod create -p + pod rm -f", skipped=f"failed: {e}")

        # exec into a running container
        try:
            _, r = timed(self.hutch("run", "-d", "--", "sleep", "600"), capture=True)
            cid = r.stdout.strip()
            self.loop("exec CTR true", lambda i: timed(self.hutch("exec", cid, "true"))[0], self.n(40, 12),
                      baseline=base)
            sh(self.hutch("rm", "-f", cid), check=False)
        except (Failed, subprocess.TimeoutExpired) as e:
            self.res.add("exec CTR true", skipped=f"failed: {e}")

    # -- 200 published containers, memory --------------------------------------------------------

    def shim_of(self, cid):
        want = f"/containers/{cid}/exit"
        for pid in all_pids():
            argv = cmdline(pid)
            if len(argv) > 2 and argv[0].endswith("hutch-shim") and argv[1] == "run" and any(a.endswith(want) for a in argv):
                return pid
        return None

    def probe_run_rm_p(self, k):
        """k samples of `run --rm -p 30999:80 -- true`, each divided by an unshare sample taken
        right before it (issue 14: the Nth published container must cost what the 1st does)."""
        out = []
        for _ in range(k):
            u = timed(UNSHARE)[0]
            ms, _r = timed(self.hutch("run", "--rm", "-p", "30999:80", "--", "true"))
            out.append((ms, ms / u))
        return out

    def many(self):
        if self.ports_ok is None:
            self.detect_ports()
        count = self.n(1000, 30)
        checkpoints = sorted({c for c in (200, count) if c <= count})
        published = bool(self.ports_ok)
        what = "published" if published else "bridge, no -p"
        print(f"hutch: {count} detached containers ({what})", flush=True)
        if not published:
            self.res.notes.append(f"1st-vs-Nth ran without -p ({self.ports_reason}): it shows veth/IPAM/store "
                                  f"growth only, not DNAT rule growth")
        self.cleanup_containers()
        time.sleep(0.5)
        mem0 = meminfo()
        times, ids = [], []
        k = min(10, count // 5)
        unshare = {}  # i -> an unshare sample taken right before run i (first and last k only)
        probes = {}   # containers running -> samples of `run --rm -p` (ms, ratio to unshare)
        try:
            if published:
                probes[0] = self.probe_run_rm_p(self.n(15, 5))
            for i in range(count):
                if published and i in checkpoints:
                    probes[i] = self.probe_run_rm_p(self.n(15, 5))
                extra = ["-p", f"{20000 + i}:80"] if published else []
                if i < k or i >= count - k:
                    unshare[i] = timed(UNSHARE)[0]
                ms, r = timed(self.hutch("run", "-d", *extra, "--", "sleep", "3600"), capture=True)
                times.append(ms)
                ids.append(r.stdout.strip())
            if published:
                probes[count] = self.probe_run_rm_p(self.n(15, 5))
        except (Failed, subprocess.TimeoutExpired) as e:
            self.res.add(f"1st vs {count}th container", skipped=f"failed after {len(ids)}: {e}")
        if 0 in probes:
            base = "run --rm -p, 0 others running / paired unshare"
            self.res.add("run --rm -p, 0 others running", [m for m, _ in probes[0]])
            self.res.add(base, [r for _, r in probes[0]], unit="x")
            for c in sorted(probes):
                if c == 0:
                    continue
                self.res.add(f"run --rm -p, {c} published running", [m for m, _ in probes[c]],
                             baseline="run --rm -p, 0 others running")
                self.res.add(f"run --rm -p, {c} published running / paired unshare", [r for _, r in probes[c]],
                             unit="x", baseline=base, target="<= 1.1x" if c == 200 else None)
        if len(times) == count:
            self.res.add(f"run -d #1 ({what})", [times[0]], extra=dict(all_ms=[round(x, 3) for x in times]))
            self.res.add(f"run -d #{count} ({what})", [times[-1]], baseline=f"run -d #1 ({what})",
                         target="<= 1.3x" if published else None)
            self.res.add(f"run -d #1-{k} ({what})", times[:k])
            self.res.add(f"run -d #{count - k + 1}-{count} ({what})", times[-k:],
                         baseline=f"run -d #1-{k} ({what})", target="<= 1.3x" if published else None)
            # The same, each run divided by the unshare sample taken just before it: the machine's
            # speed drifts during the minute the loop takes, and this ratio does not.
            first = f"run -d #1-{k} / paired unshare"
            self.res.add(first, [times[i] / unshare[i] for i in range(k)], unit="x")
            self.res.add(f"run -d #{count - k + 1}-{count} / paired unshare",
                         [times[i] / unshare[i] for i in range(count - k, count)], unit="x",
                         baseline=first, target="<= 1.3x" if published else None)
        time.sleep(1.0)
        # memory of the idle detached containers
        pmap = ppid_map()
        shim_rss, shim_pss, tree_pss, init_pss = [], [], 0, []
        for cid in ids:
            pid = self.shim_of(cid)
            if not pid:
                continue
            m = proc_mem(pid)
            if m:
                shim_rss.append(m[0]), shim_pss.append(m[1])
            for d in descendants([pid], pmap):
                md = proc_mem(d)
                if md:
                    tree_pss += md[1]
                    if d != pid and cmdline(d)[:2] == ["hutch-shim", "init"]:
                        init_pss.append(md[1])
        mem1 = meminfo()
        if shim_rss:
            self.res.add("shim VmRSS (detached, idle)", shim_rss, unit="KiB", target="<= 1024 KiB")
            self.res.add("shim Pss (detached, idle)", shim_pss, unit="KiB")
            if init_pss:
                self.res.add("container init Pss (hutch-shim init)", init_pss, unit="KiB")
            self.res.add(f"{len(ids)} idle containers: Pss of shim+init+sleep", value=tree_pss / 1024, unit="MiB",
                         target=f"< {count} MiB (1 MiB each)" if count >= 200 else None)
            drop = (mem0["MemAvailable"] - mem1["MemAvailable"]) / 1024
            self.res.add(f"{len(ids)} idle containers: MemAvailable drop", value=drop, unit="MiB",
                         target=f"< {count} MiB (1 MiB each)" if count >= 200 else None,
                         note="includes kernel memory (netns, veths, conntrack, page tables); noisy if "
                              "other work runs on the machine",
                         extra=dict(slab_delta_MiB=(mem1.get("Slab", 0) - mem0.get("Slab", 0)) / 1024))
        else:
            self.res.add("shim VmRSS (detached, idle)", skipped="no shim processes found")
        # teardown of all of them (rm -f in batches of 50)
        t0 = time.perf_counter()
        for i in range(0, len(ids), 50):
            sh(self.hutch("rm", "-f", *ids[i:i + 50]), check=False, timeout=300)
        if ids:
            self.res.add(f"rm -f of {len(ids)} (batches of 50), per container",
                         value=(time.perf_counter() - t0) * 1000 / len(ids), unit="ms")
        self.cleanup_containers()

    # -- parallel throughput ---------------------------------------------------------------------

    def parallel(self):
        print("hutch: parallel run -d", flush=True)
        for callers in (2, 8):
            total = self.n(48, 16)
            per = total // callers
            lat, ids, errors = [], [], []
            lock = threading.Lock()

            def worker(w):
                for j in range(per):
                    try:
                        ms, r = timed(self.hutch("run", "-d", "--", "sleep", "600"), capture=True)
                        with lock:
                            lat.append(ms), ids.append(r.stdout.strip())
                    except Exception as e:  # noqa: BLE001 - reported as a skipped row
                        with lock:
                            errors.append(str(e))
                        return
            ths = [threading.Thread(target=worker, args=(w,)) for w in range(callers)]
            t0 = time.perf_counter()
            for t in ths:
                t.start()
            for t in ths:
                t.join(CMD_TIMEOUT * per)
            wall = time.perf_counter() - t0
            if errors:
                self.res.add(f"run -d throughput, {callers} callers", skipped=f"failed: {errors[0]}")
            else:
                seq = self.res.get("run -d (bridge)")
                base_rate = 1000 / seq["median"] if seq else None
                row = self.res.add(f"run -d throughput, {callers} callers", value=len(ids) / wall, unit="/s",
                                   higher_is_better=True,
                                   note=(f"sequential: {base_rate:.1f}/s; per-call median under load "
                                         f"{statistics.median(lat):.1f} ms, p95 {pct(lat, 95):.1f} ms")
                                   if base_rate else None,
                                   extra=dict(latencies_ms=lat, wall_s=wall, containers=len(ids)))
                row["p95"] = None
            for i in range(0, len(ids), 50):
                sh(self.hutch("rm", "-f", *ids[i:i + 50]), check=False, timeout=300)
        self.cleanup_containers()

    # -- TCP throughput --------------------------------------------------------------------------

    def iperf(self):
        print("iperf3: published port vs direct", flush=True)
        if not shutil.which("iperf3"):
            self.res.add("iperf3 rows", skipped="iperf3 is not installed (make deps installs it)")
            return
        secs = 1 if self.quick else 3
        try:
            _, r = timed(self.hutch("run", "-d", *(["-p", "15201:5201"] if self.ports_ok else []), "--",
                                    "iperf3", "-s"), capture=True)
        except (Failed, Skip) as e:
            self.res.add("iperf3 rows", skipped=f"failed to start the server container: {e}")
            return
        cid = r.stdout.strip()
        ip = json.loads(sh(self.hutch("inspect", cid)).stdout)[0]["NetworkSettings"]["IPAddress"]
        # Let the outside namespace route straight to the container subnet (the "direct" path).
        sh(self.in_outside(["ip", "route", "replace", HUTCH_SUBNET, "via", HOST_OUT_IP]), check=False)
        # hutch's forward chain only admits DNATed traffic into hutch0 from outside; for the direct
        # comparison, admit the outside link too (this throwaway namespace only, rule tagged).
        fw = sh(["nft", "insert", "rule", "ip", "hutch", "fwd-bridge", "iifname", self.ctx["host_if"],
                 "accept", "comment", "\"hutch-bench direct path\""], check=False)
        direct_note = None if fw.returncode == 0 else f"could not admit the direct path: {fw.stderr.strip()}"
        time.sleep(0.3)

        def run_client(argv_prefix, addr, port):
            for attempt in range(3):
                r = sh(argv_prefix + ["iperf3", "-c", addr, "-p", str(port), "-t", str(secs), "-J",
                                      "--connect-timeout", "2000"], check=False, timeout=secs + 20)
                try:
                    d = json.loads(r.stdout)
                except ValueError:
                    d = {"error": (r.stderr or r.stdout).strip()[-300:]}
                if r.returncode == 0 and "error" not in d:
                    return d["end"]["sum_received"]["bits_per_second"] / 1e9, \
                        [iv["sum"]["bits_per_second"] / 1e9 for iv in d["intervals"]]
                time.sleep(0.3)
            raise Failed(f"iperf3 -c {addr} -p {port}: {d.get('error')}")

        cases = [
            ("outside -> container IP (direct)", self.in_outside([]), ip, 5201, None),
            ("outside -> 192.0.2.1:15201 (published)", self.in_outside([]), HOST_OUT_IP, 15201,
             "outside -> container IP (direct)"),
            ("host -> container IP (direct)", [], ip, 5201, None),
            ("host -> 127.0.0.1:15201 (published)", [], "127.0.0.1", 15201, "host -> container IP (direct)"),
        ]
        # Rounds of the four cases back to back (direct, then published): one 3-s sample each varied
        # by +-10% between runs, so each row is the median of the rounds, taken close in time.
        rounds = 1 if self.quick else 3
        runnable, got, ivs_of, failed = [], {}, {}, {}
        for name, prefix, addr, port, base in cases:
            if port == 15201 and not self.ports_ok:
                self.res.add("iperf3 " + name, skipped=self.ports_reason)
            elif "outside -> container" in name and direct_note:
                self.res.add("iperf3 " + name, skipped=direct_note)
            else:
                runnable.append((name, prefix, addr, port, base))
        for _ in range(rounds):
            for name, prefix, addr, port, base in runnable:
                if name in failed:
                    continue
                try:
                    gbps, ivs = run_client(prefix, addr, port)
                    got.setdefault(name, []).append(gbps)
                    ivs_of.setdefault(name, []).extend(ivs)
                except (Failed, subprocess.TimeoutExpired) as e:
                    failed[name] = e
        for name, prefix, addr, port, base in runnable:
            if name in failed:
                self.res.add("iperf3 " + name, skipped=f"failed: {failed[name]}")
                continue
            ivs = ivs_of.get(name, [])
            self.res.add("iperf3 " + name, value=statistics.median(got[name]), unit="Gbit/s", higher_is_better=True,
                         baseline=("iperf3 " + base) if base else None, p95=pct(ivs, 5) if ivs else None,
                         target=">= 0.95x" if base else None,
                         extra=dict(n=len(got[name]), rounds_gbps=[round(g, 3) for g in got[name]], intervals_gbps=ivs))
        sh(self.hutch("rm", "-f", cid), check=False)

    # -- services (issue 15) ----------------------------------------------------------------------

    FAIR_GET = ("import sys, urllib.request\n"
                "for _ in range(int(sys.argv[2])):\n"
                "    print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().split()[0], flush=True)\n")
    NAME_SRV = ("import http.server, sys\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    protocol_version = 'HTTP/1.0'\n"
                "    def do_GET(self):\n"
                "        b = sys.argv[1].encode()\n"
                "        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers()\n"
                "        self.wfile.write(b)\n"
                "    def log_message(self, *a): pass\n"
                "http.server.ThreadingHTTPServer(('0.0.0.0', 8000), H).serve_forever()\n")

    def services(self):
        """Service create and endpoint join/leave at 1 and at 1,000 services (each of the 999
        fillers with 3 endpoints, so the maps hold ~60,000 slots), ClusterIP vs pod IP and NodePort
        vs -p throughput (iperf3), and fairness over 3 endpoints."""
        print("services", flush=True)
        h = self.hutch
        n = self.n(15, 5)
        fillers_n = self.n(999, 99)
        ids = []

        def run_d(*args):
            ms, r = timed(h("run", "-d", *args), capture=True)
            ids.append(r.stdout.strip())
            return ms, r.stdout.strip()

        def scale_rows(k):
            # create: a service (no endpoints) created, timed, then removed (untimed)
            def create(i):
                ms, _ = timed(h("service", "create", f"bc-{k}-{i}", "--selector", f"app=bc-{k}-{i}", "--port", "80"))
                sh(h("service", "rm", f"bc-{k}-{i}"))
                return ms
            self.loop(f"service create, {k} service(s) there", create, n,
                      baseline="service create, 1 service(s) there" if k > 1 else None,
                      target="<= 1.3x" if k > 1 else None)
            # join/leave: run -d of a container the target service selects, and its rm -f; the
            # same without the label (the difference is the endpoint's cost)
            join, leave, plain_run, plain_rm = [], [], [], []
            for i in range(n + 2):
                ms, cid = run_d("--label", "app=btarget", "--", "sleep", "600")
                ms2, _ = timed(h("rm", "-f", cid))
                ms3, cid3 = run_d("--", "sleep", "600")
                ms4, _ = timed(h("rm", "-f", cid3))
                if i >= 2:
                    join.append(ms), leave.append(ms2), plain_run.append(ms3), plain_rm.append(ms4)
            base = k > 1
            self.res.add(f"endpoint join: run -d (selected), {k} service(s)", join,
                         baseline="endpoint join: run -d (selected), 1 service(s)" if base else None,
                         target="<= 1.3x" if base else None)
            self.res.add(f"endpoint leave: rm -f (selected), {k} service(s)", leave,
                         baseline="endpoint leave: rm -f (selected), 1 service(s)" if base else None,
                         target="<= 1.3x" if base else None)
            self.res.add(f"run -d (not selected), {k} service(s)", plain_run)
            self.res.add(f"rm -f (not selected), {k} service(s)", plain_rm)
            self.res.add(f"endpoint join+leave cost (selected - not), {k} service(s)",
                         value=statistics.median(join) + statistics.median(leave)
                         - statistics.median(plain_run) - statistics.median(plain_rm), unit="ms",
                         note="difference of medians")

        try:
            sh(h("service", "create", "btarget", "--selector", "app=btarget", "--port", "80"))
            scale_rows(1)
            for j in range(3):
                run_d("--label", "bench-fill=1", "--", "sleep", "600")
            t0 = time.perf_counter()
            for i in range(fillers_n):
                sh(h("service", "create", f"bf-{i}", "--selector", "bench-fill=1", "--port", "80:8080"))
            self.res.notes.append(f"{fillers_n} filler services with 3 endpoints each created in "
                                  f"{time.perf_counter() - t0:.1f} s")
            scale_rows(fillers_n + 1)
            for i in range(fillers_n):
                sh(h("service", "rm", f"bf-{i}"), check=False)
            sh(h("service", "rm", "btarget"), check=False)
        except (Failed, subprocess.TimeoutExpired) as e:
            self.res.add("services scale rows", skipped=f"failed: {e}")
        self.cleanup_containers()
        self.services_fairness()
        self.services_iperf()

    def services_fairness(self):
        h = self.hutch
        try:
            for name in ("f1", "f2", "f3"):
                sh(h("run", "-d", "--name", name, "--label", "app=fair", "--", "/usr/bin/python3", "-c",
                     self.NAME_SRV, name))
            sh(h("service", "create", "fair", "--selector", "app=fair", "--port", "80:8000"))
            vip = json.loads(sh(h("service", "inspect", "fair")).stdout)[0]["ClusterIP"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if sh(["curl", "-s", "--max-time", "1", f"http://{vip}/"], check=False).returncode == 0:
                    break
                time.sleep(0.2)
            total = self.n(600, 150)
            out = sh(["/usr/bin/python3", "-c", self.FAIR_GET, f"http://{vip}/", str(total)], timeout=300).stdout.split()
            counts = {k: out.count(k) for k in ("f1", "f2", "f3")}
            exp = total / 3
            chi2 = sum((c - exp) ** 2 / exp for c in counts.values())
            p = math.exp(-chi2 / 2)  # chi-square survival function, 2 degrees of freedom
            self.res.add(f"fairness: {total} requests over 3 endpoints, chi-square p", value=p, unit="p",
                         higher_is_better=True, target="> 0.001",
                         note="counts " + "/".join(str(counts[k]) for k in ("f1", "f2", "f3")) + f", chi2 {chi2:.2f}",
                         extra=dict(counts=counts, chi2=chi2))
        except (Failed, subprocess.TimeoutExpired, ValueError, KeyError) as e:
            self.res.add("fairness", skipped=f"failed: {e}")
        sh(h("service", "rm", "fair"), check=False)
        self.cleanup_containers()

    def services_iperf(self):
        h = self.hutch
        if not shutil.which("iperf3"):
            self.res.add("iperf3 service rows", skipped="iperf3 is not installed (make deps installs it)")
            return
        secs = 1 if self.quick else 3
        rounds = 1 if self.quick else 3
        try:
            _, r = timed(h("run", "-d", "--label", "app=iperf", "-p", "15202:5201", "--", "iperf3", "-s"), capture=True)
            cid = r.stdout.strip()
            sh(h("service", "create", "iperf", "--selector", "app=iperf", "--port", "5201", "--type", "NodePort",
                 "--node-port", "30201"))
            vip = json.loads(sh(h("service", "inspect", "iperf")).stdout)[0]["ClusterIP"]
            ip = json.loads(sh(h("inspect", cid)).stdout)[0]["NetworkSettings"]["IPAddress"]
            _, r = timed(h("run", "-d", "--", "sleep", "600"), capture=True)
            client = r.stdout.strip()
        except (Failed, subprocess.TimeoutExpired) as e:
            self.res.add("iperf3 service rows", skipped=f"failed to set up: {e}")
            self.cleanup_containers()
            return
        time.sleep(0.5)

        def measure(prefix, addr, port):
            for attempt in range(3):
                r = sh(prefix + ["iperf3", "-c", addr, "-p", str(port), "-t", str(secs), "-J", "--connect-timeout", "2000"],
                       check=False, timeout=secs + 30)
                try:
                    d = json.loads(r.stdout)
                except ValueError:
                    d = {"error": (r.stderr or r.stdout).strip()[-300:]}
                if r.returncode == 0 and "error" not in d:
                    return d["end"]["sum_received"]["bits_per_second"] / 1e9
                time.sleep(0.3)
            raise Failed(f"iperf3 -c {addr} -p {port}: {d.get('error')}")

        ctr = h("exec", client)
        cases = [
            ("container -> pod IP (direct)", ctr, ip, 5201, None),
            ("container -> ClusterIP", ctr, vip, 5201, "container -> pod IP (direct)"),
            ("outside -> 192.0.2.1:15202 (-p)", self.in_outside([]), HOST_OUT_IP, 15202, None),
            ("outside -> 192.0.2.1:30201 (NodePort)", self.in_outside([]), HOST_OUT_IP, 30201,
             "outside -> 192.0.2.1:15202 (-p)"),
        ]
        got, failed = {}, {}
        for _ in range(rounds):
            for name, prefix, addr, port, base in cases:
                if name in failed:
                    continue
                try:
                    got.setdefault(name, []).append(measure(prefix, addr, port))
                except (Failed, subprocess.TimeoutExpired) as e:
                    failed[name] = e
        for name, prefix, addr, port, base in cases:
            if name in failed:
                self.res.add("iperf3 " + name, skipped=f"failed: {failed[name]}")
                continue
            self.res.add("iperf3 " + name, value=statistics.median(got[name]), unit="Gbit/s", higher_is_better=True,
                         baseline=("iperf3 " + base) if base else None, target=">= 0.95x" if base else None,
                         extra=dict(rounds_gbps=[round(g, 3) for g in got[name]]))
        sh(h("service", "rm", "iperf"), check=False)
        self.cleanup_containers()

    # -- ingress (issue 17): nginx in front of a service -----------------------------------------

    WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
    WRK_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
    WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
    WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
    WRK_TOTAL = re.compile(r"(\d+) requests in")

    def wrk(self, url, secs, conns=16, extra=()):
        """wrk from the host namespace: (requests/s, p99 ms, requests, failed requests)."""
        r = sh(["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", *extra, url], check=False, timeout=secs + 30)
        m = self.WRK_RPS.search(r.stdout)
        if r.returncode != 0 or not m:
            raise Failed(f"wrk {url}: {(r.stderr or r.stdout).strip()[-300:]}")
        p = self.WRK_P99.search(r.stdout)
        p99 = float(p.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p.group(2)] if p else None
        errs = self.WRK_ERRORS.search(r.stdout)
        non2xx = self.WRK_NON2XX.search(r.stdout)
        failed = (sum(int(x) for x in errs.groups()) if errs else 0) + (int(non2xx.group(1)) if non2xx else 0)
        return float(m.group(1)), p99, int(self.WRK_TOTAL.search(r.stdout).group(1)), failed

    def ingress(self):
        """Requests/s and p99 through the ingress vs straight to the service's endpoint (same
        backend: an nginx answering 200 from memory, so the backend is not the bottleneck), and
        requests lost while the ingress reloads 20 times under load."""
        print("ingress: nginx in front of a service", flush=True)
        if not shutil.which("wrk"):
            self.res.add("ingress rows", skipped="wrk is not installed (make deps installs it)")
            return
        if not os.path.exists("/usr/sbin/nginx"):
            self.res.add("ingress rows", skipped="nginx is not installed (make deps installs nginx-light)")
            return
        secs = 2 if self.quick else 5
        work = os.path.join(os.path.dirname(self.root), "ingress-backend")
        os.makedirs(os.path.join(work, "tmp"), exist_ok=True)
        with open(os.path.join(work, "backend.conf"), "w") as f:
            f.write("daemon off; worker_processes 1; pid backend.pid; error_log stderr;\n"
                    "events { worker_connections 1024; }\n"
                    "http { access_log off; client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp;"
                    " uwsgi_temp_path tmp; scgi_temp_path tmp;\n"
                    "  server { listen 8000; location / { return 200 \"ok\\n\"; } } }\n")
        try:
            # The container's /tmp is its own: the backend's folder is mounted in.
            r = sh(self.hutch("run", "-d", "--name", "bench-backend", "-l", "app=bench-backend", "-v", f"{work}:{work}", "--",
                              "/usr/sbin/nginx", "-p", work + "/", "-c", "backend.conf", "-e", "stderr"), check=False)
            if r.returncode != 0:
                raise Failed(f"backend: {r.stderr.strip()}")
            ip = json.loads(sh(self.hutch("inspect", "bench-backend")).stdout)[0]["NetworkSettings"]["IPAddress"]
            for args in (["service", "create", "bench", "--selector", "app=bench-backend", "--port", "80:8000"],
                         ["ingress", "create", "bench", "-p", "18180:80", "--rule", "/*=bench:80"]):
                r = sh(self.hutch(*args), check=False)
                if r.returncode != 0:
                    raise Failed(f"hutch {' '.join(args)}: {r.stderr.strip()}")
            deadline = time.time() + 10
            while sh(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18180/"],
                     check=False).stdout != "200":
                if time.time() > deadline:
                    raise Failed("the ingress did not answer 200 within 10 s: " + sh(self.hutch("logs", "ingress-bench"), check=False).stdout[-600:] + sh(self.hutch("logs", "bench-backend"), check=False).stdout[-300:])
                time.sleep(0.1)
            direct, through = f"http://{ip}:8000/", "http://127.0.0.1:18180/"
            rounds = 1 if self.quick else 3
            got = {"direct": [], "ingress": []}
            for _ in range(rounds):
                got["direct"].append(self.wrk(direct, secs))
                got["ingress"].append(self.wrk(through, secs))
            for key, name, base in [("direct", "ingress: wrk straight to the endpoint (requests/s)", None),
                                    ("ingress", "ingress: wrk through the ingress (requests/s)",
                                     "ingress: wrk straight to the endpoint (requests/s)")]:
                rows = got[key]
                self.res.add(name, value=statistics.median(x[0] for x in rows), unit="/s", higher_is_better=True,
                             baseline=base, extra=dict(n=len(rows), rounds=[x[0] for x in rows],
                                                       failed=sum(x[3] for x in rows)))
                p99s = [x[1] for x in rows if x[1] is not None]
                if p99s:
                    self.res.add(name.replace("(requests/s)", "(p99 latency)"), value=statistics.median(p99s),
                                 baseline=base.replace("(requests/s)", "(p99 latency)") if base else None,
                                 extra=dict(n=len(p99s), rounds=p99s))
            # 20 reloads under load: wrk runs while `ingress update` alternates two rule sets.
            n_reloads = 20
            times, failures = [], []

            def reloads():
                """1 s after the client started: n_reloads `ingress update`s, 0.4 s apart."""
                time.sleep(1)
                for i in range(n_reloads):
                    rules = ["--rule", "/*=bench:80"] + (["--rule", f"/r{i}*=bench:80"] if i % 2 else [])
                    ms, r = timed(self.hutch("ingress", "update", "bench", *rules), capture=True)
                    times.append(ms)
                    time.sleep(0.4)
            for mode, extra in [("keep-alive", ()), ("a connection per request", ("-H", "Connection: close"))]:
                box = {}
                t = threading.Thread(target=lambda: box.update(r=self.wrk(through, n_reloads // 2 + 4, extra=extra)))
                t.start()
                reloads()
                t.join()
                rps, _, total, failed = box["r"]
                failures.append(failed)
                self.res.add(f"ingress: requests lost during {n_reloads} reloads under load ({mode})", value=failed,
                             unit="requests", target="0", extra=dict(requests=total, requests_per_s=rps))
            # The same with a client that retries idempotent requests on a reused connection the
            # server closed (RFC 9110 section 9.2.2), as HTTP libraries do: urllib3 (what
            # `requests` uses), a few threads with a keep-alive connection each.
            try:
                import urllib3  # noqa: F401
            except ImportError:
                self.res.add("ingress: requests lost during reloads (a client that retries)",
                             skipped="urllib3 is not installed (make deps installs python3-urllib3)")
            else:
                name = (f"ingress: requests lost during {n_reloads} reloads under load (keep-alive, a client that "
                        "retries idempotent requests like HTTP libraries)")
                secs_client = n_reloads // 2 + 4
                p = subprocess.Popen([sys.executable, "-c", POOLED_CLIENT, through, str(secs_client), "4"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                reloads()
                out, err = p.communicate(timeout=secs_client + 30)
                if p.returncode != 0:
                    raise Failed(f"the urllib3 client: {err.strip()[-300:]}")
                c = json.loads(out)
                self.res.add(name, value=c["failed"], unit="requests", target="0",
                             extra=dict(requests=c["ok"] + c["failed"], requests_per_s=round(c["ok"] / c["secs"]),
                                        retried=c["retried"]))
            self.res.add("ingress: hutch ingress update (render, nginx -t, swap, SIGHUP)", times)
            self.ingress_endpoint_swaps(work)
        except (Failed, Skip, subprocess.TimeoutExpired) as e:
            self.res.add("ingress rows", skipped=f"failed: {e}")
        finally:
            sh(self.hutch("ingress", "rm", "bench"), check=False)
            sh(self.hutch("service", "rm", "bench"), check=False)
            sh(self.hutch("rm", "-f", "bench-backend"), check=False)
            shutil.rmtree(work, ignore_errors=True)

    def ingress_endpoint_swaps(self, work, swaps=3):
        """The service's endpoint replaced `swaps` times (a new backend, in the service, then the
        old one removed) while wrk runs with a connection per request, through an ingress of each
        upstream mode: requests lost, and how often nginx reloaded (SIGHUPs in its log)."""
        backends = ["bench-backend"]
        try:
            for mode, flags, port in [("endpoints", [], 18181), ("service", ["--service-upstream"], 18182)]:
                ing = f"bench-{mode}"
                sh(self.hutch("ingress", "create", ing, "-p", f"{port}:80", *flags, "--rule", "/*=bench:80"))
                url = f"http://127.0.0.1:{port}/"
                deadline = time.time() + 10
                while sh(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], check=False).stdout != "200":
                    if time.time() > deadline:
                        raise Failed(f"ingress {ing} did not answer 200 within 10 s")
                    time.sleep(0.1)
                box = {}
                t = threading.Thread(target=lambda: box.update(r=self.wrk(url, swaps * 2 + 3, extra=("-H", "Connection: close"))))
                t.start()
                time.sleep(1)
                for _ in range(swaps):
                    new = f"bench-swap-{len(backends)}"
                    sh(self.hutch("run", "-d", "--name", new, "-l", "app=bench-backend", "-v", f"{work}:{work}", "--",
                                  "/usr/sbin/nginx", "-p", work + "/", "-c", "backend.conf", "-e", "stderr"))
                    backends.append(new)
                    time.sleep(0.5)
                    sh(self.hutch("rm", "-f", backends[-2]))
                    time.sleep(0.5)
                t.join()
                rps, _, total, failed = box["r"]
                logs = sh(self.hutch("logs", f"ingress-{ing}"))  # nginx's own lines are its stderr
                reloads = (logs.stdout + logs.stderr).count("(SIGHUP) received")
                self.res.add(f"ingress: requests lost while the endpoint is replaced {swaps} times ({mode} upstreams, "
                             "a connection per request)", value=failed, unit="requests", target="0",
                             extra=dict(requests=total, requests_per_s=rps, nginx_reloads=reloads))
                sh(self.hutch("ingress", "rm", ing), check=False)
        finally:
            for b in backends[1:]:
                sh(self.hutch("rm", "-f", b), check=False)
            for mode in ("endpoints", "service"):
                sh(self.hutch("ingress", "rm", "-i", f"bench-{mode}"), check=False)

    # -- profile (strace) -------------------------------------------------------------------------

    def profile(self, outdir, stamp):
        if not shutil.which("strace"):
            self.res.notes.append("strace is not installed: no profile")
            return
        args = ["run", "--rm"] + (["-p", "18080:80"] if self.ports_ok else []) + ["--", "true"]
        for i in range(3):  # warm
            sh(self.hutch(*args), check=False)
        trace = os.path.join(outdir, f"strace-{stamp}.txt")
        summary = os.path.join(outdir, f"strace-c-{stamp}.txt")
        sh(["strace", "-f", "-ttt", "-T", "-s", "64", "-o", trace] + self.hutch(*args), check=False)
        sh(["strace", "-f", "-c", "-o", summary] + self.hutch(*args), check=False)
        self.res.notes.append(f"strace of `hutch {' '.join(args)}`: {trace} (timeline), {summary} (syscall summary); "
                              "the HUTCH_TIMELINE table above has the untraced steps")

    # -- timeline (HUTCH_TIMELINE: untraced, step by step) ----------------------------------------

    def timeline(self):
        """Medians of the time between hutch's own HUTCH_TIMELINE marks (spawn -> `main` is exec,
        dynamic linking and the Swift runtime; the last step, `done` -> exit, is the process exit
        as the caller sees it)."""
        cases = [("run --rm --net none -- true", ["run", "--rm", "--net", "none", "--", "true"])]
        if self.ports_ok:
            cases.append(("run --rm -p 18080:80 -- true", ["run", "--rm", "-p", "18080:80", "--", "true"]))
        env = dict(os.environ, HUTCH_TIMELINE="1")
        self.timelines = {}
        for title, args in cases:
            steps, order = {}, []
            for i in range(self.n(40, 15) + 2):
                t0 = time.monotonic_ns()
                r = subprocess.run(self.hutch(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   env=env, timeout=CMD_TIMEOUT)
                t1 = time.monotonic_ns()
                if r.returncode != 0 or i < 2:
                    continue
                prev = t0
                for line in r.stderr.splitlines():
                    f = line.split()
                    if len(f) == 3 and f[0] == "hutch-timeline":
                        if f[1] not in order:
                            order.append(f[1])
                        steps.setdefault(f[1], []).append((int(f[2]) - prev) / 1e6)
                        prev = int(f[2])
                steps.setdefault("exit", []).append((t1 - prev) / 1e6)
                steps.setdefault("total", []).append((t1 - t0) / 1e6)
            self.timelines[title] = [(k, statistics.median(steps[k])) for k in order + ["exit", "total"] if k in steps]

    def timeline_table(self):
        out = []
        for title, rows in getattr(self, "timelines", {}).items():
            out.append(f"where the milliseconds of `hutch {title}` go (HUTCH_TIMELINE, medians; each step "
                       f"is the time since the previous mark):")
            out += [f"  {k:<14} {v:6.2f} ms" for k, v in rows]
        return "\n".join(out)

    # -- cluster (issue 16): bench/cluster_bench.py -----------------------------------------------

    def cluster(self):
        import cluster_bench
        cluster_bench.run(self)

    # -- the sandbox (issue 18) ----------------------------------------------------------------

    def sandbox(self):
        """What each part of the sandbox adds to `run --rm --net none -- true`, as paired
        differences (the variant timed right after its reference, so the VM's drift cancels), and
        the whole default set against the shared, unconfined run (what every run was before)."""
        print("sandbox", flush=True)
        run = lambda *extra: self.hutch("run", "--rm", "--net", "none", *extra, "--", "true")
        n = self.n(60, 16)
        rootfs = tempfile.mkdtemp(prefix="hbench-rootfs-")
        try:
            make_rootfs(rootfs)
            pairs = [
                ("default view (host image: overlay, private /tmp /run /var/tmp, masks) - --host-rw",
                 ["--host-rw"], [], "<= 1 ms"),
                ("--read-only - default", [], ["--read-only"], None),
                ("--rootfs DIR - default", [], ["--rootfs", rootfs], None),
                ("--rootfs DIR:O - default", [], ["--rootfs", rootfs + ":O"], None),
                ("--memory 64m - default", [], ["--memory", "64m"], None),
                ("default seccomp - seccomp=unconfined", ["--security-opt", "seccomp=unconfined"], [], "<= 1 ms"),
            ]
            for name, ref, var, target in pairs:
                wall, cpu = [], []
                try:
                    for i in range(n + 2):
                        a = timed_cpu(run(*ref))
                        b = timed_cpu(run(*var))
                        if i >= 2:
                            wall.append(b[0] - a[0]), cpu.append(b[1] - a[1])
                except (Failed, subprocess.TimeoutExpired) as e:
                    self.res.add(f"sandbox: {name}", skipped=f"failed: {e}", target=target)
                    continue
                self.res.add(f"sandbox: {name} (CPU time)", cpu, target=target)
                self.res.add(f"sandbox: {name} (wall)", wall)
            # The whole set (default view, --read-only, --memory, --pids-limit, default seccomp)
            # against the run before the sandbox: the host shared, no seccomp filter, no cgroup.
            before = "run --rm --net none --host-rw --security-opt seccomp=unconfined -- true (the run before the sandbox)"
            plain, full, plain_cpu, full_cpu = [], [], [], []
            for i in range(n + 2):
                a = timed_cpu(run("--host-rw", "--security-opt", "seccomp=unconfined"))
                b = timed_cpu(run("--read-only", "--memory", "64m", "--pids-limit", "100"))
                if i >= 2:
                    plain.append(a[0]), full.append(b[0]), plain_cpu.append(a[1]), full_cpu.append(b[1])
            whole = "run --rm --net none --read-only --memory 64m --pids-limit 100 -- true (the whole default set)"
            self.res.add(before, plain)
            self.res.add(whole, full, baseline=before, target="<= 2x")
            self.res.add(before + ", CPU time", plain_cpu)
            self.res.add(whole + ", CPU time", full_cpu, baseline=before + ", CPU time", target="<= 2x")
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

    SECTIONS = ("baselines", "peers", "single_ops", "timeline", "parallel", "many", "iperf", "sandbox", "services", "ingress", "cluster")

    def run_all(self, outdir, stamp, profile=True, only=None):
        for name in self.SECTIONS:  # the timeline right after the single operations, under the same conditions
            if not only or name in only:
                getattr(self, name)()
        if profile and not only:
            self.profile(outdir, stamp)
        self.cleanup_containers()


def inner(ctx_path):
    with open(ctx_path) as f:
        ctx = json.load(f)
    b = Bench(ctx)
    info = machine()
    stamp = ctx["stamp"]
    t0 = time.time()
    try:
        b.run_all(ctx["outdir"], stamp, profile=ctx["profile"], only=ctx.get("only"))
    finally:
        b.cleanup_containers()
        info["loadavg_end"] = read("/proc/loadavg").split()[:3]
        info["duration_s"] = round(time.time() - t0, 1)
        table = b.res.table()
        hdr = (f"hutch bench{' (quick)' if ctx['quick'] else ''}: {info['cpu']}, {info['cores']} cores, "
               f"{info['mem_MiB']} MiB, kernel {info['kernel']}, {info['os']}, hutch {info['hutch_rev']}, "
               f"load {' '.join(info['loadavg_start'])} -> {' '.join(info['loadavg_end'])}, {info['duration_s']} s")
        print("\n" + hdr + "\n\n" + table + "\n\n" + b.timeline_table())
        out = os.path.join(ctx["outdir"], f"bench-{stamp}{'-quick' if ctx['quick'] else ''}.json")
        with open(out, "w") as f:
            json.dump(dict(machine=info, quick=ctx["quick"], ports=b.ports_ok, ports_reason=b.ports_reason,
                           rows=b.res.rows, notes=b.res.notes, timelines=getattr(b, "timelines", {})), f, indent=1)
        print(f"\nraw numbers: {out}")


# ---------------------------------------------------------------------------------------------
# outer: the throwaway namespaces and state root, always removed

def outer(args):
    if os.geteuid() != 0:
        sys.exit("bench: needs root (namespaces, veths, firewall rules)")
    for tool in ("ip", "nsenter", "unshare", "nft", "iptables"):
        if not shutil.which(tool):
            sys.exit(f"bench: missing tool {tool} (run `make deps`)")
    hutch = os.path.abspath(args.hutch)
    if not os.access(hutch, os.X_OK):
        sys.exit(f"bench: no hutch binary at {hutch}")
    tag = f"{os.getpid()}-{secrets.token_hex(2)}"
    host, outside = f"hbench-h-{tag}", f"hbench-o-{tag}"
    host_if = f"hbo{secrets.token_hex(3)}"
    root = tempfile.mkdtemp(prefix="hbench-root-")
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    ctx_path = os.path.join(root, "ctx.json")
    made = []
    child = None

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for ns in (host, outside):
            sh(["ip", "netns", "add", ns])
            made.append(ns)
        H = ["ip", "-n", host]
        O = ["ip", "-n", outside]
        sh(H + ["link", "set", "lo", "up"])
        sh(O + ["link", "set", "lo", "up"])
        sh(H + ["link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", outside])
        sh(H + ["addr", "add", f"{HOST_OUT_IP}/24", "dev", host_if])
        sh(H + ["link", "set", host_if, "up"])
        sh(O + ["addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0"])
        sh(O + ["link", "set", "eth0", "up"])
        ctx = dict(quick=args.quick, hutch=hutch, root=os.path.join(root, "state"), tag=tag, stamp=stamp,
                   outside_path=f"/run/netns/{outside}", host_if=host_if, outdir=os.path.abspath(args.out),
                   profile=not args.no_profile, only=args.only.split(",") if args.only else None)
        with open(ctx_path, "w") as f:
            json.dump(ctx, f)
        env = dict(os.environ)
        env.pop("HUTCH_ROOT", None)
        env.pop("HUTCH_FIREWALL", None)
        if args.shim:
            env["HUTCH_SHIM"] = os.path.abspath(args.shim)
        child = subprocess.Popen(["nsenter", f"--net=/run/netns/{host}", "--", sys.executable,
                                  os.path.abspath(__file__), "--inner", ctx_path], env=env)
        # bounded: the whole suite must end within an hour
        rc = child.wait(timeout=3600)
        child = None
        return rc
    finally:
        if child is not None:
            try:
                child.send_signal(signal.SIGINT)
                child.wait(15)
            except Exception:  # noqa: BLE001
                child.kill()
        cleanup(root, made)


def cleanup(root, namespaces):
    """Kills every process started under the state root or living in our namespaces, unmounts
    what is under the root, deletes the namespaces and the root."""
    ns_inodes = set()
    for ns in namespaces:
        try:
            ns_inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except OSError:
            pass
    for attempt in range(3):
        victims = []
        for pid in all_pids():
            if pid == os.getpid():
                continue
            argv = cmdline(pid)
            try:
                net = os.stat(f"/proc/{pid}/ns/net").st_ino
            except OSError:
                net = None
            if any(root in a for a in argv) or net in ns_inodes:
                victims.append(pid)
        victims = descendants(victims)
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.5)
    for line in reversed(read("/proc/self/mountinfo").splitlines()):
        mp = line.split()[4]
        if mp.startswith(root):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    # the wiring baseline's own namespaces (normally gone already)
    tag = namespaces[0].split("-", 2)[-1] if namespaces else None
    if tag and os.path.isdir("/run/netns"):
        for n in os.listdir("/run/netns"):
            if n.startswith(f"hbench-b-{tag}-") or n.startswith(f"hbench-c-{tag}-"):
                subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the ~1-minute subset")
    ap.add_argument("--hutch", default=os.path.join(REPO, ".build-bench", "release", "hutch"))
    ap.add_argument("--shim", help="hutch-shim binary (default: next to hutch)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--only", metavar="SECTIONS", help="comma-separated: " + ", ".join(Bench.SECTIONS))
    ap.add_argument("--inner", metavar="CTX", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args.inner)
        return 0
    return outer(args)


if __name__ == "__main__":
    sys.exit(main())
