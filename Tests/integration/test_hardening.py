"""Issue 6: concurrency, crashes, reboots, bad input and the sandbox.

- stress: 30 `run -d` at once on one bridge (unique names, IPs, MACs, host ports), 30 `rm -f`
  at once, then an exact leak check (veths, leases, port reservations, records, processes,
  container folders);
- fault injection: every step of `Fault.steps` (HUTCH_FAULT=<step> makes hutch SIGKILL itself
  there), then `hutch gc` must repair; a killed shim; kill -9 of the CLI at random times;
- reboot: records of an earlier boot are marked exited and their leases released before
  anything new is allocated;
- a table of bad inputs: exit 125, exactly one line `hutch: ...` on stderr, state unchanged;
- sandbox: capabilities, no_new_privs, fd hygiene, private mount namespace, /etc bind mounts;
- firewall wiped by someone else (`nft flush ruleset`, `iptables -t nat -F`), restored by
  `hutch network reload`.

The state store is read with the `sqlite3` CLI (Debian package `sqlite3`).
"""
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import time

import pytest

from harness import (GATEWAY, HOST_OUT_IP, OUTSIDE_IP, PY, REPO, WHOAMI, HarnessError, cmdline, ppid_of,
                     proc_starttime, wait_until)

DEFAULT_CAPS = 0x00000000a80425fb  # Docker's default set
CAP = {"CHOWN": 0, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "NET_RAW": 13, "SYS_PTRACE": 19, "SYS_ADMIN": 21}

needs_sqlite = pytest.mark.skipif(shutil.which("sqlite3") is None,
                                  reason="needs the sqlite3 CLI to read the state store (apt-get install sqlite3)")


# ---------------------------------------------------------------------------------------------
# helpers


def mark():
    """A unique sleep duration: `sleep MARK` is findable with pgrep -f, exactly ours."""
    return f"{1000 + secrets.randbelow(8000)}.{secrets.randbelow(10 ** 6):06d}"


def sql(h, query):
    db = os.path.join(h.root, "hutch.db")
    if not os.path.exists(db):
        return ""
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", db, query], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"sqlite3 {query!r} failed: {r.stderr}"
    return r.stdout


def count(h, table):
    out = sql(h, f"select count(*) from {table}").strip()
    return int(out or 0)


def counts(h):
    return {t: count(h, t) for t in ("containers", "pods", "leases", "ports")}


def spawn(h, *args, env=None, pass_fds=()):
    """Starts `hutch --root ROOT ARGS...` inside the throwaway netns without waiting (nsenter
    execs hutch: the Popen's pid is hutch's)."""
    argv = h.argv([h.hutch_bin, "--root", h.root] + [str(a) for a in args])
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=h.hutch_env(env), start_new_session=True, pass_fds=pass_fds,
                            close_fds=True)


def finish(p, timeout=120):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        return (None, out.decode(errors="replace"), err.decode(errors="replace") + f"\n<no exit within {timeout}s>")
    return (p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, timeout=10)
    me = os.getpid()
    return [int(p) for p in r.stdout.split()
            if int(p) != me and proc_starttime(int(p)) is not None and not cmdline(int(p)).startswith("pgrep")]


def status_fields(text):
    """{'CapEff': int, ..., 'NoNewPrivs': int} from /proc/PID/status lines."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        v = v.strip()
        if k.startswith("Cap"):
            out[k] = int(v, 16)
        elif k == "NoNewPrivs":
            out[k] = int(v)
    return out


def host_bounding_set():
    with open("/proc/self/status") as f:
        return status_fields(f.read())["CapBnd"]


def rule_owners(h):
    """Container ids named in firewall rule comments ("hutch:<id>") in the throwaway netns, both
    backends."""
    text = h.sh("nft list ruleset 2>/dev/null; iptables-save 2>/dev/null", check=False).out
    return set(re.findall(r"hutch:([0-9a-f]{64})", text))


def assert_nothing_held(h, sleep_mark=None, what=""):
    """Exact leak check of the throwaway host while no container should exist or run."""
    problems = []
    # A veth goes with its container's netns (or by the helper hutch leaves at exit), and that
    # helper holds nftables sockets for a moment after the CLI exits: bounded polls, no timing
    # asserted.
    try:
        h.wait_no_veths()
        wait_until(lambda: not h.processes(), timeout=5, desc="no process in the throwaway netns")
    except HarnessError:
        pass
    veths = h.links("veth")
    if veths:
        problems.append(f"veths: {veths}")
    c = counts(h)
    for t in ("containers", "pods", "leases", "ports"):
        if c[t]:
            problems.append(f"{t} rows: {sql(h, f'select * from {t}').strip()!r}")
    if h.state_entries():
        problems.append(f"container folders: {h.state_entries()}")
    if sleep_mark:
        left = pgrep(f"sleep {sleep_mark}")
        if left:
            problems.append(f"container processes: {[(p, cmdline(p)) for p in left]}")
    shims = pgrep(f"hutch-shim.*{re.escape(h.root)}")
    if shims:
        problems.append(f"shims: {[(p, cmdline(p)) for p in shims]}")
    if h.processes():
        problems.append(f"processes in the throwaway netns: {[(p, cmdline(p)) for p in h.processes()]}")
    mounts = [l for l in open("/proc/self/mountinfo").read().splitlines() if h.root in l]
    if mounts:
        problems.append(f"mounts: {mounts}")
    owners = rule_owners(h)
    if owners:
        problems.append(f"firewall rules of containers: {sorted(owners)}")
    assert not problems, f"{what}: left behind:\n  " + "\n  ".join(problems)


def wait_no_processes(h, sleep_mark):
    wait_until(lambda: not pgrep(f"sleep {sleep_mark}") and not pgrep(f"hutch-shim.*{re.escape(h.root)}"),
               desc="the container processes and shims to go")


def records(h):
    """{name: (id, status)} straight from the store (no reconcile)."""
    out = {}
    for line in sql(h, "select name, id, status from containers").splitlines():
        name, cid, st = line.split("|")
        out[name] = (cid, st)
    return out


# ---------------------------------------------------------------------------------------------
# stress


def test_stress_30_parallel_runs_and_removes(h):
    n = 30
    sm = mark()
    h.hutch("ps", "-a")  # the store exists; the bridge does not: its creation races too
    # even: an explicit host port; odd: a random one (-p 80), allocated concurrently
    procs = []
    for i in range(n):
        spec = f"{18500 + i}:80" if i % 2 == 0 else "80"
        procs.append(spawn(h, "run", "-d", "--name", f"s{i}", "-p", spec, "--", "sleep", sm))
    results = [finish(p) for p in procs]
    failed = [(i, r) for i, r in enumerate(results) if r[0] != 0]
    ids = [r[1].strip() for r in results]
    for cid in ids:
        if re.fullmatch(r"[0-9a-f]{64}", cid):
            h.remember(cid)
    assert not failed, f"{len(failed)} of {n} concurrent `run -d` failed: {failed}"
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids), ids
    assert len(set(ids)) == n

    cs = h.inspect(*ids)
    names = [c["Name"].lstrip("/") for c in cs]
    assert sorted(names) == sorted(f"s{i}" for i in range(n))
    ips = [c["NetworkSettings"]["IPAddress"] for c in cs]
    macs = [c["NetworkSettings"]["MacAddress"] for c in cs]
    assert len(set(ips)) == n and GATEWAY not in ips, ips
    assert len(set(macs)) == n, macs
    assert all(c["State"]["Running"] for c in cs)
    host_ports = []
    for c in cs:
        binds = c["NetworkSettings"]["Ports"]["80/tcp"]
        assert len(binds) == 1, binds
        host_ports.append(int(binds[0]["HostPort"]))
    assert len(set(host_ports)) == n, f"host ports handed out twice: {sorted(host_ports)}"
    for c in cs:
        i = int(c["Name"].lstrip("/")[1:])
        if i % 2 == 0:
            assert int(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]) == 18500 + i
    assert sorted(h.links("veth")) == sorted(h.veth_name(i) for i in ids)
    assert counts(h) == {"containers": n, "pods": 0, "leases": n, "ports": n}
    assert rule_owners(h) == set(ids), "every container has its DNAT rules, nobody else's"
    leased = sorted(sql(h, "select ip from leases").split())
    assert leased == sorted(ips)

    procs = [spawn(h, "rm", "-f", f"s{i}") for i in range(n)]
    results = [finish(p) for p in procs]
    failed = [(i, r) for i, r in enumerate(results) if r[0] != 0]
    assert not failed, f"{len(failed)} of {n} concurrent `rm -f` failed: {failed}"
    assert h.ps_ids(all=True) == []
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, "after 30 parallel rm -f")


def test_stress_interleaved_runs_and_removes(h):
    """Runs and removes of different containers at the same time: the store stays exact."""
    sm = mark()
    h.hutch("ps", "-a")
    for i in range(10):
        h.run_d("--name", f"old{i}", "-p", "80", "--", "sleep", sm)
    procs = [spawn(h, "rm", "-f", f"old{i}") for i in range(10)]
    procs += [spawn(h, "run", "-d", "--name", f"new{i}", "-p", "80", "--", "sleep", sm) for i in range(10)]
    results = [finish(p) for p in procs]
    for r in results[10:]:
        if re.fullmatch(r"[0-9a-f]{64}", r[1].strip()):
            h.remember(r[1].strip())
    failed = [r for r in results if r[0] != 0]
    assert not failed, failed
    cs = h.inspect(*[f"new{i}" for i in range(10)])
    assert len({c["NetworkSettings"]["IPAddress"] for c in cs}) == 10
    assert counts(h) == {"containers": 10, "pods": 0, "leases": 10, "ports": 10}
    assert sorted(sql(h, "select owner from leases").split()) == sorted(c["Id"] for c in cs)
    h.hutch("rm", "-f", *[f"new{i}" for i in range(10)], timeout=60)
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, "after interleaved runs and removes")


# ---------------------------------------------------------------------------------------------
# fault injection


def fault_steps():
    src = open(os.path.join(REPO, "Sources", "HutchRuntime", "Fault.swift")).read()
    body = re.search(r"static let steps\s*=\s*\[(.*?)\]", src, re.S)
    assert body, "Fault.steps not found in Fault.swift"
    return re.findall(r'"([^"]+)"', body.group(1))


RUN_STEPS = ["run.after-reserve", "run.after-files", "run.after-sandbox", "run.after-bridge", "run.after-spawn", "run.after-attach",
             "run.after-ports", "run.after-running", "run.after-release"]
RM_STEPS = ["rm.after-kill", "rm.after-detach"]
POD_STEPS = ["pod.after-record", "pod.after-cgroup", "pod.after-infra"]
CLEANUP_STEPS = ["cleanup.start", "cleanup.after-detach"]
from test_ingress import INGRESS_STEPS  # noqa: E402  (walked in test_ingress.py)


def test_every_fault_step_is_covered():
    steps = fault_steps()
    assert steps, "no steps parsed"
    unknown = sorted(set(steps) - set(RUN_STEPS + RM_STEPS + POD_STEPS + CLEANUP_STEPS + INGRESS_STEPS))
    assert not unknown, f"Fault.steps has steps this file does not walk yet: {unknown}"
    gone = sorted(set(RUN_STEPS + RM_STEPS + POD_STEPS + CLEANUP_STEPS + INGRESS_STEPS) - set(steps))
    assert not gone, f"steps walked here are no longer in Fault.steps: {gone}"


def check_repaired(h, name, sm, what):
    """After gc: the container is gone, or a consistent record (exited: holds nothing; running:
    its shim, process, veth and lease all there). Removes it; then nothing is left."""
    recs = records(h)
    if name in recs:
        cid, st = recs[name]
        c = h.inspect(name)
        if c["State"]["Status"] == "running":
            assert proc_starttime(c["State"]["Pid"]) is not None, f"{what}: running record without a process"
            assert h.veth_name(cid) in h.links(), f"{what}: running record without its veth"
            assert sql(h, f"select count(*) from leases where owner='{cid}'").strip() == "1"
            h.hutch("rm", "-f", name)
        else:
            assert c["State"]["Status"] == "exited", f"{what}: status {c['State']['Status']!r} after gc"
            h.wait_veth_gone(cid)
            assert sql(h, f"select count(*) from leases where owner='{cid}'").strip() == "0", \
                f"{what}: exited record still holds a lease"
            assert sql(h, f"select count(*) from ports where owner='{cid}'").strip() == "0", \
                f"{what}: exited record still holds port reservations"
            assert not pgrep(f"sleep {sm}"), f"{what}: exited record but its process lives"
            h.hutch("rm", name)  # no -f needed: it is not running
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, what)


@pytest.mark.parametrize("step", RUN_STEPS)
@needs_sqlite
def test_fault_in_run_is_repaired_by_gc(h, step):
    sm = mark()
    h.hutch("ps", "-a")
    r = h.hutch("run", "-d", "--name", "f", "-p", "18600:80", "--", "sleep", sm, env={"HUTCH_FAULT": step},
                check=False)
    assert r.rc in (137, -9), f"HUTCH_FAULT={step}: want the self-SIGKILL (rc 137), got {r}"
    if step == "run.after-release":
        # the container was fully started: only the CLI's own exit is missing
        h.remember("f")
    half = records(h).get("f")
    g = h.hutch("gc")
    assert g.out.strip(), "gc must say what it cleaned, or 'nothing to clean'"
    if half and step != "run.after-release":
        assert half[0][:12] in g.out, f"gc should report the repaired container {half}: {g.out!r}"
    assert h.hutch("gc").out.strip() == "nothing to clean", "a second gc finds nothing more"
    check_repaired(h, "f", sm, f"after HUTCH_FAULT={step} + gc")
    # the name, address and port are free again
    h.run_d("--name", "f", "-p", "18600:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "f")
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, f"after the re-run following {step}")


@pytest.mark.parametrize("step", RUN_STEPS)
@needs_sqlite
def test_fault_in_run_is_repaired_by_next_ps(h, step):
    """Not only gc: any reconciling command (here `ps -a`) repairs."""
    sm = mark()
    h.hutch("ps", "-a")
    r = h.hutch("run", "-d", "--name", "f", "-p", "18606:80", "--", "sleep", sm, env={"HUTCH_FAULT": step},
                check=False)
    assert r.rc in (137, -9), r
    h.remember("f")
    h.hutch("ps", "-a")
    recs = records(h)
    if "f" in recs and recs["f"][1] != "running":
        cid = recs["f"][0]
        assert recs["f"][1] == "exited", f"after {step} + ps -a the record is {recs['f'][1]!r}"
        h.wait_veth_gone(cid)
        assert count(h, "leases") == 0
    if "f" not in recs:
        assert count(h, "leases") == 0 and h.state_entries() == []
        h.wait_no_veths()
    check_repaired(h, "f", sm, f"after HUTCH_FAULT={step} + ps -a")


@pytest.mark.parametrize("step", RM_STEPS)
@needs_sqlite
def test_fault_in_rm_is_repaired_by_gc(h, step):
    sm = mark()
    h.run_d("--name", "f", "-p", "18601:80", "--", "sleep", sm)
    r = h.hutch("rm", "-f", "f", env={"HUTCH_FAULT": step}, check=False)
    assert r.rc in (137, -9), f"HUTCH_FAULT={step}: want rc 137, got {r}"
    g = h.hutch("gc")
    assert g.out.strip()
    assert h.hutch("gc").out.strip() == "nothing to clean"
    check_repaired(h, "f", sm, f"after rm with HUTCH_FAULT={step} + gc")
    h.run_d("--name", "f", "-p", "18601:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "f")
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, "after the re-run")


@pytest.mark.parametrize("step", CLEANUP_STEPS)
@needs_sqlite
def test_fault_in_exit_cleanup_detached(h, step):
    """The shim's exit command (`hutch cleanup`) dies: the next gc finishes its work."""
    sm = mark()
    go = os.path.join(h.tmp, "go")
    r = h.hutch("run", "-d", "--name", "f", "-p", "18602:80", *h.share(), "--", "sh", "-c",
                f"while [ ! -e {go} ]; do sleep 0.1; done; exit 3", env={"HUTCH_FAULT": step})
    cid = r.out.strip()
    h.remember(cid)
    open(go, "w").close()
    wait_until(lambda: not pgrep(f"hutch-shim.*{cid}"), desc="the shim (and its exit command) to finish")
    h.hutch("gc")
    assert h.hutch("gc").out.strip() == "nothing to clean"
    c = h.inspect("f")
    assert c["State"]["Status"] == "exited", c["State"]
    h.wait_veth_gone(cid)
    assert counts(h)["leases"] == 0 and counts(h)["ports"] == 0
    h.hutch("rm", "f")
    check_repaired(h, "f", sm, f"after exit cleanup with HUTCH_FAULT={step}")
    h.run_d("--name", "f", "-p", "18602:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "f")
    wait_no_processes(h, sm)


@pytest.mark.parametrize("step", CLEANUP_STEPS)
@needs_sqlite
def test_fault_in_exit_cleanup_foreground(h, step):
    sm = mark()
    r = h.hutch("run", "--name", "f", "-p", "18603:80", "--", "sh", "-c", "exit 3", env={"HUTCH_FAULT": step},
                check=False)
    assert r.rc in (137, -9), f"the foreground CLI runs the cleanup and dies at {step}: want rc 137, got {r}"
    h.hutch("gc")
    check_repaired(h, "f", sm, f"after foreground cleanup with HUTCH_FAULT={step} + gc")
    h.run_d("--name", "f", "-p", "18603:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "f")
    wait_no_processes(h, sm)


@pytest.mark.parametrize("step", POD_STEPS)
@needs_sqlite
def test_fault_in_pod_create_is_repaired_by_gc(h, step):
    r = h.hutch("pod", "create", "--name", "pf", "-p", "18604:80", env={"HUTCH_FAULT": step}, check=False)
    assert r.rc in (137, -9), f"HUTCH_FAULT={step}: want rc 137, got {r}"
    h.remember("pf-infra")
    try:
        g = h.hutch("gc")
        assert g.out.strip()
        state = {"pods": sql(h, "select name, infraId from pods").strip(),
                 "containers": sql(h, "select name, status from containers").strip(),
                 "leases": count(h, "leases"), "ports": count(h, "ports"),
                 "veths": h.links("veth"), "gc": g.out.strip()}
        pods = sql(h, "select name, infraId from pods").splitlines()
        # repaired = no pod left, or a complete pod whose infra container runs
        if pods:
            name, infra = pods[0].split("|")
            assert infra, f"after {step} + gc a pod record without an infra container is left: {state}"
            st = sql(h, f"select status from containers where id='{infra}'").strip()
            assert st == "running", f"pod {name}'s infra container is {st!r}: {state}"
            h.hutch("pod", "rm", "-f", "pf")
        else:
            assert count(h, "containers") == 0 and count(h, "leases") == 0 and count(h, "ports") == 0, \
                f"after {step} + gc the pod is gone but its parts are not: {state}"
        r2 = h.hutch("pod", "create", "--name", "pf", "-p", "18604:80", check=False)
        assert r2.rc == 0, f"after {step} + gc, `pod create` with the same name and port fails: {r2}; state {state}"
        h.hutch("pod", "rm", "-f", "pf")
    finally:
        h.hutch("pod", "rm", "-f", "pf", check=False)
        for line in sql(h, "select name from pods").split():
            h.hutch("pod", "rm", "-f", line, check=False)
    assert_nothing_held(h, None, f"after pod create with HUTCH_FAULT={step}")


@needs_sqlite
def test_shim_killed_container_alive_next_ps_repairs(h):
    sm = mark()
    cid = h.run_d("--name", "v", "-p", "18605:80", "--", "sleep", sm)
    c = h.inspect(cid)
    pid = c["State"]["Pid"]
    shim = ppid_of(pid)
    assert "hutch-shim" in cmdline(shim), (shim, cmdline(shim))
    assert shim in pgrep(f"hutch-shim run.*{cid}") or cid in cmdline(shim)
    os.kill(shim, signal.SIGKILL)  # the monitor only: the container's process lives on for now
    wait_until(lambda: proc_starttime(shim) is None, desc="the shim to die")
    r = h.hutch("ps", "-a")
    line = [l for l in r.out.splitlines() if l.startswith(cid[:12])]
    assert line and "Exited" in line[0], r.out
    assert h.inspect("v")["State"]["Status"] == "exited"
    wait_until(lambda: not pgrep(f"sleep {sm}"), desc="the orphaned container process to be killed")
    h.wait_veth_gone(cid)
    assert counts(h)["leases"] == 0 and counts(h)["ports"] == 0
    h.hutch("rm", "v")
    assert_nothing_held(h, sm, "after the shim was killed")
    h.run_d("--name", "v", "-p", "18605:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "v")
    wait_no_processes(h, sm)


@needs_sqlite
def test_random_kill9_of_run_cli_then_gc(h):
    sm = mark()
    h.hutch("ps", "-a")
    # calibrate: how long a `run -d` takes here (not asserted)
    t0 = time.monotonic()
    h.run_d("--name", "cal", "--", "sleep", sm)
    span = max(0.05, time.monotonic() - t0)
    h.hutch("rm", "-f", "cal")
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    log = []
    for i in range(10):
        delay = rng.uniform(0, span * 1.2)
        p = spawn(h, "run", "-d", "--name", f"k{i}", "-p", f"{18700 + i}:80", "--", "sleep", sm)
        time.sleep(delay)
        try:
            os.kill(p.pid, signal.SIGKILL)  # the CLI only (a shim already started lives on)
        except ProcessLookupError:
            pass
        rc, out, err = finish(p, timeout=30)
        log.append((i, round(delay, 3), rc, out.strip()[:12], err.strip()))
        if re.fullmatch(r"[0-9a-f]{64}", out.strip()):
            h.remember(out.strip())
    g = h.hutch("gc")
    info = f"seed={seed} runs={log} gc={g.out!r}"
    # every record is consistent; those still running hold exactly their own resources
    for name, (cid, st) in records(h).items():
        c = h.inspect(name)
        if c["State"]["Running"]:
            assert h.veth_name(cid) in h.links(), info
        else:
            h.wait_veth_gone(cid)
            assert sql(h, f"select count(*) from leases where owner='{cid}'").strip() == "0", info
    leases = sql(h, "select ip from leases").split()
    assert len(leases) == len(set(leases)), info
    running = [n for n, (_, st) in records(h).items() if st == "running"]
    assert count(h, "leases") == len(running), info
    wait_until(lambda: len(h.links("veth")) == len(running), desc=f"one veth per running container: {info}")
    assert rule_owners(h) == {records(h)[n][0] for n in running}, info
    ids = h.ps_ids(all=True)
    if ids:
        h.hutch("rm", "-f", *ids, timeout=60)
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, f"after the random-kill loop ({info})")
    # and the names are usable again
    h.run_d("--name", "k0", "-p", "18700:80", "--", "sleep", sm)
    h.hutch("rm", "-f", "k0")
    wait_no_processes(h, sm)


# ---------------------------------------------------------------------------------------------
# reboot


@needs_sqlite
def test_reboot_records_marked_exited_and_leases_released_first(h):
    sm = mark()
    ids = [h.run_d("--name", f"b{i}", "-p", f"{18800 + i}:80", "--", "sleep", sm) for i in range(3)]
    old_ips = [h.ip_of(i) for i in ids]
    pids = [(h.inspect(i)["State"]["Pid"]) for i in ids]
    shims = [ppid_of(p) for p in pids]
    # "Reboot": the processes are gone...
    for p in shims + pids:
        os.kill(p, signal.SIGKILL)
    wait_until(lambda: not pgrep(f"sleep {sm}") and all(proc_starttime(s) is None for s in shims),
               desc="the killed processes to go")
    # ...and the records come from an earlier boot. Make the allocator start at the bottom of
    # the subnet again, so a lease that was not released would collide.
    sql(h, "update containers set bootId='0ld-b00t'")
    sql(h, "update meta set value='0ld-b00t' where key='bootId'")
    sql(h, "update networks set lastIP=NULL")
    # The first command after the reboot allocates.
    new = h.run_d("--name", "after", "-p", "18800:80", "--", "sleep", sm)
    new_ip = h.ip_of(new)
    recs = records(h)
    for i in range(3):
        assert recs[f"b{i}"][1] == "exited", recs
        h.wait_veth_gone(ids[i])
    assert sql(h, "select owner from leases").split() == [new], sql(h, "select * from leases")
    assert sql(h, "select owner from ports").split() == [new]
    assert sql(h, "select value from meta where key='bootId'").strip() == open(
        "/proc/sys/kernel/random/boot_id").read().strip()
    ps = h.hutch("ps").out
    assert new[:12] in ps and not any(i[:12] in ps for i in ids), ps
    wait_until(lambda: len(h.links("veth")) == 1, desc="one veth left")
    # The allocator started at the bottom again: the first old address is free only because its
    # lease was released before the new one was handed out.
    assert new_ip == old_ips[0], (new_ip, old_ips)
    h.hutch("rm", "-f", new, *ids)
    wait_no_processes(h, sm)
    assert_nothing_held(h, sm, "after the reboot simulation")


@needs_sqlite
def test_reboot_with_pid_reused_by_a_live_process(h):
    """After a reboot a record's pid (and even start time) may name an unrelated live process:
    the boot id alone must decide. Here the old shim and container still live (standing in for
    the new boot's unrelated processes); hutch must not trust them, nor signal them."""
    sm = mark()
    cid = h.run_d("--name", "z", "--", "sleep", sm)
    c = h.inspect(cid)
    pid, shim = c["State"]["Pid"], ppid_of(c["State"]["Pid"])
    try:
        sql(h, "update containers set bootId='0ld-b00t'")
        sql(h, "update meta set value='0ld-b00t' where key='bootId'")
        st = h.inspect("z")["State"]
        assert st["Status"] == "exited" and st["Running"] is False, st
        assert count(h, "leases") == 0
        h.wait_veth_gone(cid)
        # a pid from another boot means nothing: hutch must not have killed it
        assert proc_starttime(pid) is not None, "hutch signalled a pid recorded in an earlier boot"
    finally:
        for p in (shim, pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    wait_until(lambda: not pgrep(f"sleep {sm}") and proc_starttime(shim) is None, desc="the processes to go")
    h.hutch("rm", "-f", "z")
    assert_nothing_held(h, sm, "after the pid-reuse reboot simulation")


# ---------------------------------------------------------------------------------------------
# bad input


LONG_LABEL = "a" * 64
BAD_INPUTS = [
    # (args, strings the one-line message must contain)
    (["run", "--name", "a b", "--", "true"], ["--name", "a b"]),
    (["run", "--name", "a/b", "--", "true"], ["a/b"]),
    (["run", "--name", "", "--", "true"], ["--name"]),
    (["run", "--name", "_x", "--", "true"], ["_x"]),
    (["run", "--name", ".x", "--", "true"], [".x"]),
    (["run", "--name", "é", "--", "true"], ["--name"]),
    (["run", "--hostname", LONG_LABEL, "--", "true"], ["--hostname", LONG_LABEL]),
    (["run", "--hostname", "ok." + LONG_LABEL, "--", "true"], ["--hostname"]),
    (["run", "--hostname", "a..b", "--", "true"], ["a..b"]),
    (["run", "--hostname", "a_b", "--", "true"], ["a_b"]),
    (["run", "--hostname", "a b", "--", "true"], ["--hostname"]),
    (["run", "--hostname", "x-", "--", "true"], ["x-"]),
    (["run", "-p", "0:80", "--", "true"], ["0:80"]),
    (["run", "-p", "65536:80", "--", "true"], ["65536:80"]),
    (["run", "-p", "80:0", "--", "true"], ["80:0"]),
    (["run", "-p", "80:65536", "--", "true"], ["80:65536"]),
    (["run", "-p", "1.2.3:80:80", "--", "true"], ["1.2.3"]),
    (["run", "-p", "300.1.1.1:80:80", "--", "true"], ["300.1.1.1"]),
    (["run", "-p", "10.0.0.0/8:80:80", "--", "true"], ["10.0.0.0/8:80:80"]),
    (["run", "-p", "80:80/sctp", "--", "true"], ["sctp"]),
    (["run", "-p", "abc", "--", "true"], ["abc"]),
    (["run", "-p", "80-70:80-70", "--", "true"], ["80-70"]),
    (["run", "-p", "80-82:80-81", "--", "true"], ["80-82:80-81"]),
    (["run", "-p", "", "--", "true"], ["publish"]),
    (["run", "-p", "18090:80", "--net", "host", "--", "true"], ["host"]),
    (["run", "-p", "18090:80", "--net", "none", "--", "true"], ["none"]),
    (["run", "-p", "18090:80", "--net", "container:r1", "--", "true"], ["container"]),
    (["run", "-p", "18091:80", "-p", "18091:81", "--", "true"], ["18091"]),
    (["run", "-p", "18092:80", "--", "true"], ["18092"]),  # already published by r1
    (["run", "-e", "=x", "--", "true"], ["=x"]),
    (["run", "-e", "", "--", "true"], ["--env"]),
    (["run", "-e", "A B=c", "--", "true"], ["A B=c"]),
    (["run", "-e", "1X=y", "--", "true"], ["1X=y"]),
    (["run", "-w", "rel/dir", "--", "true"], ["rel/dir"]),
    (["run", "-w", "", "--", "true"], ["--workdir"]),
    (["run", "--bogus", "--", "true"], ["--bogus"]),
    (["run", "-Z", "--", "true"], ["-Z"]),
    (["run", "--net", "container:missing", "--", "true"], ["missing"]),
    (["run", "--net", "container:x1", "--", "true"], ["x1"]),
    (["run", "--net", "container:", "--", "true"], ["container:"]),
    (["run", "--net", "nosuchnet", "--", "true"], ["nosuchnet"]),
    (["run", "--pod", "missing", "--", "true"], ["missing"]),
    (["run", "--pod", "pp", "--hostname", "foo", "--", "true"], ["--hostname"]),
    (["run", "--pod", "pp", "-p", "18093:80", "--", "true"], ["--pod"]),
    (["run", "--pod", "pp", "--net", "host", "--", "true"], ["--pod"]),
    (["run", "--name", "r1", "--", "true"], ["r1"]),
    (["run", "--name", "x1", "--", "true"], ["x1"]),
    (["run", "--cap-add", "NOPE", "--", "true"], ["--cap-add", "NOPE"]),
    (["run", "--cap-drop", "CAP_NOPE", "--", "true"], ["--cap-drop", "CAP_NOPE"]),
    (["run", "--cap-add", "", "--", "true"], ["--cap-add"]),
    (["run", "--privileged", "--cap-add", "NOPE", "--", "true"], ["NOPE"]),
    (["run"], ["command"]),
    (["run", "--"], ["command"]),
    (["run", "--rm", "-d", "--name", "bad name", "--", "true"], ["bad name"]),
    (["kill", "-s", "NOPE", "r1"], ["NOPE"]),
    (["kill", "-s", "SIGFOO", "r1"], ["SIGFOO"]),
    (["kill", "-s", "99", "r1"], ["99"]),
    (["kill", "-s", "0", "r1"], ["--signal"]),
    (["kill", "x1"], ["x1"]),
    (["kill", "missing"], ["missing"]),
    (["rm", "r1"], ["r1"]),
    (["rm", "missing"], ["missing"]),
    (["rm"], []),
    (["exec", "x1", "true"], ["x1"]),
    (["exec", "missing", "true"], ["missing"]),
    (["exec", "-w", "rel", "r1", "true"], ["rel"]),
    (["exec", "-e", "=x", "r1", "true"], ["=x"]),
    (["exec", "r1"], ["command"]),
    (["exec", "--bogus", "r1", "true"], ["--bogus"]),
    (["stop", "-t", "abc", "r1"], ["abc"]),
    (["stop", "missing"], ["missing"]),
    (["inspect", "missing"], ["missing"]),
    (["logs", "missing"], ["missing"]),
    (["port", "missing"], ["missing"]),
    (["wait", "missing"], ["missing"]),
    (["pod", "create", "--name", "pp"], ["pp"]),
    (["pod", "create", "--name", "bad name"], ["bad name"]),
    (["pod", "create", "-p", "0:80"], ["0:80"]),
    (["pod", "create", "-p", "18092:80"], ["18092"]),
    (["pod", "create", "--net", "container:r1"], ["container"]),
    (["pod", "create", "--hostname", "bad_host"], ["bad_host"]),
    (["pod", "rm", "missing"], ["missing"]),
    (["pod", "rm", "pp"], ["pp"]),  # its member m1 runs
    (["--firewall", "pf", "ps"], ["pf"]),
    (["ps", "--bogus"], ["--bogus"]),
    (["network", "reload", "--bogus"], ["--bogus"]),
    # issue 14 §2: filters, templates, labels, --expose, --replace
    (["ps", "--filter", "bogus=1"], ["bogus"]),
    (["ps", "-q", "--filter", "status=sleeping"], ["sleeping"]),
    (["ps", "--format", "{{.Bogus}}"], [".Bogus"]),
    (["ps", "--format", "{{range .Names}}x{{end}}"], ["range"]),
    (["ps", "--format", "{{.Names"], ["{{"]),
    (["inspect", "-f", "{{.Name", "r1"], ["{{"]),
    (["inspect", "-f", "{{.Nope}}", "r1"], [".Nope"]),
    (["inspect", "--format", "{{printf \"%s\" .Name}}", "r1"], ["printf"]),
    (["pod", "ls", "--filter", "pod=pp"], ["pod"]),
    (["pod", "ls", "--format", "{{if .Name}}x{{end}}"], ["if"]),
    (["pod", "inspect", "-f", "{{.Bogus}}", "pp"], [".Bogus"]),
    (["network", "ls", "--format", "{{.Nope}}"], [".Nope"]),
    (["network", "inspect", "-f", "{{range .Containers}}{{end}}", "bridge"], ["range"]),
    (["port", "r1", "--format", "{{.HostPort}}"], [".HostPort"]),
    (["run", "-l", "=x", "--", "true"], ["--label"]),
    (["run", "--label", "", "--", "true"], ["--label"]),
    (["run", "--label", "a b=c", "--", "true"], ["a b"]),
    (["run", "--label-file", "/nonexistent/labels", "--", "true"], ["/nonexistent/labels"]),
    (["run", "--expose", "", "-P", "--", "true"], ["--expose"]),
    (["run", "--expose", "http", "--", "true"], ["http"]),
    (["run", "-P", "--expose", "80", "--net", "host", "--", "true"], ["host"]),
    (["run", "--replace", "--", "true"], ["--name"]),
    (["run", "--replace", "--name", "bad name", "--", "true"], ["bad name"]),
    (["pod", "create", "-l", "=v"], ["--label"]),
    (["pod", "create", "--replace"], ["--name"]),
    (["network", "create", "--ignore", "--internal", "bridge"], ["bridge"]),
    # issue 14 §3/§4: --add-host, --env-file, --dns, rename, network connect, names, subnets
    (["run", "--add-host", "noaddress", "--", "true"], ["--add-host", "noaddress"]),
    (["run", "--add-host", "a b:10.0.0.1", "--", "true"], ["a b"]),
    (["run", "--add-host", "db:10.0.0.300", "--", "true"], ["10.0.0.300"]),
    (["run", "--add-host", "db:", "--", "true"], ["--add-host"]),
    (["run", "--add-host", "db:10.0.0.1", "--net", "host", "--", "true"], ["--add-host", "host"]),
    (["run", "--add-host", "db:10.0.0.1", "--pod", "pp", "--", "true"], ["--pod"]),
    (["run", "--env-file", "/nonexistent/app.env", "--", "true"], ["--env-file", "/nonexistent/app.env"]),
    (["run", "--dns", "8.8.8", "--", "true"], ["--dns", "8.8.8"]),
    (["run", "--dns", "", "--", "true"], ["--dns"]),
    (["run", "--dns", "192.0.2.53", "--net", "container:r1", "--", "true"], ["--dns", "container"]),
    (["run", "--name", "n" * 300, "--", "true"], ["--name", "128"]),
    (["rename", "r1", "x1"], ["x1", "already in use"]),
    (["rename", "r1", "bad name"], ["bad name"]),
    (["rename", "missing", "other"], ["missing"]),
    (["rename", "r1"], ["NEW_NAME"]),
    (["network", "connect", "nosuchnet", "r1"], ["nosuchnet"]),
    (["network", "connect", "bridge", "missing"], ["missing"]),
    (["network", "connect", "bridge", "x1"], ["x1", "not running"]),
    (["network", "connect", "bridge", "m1"], ["m1", "pod"]),
    (["network", "connect", "--ip", "10.87", "bridge", "r1"], ["--ip", "10.87"]),
    (["network", "disconnect", "bridge", "r1"], ["bridge", "r1"]),
    (["network", "create", "--subnet", "224.0.0.0/24", "mc"], ["224.0.0.0/24", "special-purpose"]),
    (["network", "create", "--subnet", "127.0.0.0/24", "lo8"], ["127.0.0.0/24", "loopback"]),
    # the sandbox (issue 18)
    (["run", "--memory", "12zz", "--", "true"], ["--memory", "12zz"]),
    (["run", "--cpus", "-1", "--", "true"], ["--cpus", "-1"]),
    (["run", "--cpus", "0", "--", "true"], ["--cpus"]),
    (["run", "--pids-limit", "abc", "--", "true"], ["--pids-limit", "abc"]),
    (["run", "--memory-swap", "1g", "--", "true"], ["--memory-swap", "--memory"]),
    (["run", "--user", "nosuchuser-hutch", "--", "true"], ["nosuchuser-hutch"]),
    (["run", "--group-add", "nosuchgroup-hutch", "--", "true"], ["nosuchgroup-hutch"]),
    (["run", "-v", "relative:/mnt", "--", "true"], ["relative"]),
    (["run", "-v", "/nonexistent-hutch-src:/mnt", "--", "true"], ["/nonexistent-hutch-src"]),
    (["run", "-v", "/tmp:/mnt:rx", "--", "true"], ["ro or rw"]),
    (["run", "--mount", "type=bind,source=/tmp", "--", "true"], ["target"]),
    (["run", "--mount", "type=volume,target=/mnt", "--", "true"], ["type"]),
    (["run", "--rootfs", "/nonexistent-hutch-rootfs", "--", "true"], ["/nonexistent-hutch-rootfs"]),
    (["run", "--tmpfs", "relative", "--", "true"], ["--tmpfs", "relative"]),
    (["run", "--tmpfs", "/tmp:bogus", "--", "true"], ["--tmpfs", "bogus"]),
    (["run", "--security-opt", "seccomp=/nonexistent-hutch.json", "--", "true"], ["/nonexistent-hutch.json"]),
    (["run", "--security-opt", "apparmor=x", "--", "true"], ["--security-opt"]),
    # node (issue 16): refused before etcd is asked anything
    (["node", "join", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1"], ["--name"]),
    (["node", "join", "--name", "n/1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1"], ["--name", "n/1"]),
    (["node", "join", "--name", "n1", "--etcd", "192.0.2.254:2379", "--node-ip", "10.0.0.1"], ["--etcd", "192.0.2.254:2379"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "1.2.3"], ["--node-ip", "1.2.3"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--backend", "udp"], ["--backend", "udp"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--cluster-cidr", "10.0.0.0/24"], ["--cluster-cidr"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--lease-ttl", "0"], ["--lease-ttl"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--etcd-prefix", "hutch"], ["--etcd-prefix"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1"], ["10.0.0.1", "not an address"]),
    (["node", "leave"], ["not a cluster node"]),
    (["node", "inspect"], ["not a cluster node"]),
    (["node", "ls"], ["--etcd"]),
    (["node", "join", "--name", "n1", "--etcd", "http://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--etcd-cafile", "/etc/passwd"], ["--etcd-cafile", "https://"]),
    (["node", "join", "--name", "n1", "--etcd", "https://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--etcd-certfile", "/etc/passwd"], ["--etcd-certfile", "--etcd-keyfile"]),
    (["node", "join", "--name", "n1", "--etcd", "https://192.0.2.254:2379", "--node-ip", "10.0.0.1", "--etcd-cafile", "/nonexistent-hutch-ca.pem"], ["--etcd-cafile", "/nonexistent-hutch-ca.pem"]),
    (["node", "ls", "--etcd", "https://192.0.2.254:2379", "--etcd-keyfile", "/etc/passwd"], ["--etcd-keyfile", "--etcd-certfile"]),
    # issue 14 §3: start, restart, --restart, logs options
    (["run", "-d", "--restart", "foo", "--", "true"], ["--restart", "foo"]),
    (["run", "-d", "--restart", "on-failure:x", "--", "true"], ["--restart", "on-failure:x"]),
    (["run", "-d", "--restart", "on-failure:-1", "--", "true"], ["--restart", "on-failure:-1"]),
    (["run", "-d", "--restart", "always:3", "--", "true"], ["--restart", "on-failure"]),
    (["run", "-d", "--rm", "--restart", "always", "--", "true"], ["--restart", "--rm"]),
    (["run", "--restart", "always", "--", "true"], ["--restart", "-d"]),
    (["start", "nosuch-hutch"], ["nosuch-hutch"]),
    (["start", "-a", "r1", "x1"], ["start -a"]),
    (["restart", "-t", "x", "r1"], ["--time"]),
    (["restart", "nosuch-hutch"], ["nosuch-hutch"]),
    (["logs", "--tail", "abc", "r1"], ["--tail", "abc"]),
    (["logs", "--tail", "-3", "r1"], ["--tail", "-3"]),
    (["logs", "--since", "yesterday", "r1"], ["--since", "yesterday"]),
    (["logs", "--until", "2026-13-01", "r1"], ["--until", "2026-13-01"]),
    (["logs", "--since", "10x", "r1"], ["--since", "10x"]),
    (["run", "--host-rw", "--rootfs", "/", "--", "true"], ["--host-rw", "--rootfs"]),
    (["run", "--host-rw=yes", "--", "true"], ["--host-rw"]),
    (["pod", "create", "--memory", "12zz"], ["--memory", "12zz"]),
    (["pod", "create", "--cpus", "-1"], ["--cpus", "-1"]),
    (["pod", "create", "--pids-limit", "abc"], ["--pids-limit", "abc"]),
    (["pod", "create", "--memory", "1m"], ["--memory", "6m"]),
    (["pod", "create", "-v", "/nonexistent-hutch-src:/d"], ["/nonexistent-hutch-src"]),
    (["pod", "create", "-v", "relative:/d"], ["relative"]),
    (["stats", "--no-stream", "nosuch-hutch"], ["nosuch-hutch"]),
    (["stats", "--no-stream", "--format", "{{.Nope"], ["--format"]),
    # issue 15: services (the rows that need a service or a -p first are in test_services.py)
    (["service", "create", "s1", "--selector", "app=web", "--port", "0"], ["--port", "0"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "65536"], ["--port", "65536"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80:0"], ["--port", "80:0"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80:70000"], ["70000"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80/sctp"], ["sctp"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "x"], ["--port", "x"]),
    (["service", "create", "s1", "--selector", "app=web"], ["--port"]),
    (["service", "create", "s1", "--port", "80"], ["--selector"]),
    (["service", "create", "s1", "--selector", "", "--port", "80"], ["--selector"]),
    (["service", "create", "s1", "--selector", "app", "--port", "80"], ["--selector", "app"]),
    (["service", "create", "s1", "--selector", "=web", "--port", "80"], ["--selector", "=web"]),
    (["service", "create", "s1", "--selector", "app=web,", "--port", "80"], ["--selector"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--type", "LoadBalancer"], ["--type", "LoadBalancer"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--type", "NodePort", "--node-port", "80"], ["--node-port", "80"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--type", "NodePort", "--node-port", "32768"], ["32768"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--node-port", "30000"], ["--node-port"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--cluster-ip", "10.1.2.3"], ["--cluster-ip", "10.1.2.3"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--cluster-ip", "nope"], ["--cluster-ip", "nope"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--session-affinity", "Cookie"], ["Cookie"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--session-affinity-timeout", "5"], ["--session-affinity"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--type", "NodePort", "--external-traffic-policy", "Global"], ["Global"]),
    (["service", "create", "Bad_Name", "--selector", "app=web", "--port", "80"], ["Bad_Name"]),
    (["service", "create", "s1", "--selector", "app=web", "--port", "80", "--port", "80"], ["80"]),
    (["service", "inspect", "missing"], ["missing"]),
    (["service", "rm", "missing"], ["missing"]),
    # ingress (issue 17)
    (["ingress", "create", "e1", "-p", "18094:80", "--rule", "shop.example=web:80"], ["--rule", "shop.example=web:80"]),
    (["ingress", "create", "e1", "-p", "18094:80", "--rule", "bad_host/*=web:80"], ["bad_host"]),
    (["ingress", "create", "e1", "-p", "18094:80", "--rule", "/*=web:http"], ["http"]),
    (["ingress", "create", "e1", "-p", "18094:80", "--rule", "/*=nosuch:80"], ["nosuch"]),
    (["ingress", "create", "e1", "-p", "18094:80", "--default-backend", "web"], ["--default-backend"]),
    (["ingress", "create", "Bad", "-p", "18094:80", "--rule", "/*=web:80"], ["Bad"]),
    (["ingress", "create", "e1", "-p", "18094:8080", "--rule", "/*=web:80"], ["8080"]),
    (["ingress", "create", "e1", "--rule", "/*=web:80"], ["--publish"]),
    (["ingress", "create", "e1", "-p", "18094:80"], ["--rule"]),
    (["ingress", "update", "missing", "--rule", "/*=web:80"], ["missing"]),
    (["ingress", "update", "e1", "--tls-cert", "/nonexistent.pem"], ["--tls-key"]),
    (["ingress", "update", "e1", "--tls", "bad_host=a.pem,a.key"], ["--tls", "bad_host"]),
    (["ingress", "update", "e1", "--tls", "a.example=a.pem"], ["--tls", "a.example=a.pem"]),
    (["ingress", "update", "missing", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], ["missing"]),
    (["ingress", "inspect", "missing"], ["missing"]),
    (["ingress", "rm", "missing"], ["missing"]),
]


def state_snapshot(h):
    return {
        "containers": sql(h, "select id, name, status, ipAddress, pid, shimPid, exitCode from containers order by id"),
        "pods": sql(h, "select * from pods order by id"),
        "leases": sql(h, "select * from leases order by ip"),
        "ports": sql(h, "select * from ports order by hostPort"),
        "networks": sql(h, "select name, id, bridge, subnet from networks order by name"),
        "folders": h.state_entries(),
        "links": sorted(h.links()),
        "nft": h.sh("nft list ruleset", check=False).out,
        "ps": h.hutch("ps", "-aq").out,
        "pods_ls": sql(h, "select name from pods"),
    }


@needs_sqlite
def test_bad_inputs_table(h):
    assert len(BAD_INPUTS) >= 40
    sm = mark()
    h.run_d("--name", "r1", "-p", "18092:80", "--", "sleep", sm)
    h.hutch("run", "--name", "x1", "--", "true")
    h.hutch("pod", "create", "--name", "pp")
    try:
        h.run_d("--pod", "pp", "--name", "m1", "--", "sleep", sm)
        r1 = h.inspect("r1")
        before = state_snapshot(h)
        failures = []
        for args, mentions in BAD_INPUTS:
            r = h.hutch(*args, check=False)
            problems = []
            if r.rc != 125:
                problems.append(f"rc {r.rc}")
            if not (r.err.startswith("hutch: ") and r.err.endswith("\n") and r.err.count("\n") == 1):
                problems.append("stderr is not exactly one line starting 'hutch: '")
            for m in mentions:
                if m not in r.err:
                    problems.append(f"message does not name {m!r}")
            after = state_snapshot(h)
            changed = [k for k in before if before[k] != after[k]]
            if changed:
                problems.append(f"state changed: {changed}: " + "; ".join(
                    f"{k}: {before[k]!r} -> {after[k]!r}" for k in changed))
                before = after
            if problems:
                failures.append(f"hutch {' '.join(repr(a) if (not a or ' ' in a) else a for a in args)}: "
                                f"{', '.join(problems)}; stderr={r.err!r}")
        assert proc_starttime(r1["State"]["Pid"]) is not None, "r1 was killed by a bad command"
        assert h.inspect("r1")["State"]["Running"]
        assert not failures, f"{len(failures)} of {len(BAD_INPUTS)} bad inputs misbehaved:\n" + "\n".join(failures)
    finally:
        h.hutch("pod", "rm", "-f", "pp", check=False)
        h.hutch("rm", "-f", "r1", "x1", check=False)
    wait_no_processes(h, sm)


@pytest.mark.parametrize("args", [["frobnicate"], ["pod", "frobnicate"], ["network", "frobnicate"]])
@pytest.mark.parametrize("with_root", [False, True], ids=["plain", "with-root"])
def test_unknown_subcommand_is_named(h, args, with_root):
    """`hutch [--root DIR] frobnicate`: 125, one line naming the unknown subcommand (not --root)."""
    before = counts(h)
    r = h.hutch(*args, check=False, root=with_root)
    assert r.rc == 125 and r.err.startswith("hutch: ") and r.err.count("\n") == 1, r
    assert "frobnicate" in r.err, f"the message should name the unknown subcommand: {r.err!r}"
    assert counts(h) == before


def test_run_help_is_not_an_error(h):
    for args in (["run", "--help"], ["help", "run"], ["run", "--rm", "--help"]):
        r = h.hutch(*args, check=False)
        assert r.rc == 0 and "USAGE" in r.out and "--publish" in r.out, f"hutch {' '.join(args)}: {r}"


def test_run_h_is_hostname_as_in_docker(h):
    r = h.hutch("run", "--rm", "--net", "none", "-h", "box1", "--", "hostname")
    assert r.out.strip() == "box1", r


# ---------------------------------------------------------------------------------------------
# sandbox


def caps_in(h, *opts):
    r = h.hutch("run", "--rm", *opts, "--", "grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status")
    return status_fields(r.out)


def test_default_capabilities_and_no_new_privs(h):
    f = caps_in(h)
    assert f["CapEff"] == DEFAULT_CAPS, hex(f["CapEff"])
    assert f["CapPrm"] == DEFAULT_CAPS, hex(f["CapPrm"])
    assert f["CapBnd"] == DEFAULT_CAPS, hex(f["CapBnd"])
    assert f["CapAmb"] == 0
    assert f["CapInh"] == 0  # empty, as Docker since CVE-2022-24769
    assert f["NoNewPrivs"] == 1
    # without the init too (the user's command is PID 1)
    f = caps_in(h, "--no-init")
    assert (f["CapEff"], f["CapBnd"], f["NoNewPrivs"]) == (DEFAULT_CAPS, DEFAULT_CAPS, 1)


def test_exec_gets_the_containers_capabilities(h):
    sm = mark()
    h.run_d("--name", "c", "--cap-drop", "NET_RAW", "--", "sleep", sm)
    f = status_fields(h.hutch("exec", "c", "grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status").out)
    want = DEFAULT_CAPS & ~(1 << CAP["NET_RAW"])
    assert (f["CapEff"], f["CapBnd"], f["NoNewPrivs"]) == (want, want, 1), {k: hex(v) for k, v in f.items()}
    h.hutch("rm", "-f", "c")


@pytest.mark.parametrize("opts,want", [
    (["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"], 1 << CAP["NET_ADMIN"]),
    (["--cap-drop", "ALL"], 0),
    (["--cap-drop", "NET_RAW"], DEFAULT_CAPS & ~(1 << CAP["NET_RAW"])),
    (["--cap-add", "SYS_ADMIN"], DEFAULT_CAPS | (1 << CAP["SYS_ADMIN"])),
    (["--cap-add", "CAP_SYS_PTRACE"], DEFAULT_CAPS | (1 << CAP["SYS_PTRACE"])),
    (["--cap-drop", "chown"], DEFAULT_CAPS & ~(1 << CAP["CHOWN"])),
])
def test_cap_add_drop(h, opts, want):
    f = caps_in(h, *opts)
    got = {k: hex(v) for k, v in f.items()}
    assert f["CapEff"] == want and f["CapPrm"] == want and f["CapBnd"] == want, (opts, hex(want), got)
    assert f["NoNewPrivs"] == 1


def test_cap_add_all(h):
    f = caps_in(h, "--cap-add", "ALL")
    assert f["CapEff"] == host_bounding_set() and f["CapBnd"] == host_bounding_set()
    assert f["NoNewPrivs"] == 1, "--cap-add ALL is not --privileged"


def test_privileged_keeps_everything(h):
    f = caps_in(h, "--privileged")
    full = host_bounding_set()
    assert f["CapEff"] == full and f["CapPrm"] == full and f["CapBnd"] == full, {k: hex(v) for k, v in f.items()}
    assert f["NoNewPrivs"] == 0


def test_dropped_capability_is_enforced(h):
    # NET_ADMIN is not in the default set: changing a link fails; with --cap-add it works
    r = h.hutch("run", "--rm", "--", "ip", "link", "set", "lo", "mtu", "1280", check=False)
    assert r.rc != 0, r
    h.hutch("run", "--rm", "--cap-add", "NET_ADMIN", "--", "ip", "link", "set", "lo", "mtu", "1280")


def fds_of(pid):
    return sorted(int(f) for f in os.listdir(f"/proc/{pid}/fd"))


def test_fd_hygiene_inside(h):
    # `ls` opens exactly one fd of its own (the directory it lists, fd 3): anything more leaked
    for opts in ([], ["--no-init"]):
        r = h.hutch("run", "--rm", *opts, "--", "sh", "-c", "exec ls -l /proc/self/fd")
        lines = [l for l in r.out.splitlines() if "->" in l]
        fds = sorted(int(l.split("->")[0].split()[-1]) for l in lines)
        assert fds == [0, 1, 2, 3], (opts, r.out)
        three = [l for l in lines if l.split("->")[0].split()[-1] == "3"][0]
        assert re.search(r"-> /proc/\d+/fd$", three), r.out


def test_fd_hygiene_seen_from_the_host(h):
    """Exact: the container's processes hold fds 0, 1, 2 and nothing else, even when the
    caller of hutch passes extra open fds down."""
    sm = mark()
    extra_r, extra_w = os.pipe()
    os.set_inheritable(extra_r, True)
    os.set_inheritable(extra_w, True)
    try:
        p = spawn(h, "run", "-d", "--name", "fd", "--", "sleep", sm, pass_fds=(extra_r, extra_w))
        rc, out, err = finish(p, timeout=60)
    finally:
        os.close(extra_r)
        os.close(extra_w)
    assert rc == 0, (rc, out, err)
    h.remember(out.strip())
    c = h.inspect("fd")
    init = c["State"]["Pid"]
    procs = [init] + [int(x) for x in open(f"/proc/{init}/task/{init}/children").read().split()]
    for pid in procs:
        assert fds_of(pid) == [0, 1, 2], (pid, cmdline(pid), {f: os.readlink(f"/proc/{pid}/fd/{f}")
                                                              for f in os.listdir(f"/proc/{pid}/fd")})
    assert os.readlink(f"/proc/{init}/fd/0") == "/dev/null"
    # exec'd processes too
    r = h.hutch("exec", "fd", "sh", "-c", "exec ls /proc/self/fd")
    assert r.out.split() == ["0", "1", "2", "3"], r.out
    h.hutch("rm", "-f", "fd")
    # and a foreground run with an inherited fd
    extra_r, extra_w = os.pipe()
    os.set_inheritable(extra_r, True)
    try:
        p = spawn(h, "run", "--rm", "--", "sh", "-c", "exec ls /proc/self/fd", pass_fds=(extra_r,))
        rc, out, err = finish(p, timeout=60)
    finally:
        os.close(extra_r)
        os.close(extra_w)
    assert rc == 0 and out.split() == ["0", "1", "2", "3"], (rc, out, err)


def test_mount_namespace_is_private(h):
    sm = mark()
    mnt = os.path.join(h.tmp, "mnt")
    os.mkdir(mnt)
    ready = os.path.join(h.tmp, "ready")
    h.run_d("--privileged", "--name", "m", *h.share(), "--", "sh", "-c",
            f"mount -t tmpfs hutchtesttmpfs {mnt} && touch {mnt}/inside && touch {ready}; exec sleep {sm}")
    wait_until(lambda: os.path.exists(ready), desc="the mount inside the container")
    pid = h.inspect("m")["State"]["Pid"]
    inside = open(f"/proc/{pid}/mountinfo").read()
    assert f" {mnt} " in inside, "the mount was not made inside"
    host = open("/proc/self/mountinfo").read()
    assert mnt not in host and "hutchtesttmpfs" not in host, "a container's mount propagated to the host"
    assert not os.path.exists(os.path.join(mnt, "inside"))
    # no mount of the container's is shared with a peer group (propagation is off, both ways)
    shared = [l for l in inside.splitlines() if " shared:" in l]
    assert not shared, shared
    h.hutch("rm", "-f", "m")
    wait_no_processes(h, sm)
    assert "hutchtesttmpfs" not in open("/proc/self/mountinfo").read()


def test_etc_files_are_private_bind_mounts(h):
    sm = mark()
    files = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
    host_before = {f: open(f, "rb").read() for f in files}
    ready = os.path.join(h.tmp, "ready")
    cid = h.run_d("--name", "e", "--hostname", "inner", *h.share(), "--", "sh", "-c",
                  "echo 10.9.9.9 scribble >> /etc/hosts && echo scribbled > /etc/hostname && "
                  f"echo 'nameserver 10.9.9.9' > /etc/resolv.conf && touch {ready}; exec sleep {sm}")
    wait_until(lambda: os.path.exists(ready), desc="the container to write its /etc files")
    pid = h.inspect("e")["State"]["Pid"]
    inside = open(f"/proc/{pid}/mountinfo").read().splitlines()
    for f in files:
        ms = [l.split() for l in inside if l.split()[4] == f]
        assert ms, f"{f} is not a mount point inside the container"
        assert f"/containers/{cid}" in ms[-1][3] or cid[:12] in ms[-1][3], (f, ms[-1])
        assert open(f, "rb").read() == host_before[f], f"the host's {f} changed"
    host_mounts = [l.split()[4] for l in open("/proc/self/mountinfo").read().splitlines()]
    assert not set(files) & set(host_mounts), "an /etc bind mount is visible on the host"
    assert "scribble" in h.hutch("exec", "e", "cat", "/etc/hosts").out
    assert "scribbled" in h.hutch("exec", "e", "cat", "/etc/hostname").out
    h.hutch("rm", "-f", "e")
    wait_no_processes(h, sm)
    for f in files:
        assert open(f, "rb").read() == host_before[f]


# ---------------------------------------------------------------------------------------------
# firewall wiped by someone else


def masq_probe(h, backend_env, expect_ok):
    r = h.hutch("exec", "c", "curl", "-sS", "--max-time", "3", f"http://{OUTSIDE_IP}:9000/", check=False,
                env=backend_env, timeout=30)
    if expect_ok:
        return r.rc == 0 and r.out.strip() == HOST_OUT_IP
    return r.rc != 0


def norm_rules(text):
    out = []
    for l in text.splitlines():
        l = l.strip()
        if not l or l.startswith("#"):
            continue
        l = re.sub(r"\[\d+:\d+\]", "", l)
        out.append(l)
    return sorted(out)


def ruleset(h, backend):
    if backend == "nftables":
        return norm_rules(h.sh("nft list ruleset").out)
    return norm_rules(h.sh("iptables-save").out)


@pytest.mark.parametrize("backend,wipe", [("nftables", "nft flush ruleset"), ("iptables", "iptables -t nat -F")])
def test_firewall_wipe_then_network_reload_restores_outbound(h, backend, wipe):
    env = {"HUTCH_FIREWALL": backend}
    sm = mark()
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    h.wait_http(f"http://{OUTSIDE_IP}:9000/")
    h.hutch("run", "-d", "--name", "c", "--", "sleep", sm, env=env)
    h.remember("c")
    wait_until(lambda: masq_probe(h, env, True), desc="outbound traffic before the wipe")
    rules_before = ruleset(h, backend)
    h.sh(wipe)
    # masquerade is gone: the outside world cannot answer a 10.87.x source
    assert masq_probe(h, env, False), "traffic still flows after the wipe: the wipe did not hit hutch's rules"
    h.hutch("network", "reload", env=env)
    wait_until(lambda: masq_probe(h, env, True), desc="outbound traffic after `hutch network reload`")
    assert ruleset(h, backend) == rules_before, "reload did not restore the same rules"
    h.hutch("rm", "-f", "c", env=env)
    wait_no_processes(h, sm)


def published_port_works(h, port, outside):
    try:
        h.wait_http(f"http://{HOST_OUT_IP}:{port}/", ns=outside, timeout=5)
        return True
    except HarnessError:
        return False


@pytest.mark.parametrize("backend,wipe", [("nftables", "nft flush ruleset"), ("iptables", "iptables -t nat -F")])
def test_firewall_wipe_then_network_reload_restores_published_port(h, backend, wipe):
    env = {"HUTCH_FIREWALL": backend}
    out = h.outside()
    h.hutch("run", "-d", "--name", "web", "-p", "18900:8080", "--", PY, WHOAMI, "0.0.0.0", "8080", env=env)
    h.remember("web")
    try:
        ip = h.ip_of("web")
        h.wait_http(f"http://{ip}:8080/")  # the server itself is up
        assert published_port_works(h, 18900, out), "the published port does not answer before the wipe"
        h.sh(wipe)
        assert not published_port_works(h, 18900, out), "the wipe did not remove the DNAT"
        h.hutch("network", "reload", env=env)
        assert h.wait_http(f"http://{HOST_OUT_IP}:18900/", ns=out).strip() == OUTSIDE_IP
    finally:
        h.hutch("rm", "-f", "web", env=env, check=False)


def test_gc_and_reload_leave_foreign_objects_alone(h):
    sm = mark()
    h.run_d("--name", "c", "--", "sleep", sm)
    h.sh("ip link add fgn0 type veth peer name fgn1")
    h.sh("nft add table ip foreign && nft add chain ip foreign post '{ type nat hook postrouting priority 100; }' "
         "&& nft add rule ip foreign post oifname fgn0 masquerade")
    h.sh("iptables -t nat -N FOREIGN && iptables -t nat -A FOREIGN -j RETURN")
    try:
        foreign_nft = h.sh("nft list table ip foreign").out
        foreign_ipt = h.sh("iptables -t nat -S FOREIGN").out
        h.hutch("gc")
        h.hutch("network", "reload")
        h.hutch("rm", "-f", "c")
        h.hutch("gc")
        assert {"fgn0", "fgn1"} <= set(h.links())
        assert h.sh("nft list table ip foreign").out == foreign_nft
        assert h.sh("iptables -t nat -S FOREIGN").out == foreign_ipt
    finally:
        h.sh("ip link del fgn0", check=False)
        h.sh("nft delete table ip foreign", check=False)
        h.sh("iptables -t nat -F FOREIGN; iptables -t nat -X FOREIGN", check=False)
    wait_no_processes(h, sm)
