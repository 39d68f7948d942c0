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
import os
import platform
import re
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

    SECTIONS = ("baselines", "peers", "single_ops", "timeline", "parallel", "many", "iperf", "cluster")

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
