"""The `cluster` section of bench/bench.py (issue 16): a namespace-built cluster on a real etcd.

    underlay netns hbench-c-TAG-ul (bridge br0 192.0.2.254/24, etcd inside it only)
      ├── node hbench-c-TAG-n1: eth0 192.0.2.1/24, its own state root
      ├── node hbench-c-TAG-n2: eth0 192.0.2.2/24
      └── node hbench-c-TAG-n3: eth0 192.0.2.3/24

Rows, per backend (vxlan, host-gw):
  - iperf3 pod -> pod on the same node and across nodes (the same run, alternated rounds);
    the cross-node row's ratio is to the same-node row (issue 16: vxlan >= 0.55x, host-gw >= 0.80x);
  - join -> route programmed on every other node: from the start of `hutch node join` on n3 to the
    last of n1's and n2's route-add events (`ip -ts monitor route`, the kernel's time of the
    change as `ip` prints it, same clock); leave -> route removed likewise;
  - the agent's resident memory and CPU while idle, with 10 nodes in the cluster (3 real ones and
    7 subnet records of nodes that do not exist: their routes are programmed all the same);
  - (vxlan) a service created or removed on n1 -> programmed on n2 and n3 (`nft monitor`), and
    the agent holding 100 services as copies.
Everything is removed in a `finally` (and the outer cleanup kills what has the state root on its
command line and deletes hbench-c-TAG-* namespaces).
"""
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

ETCD_IP = "192.0.2.254"
ETCD = f"http://{ETCD_IP}:2379"


class Fail(Exception):
    pass


def sh(argv, check=True, timeout=60, input=None):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None, input=input,
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise Fail(f"{' '.join(argv)}: rc {r.returncode}: {r.stderr.strip()[-300:]}")
    return r


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


class BenchCluster:
    def __init__(self, hutch, root, tag, backend, n=3):
        self.hutch_bin = hutch
        self.tag = tag
        self.prefix = f"hbench-c-{tag}"
        self.ul = f"{self.prefix}-ul"
        self.root = os.path.join(root, f"cluster-{backend}")
        self.backend = backend
        self.nodes = [f"{self.prefix}-n{i}" for i in range(1, n + 1)]
        self.made = []
        self.etcd = None
        self.monitors = []

    def ns(self, name, argv):
        return ["nsenter", f"--net=/run/netns/{name}", "--"] + list(argv)

    def hutch(self, i, *args):
        return self.ns(self.nodes[i - 1], [self.hutch_bin, "--root", f"{self.root}/n{i}"] + [str(a) for a in args])

    def up(self):
        os.makedirs(self.root, exist_ok=True)
        sh(["ip", "netns", "add", self.ul])
        self.made.append(self.ul)
        sh(self.ns(self.ul, ["sh", "-c", f"ip link set lo up && ip link add br0 address 02:00:c0:00:02:fe type bridge && "
                                         f"ip addr add {ETCD_IP}/24 dev br0 && ip link set br0 up"]))
        for i, n in enumerate(self.nodes, 1):
            sh(["ip", "netns", "add", n])
            self.made.append(n)
            sh(["ip", "link", "add", f"u{i}", "netns", self.ul, "type", "veth", "peer", "name", "eth0", "netns", n])
            sh(self.ns(self.ul, ["ip", "link", "set", f"u{i}", "master", "br0", "up"]))
            sh(self.ns(n, ["sh", "-c", f"ip link set lo up && ip addr add 192.0.2.{i}/24 dev eth0 && ip link set eth0 up"]))
        self.etcd = subprocess.Popen(self.ns(self.ul, [
            "etcd", "--name", "hb", "--data-dir", os.path.join(self.root, "etcd"),
            "--listen-client-urls", ETCD, "--advertise-client-urls", ETCD,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "hb=http://127.0.0.1:2380", "--heartbeat-interval", "10", "--election-timeout", "100",
            "--logger", "zap", "--log-level", "error"]), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for _ in range(100):
            if sh(self.ns(self.ul, ["curl", "-s", "-m", "1", ETCD + "/version"]), check=False).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise Fail("etcd did not start")

    def join(self, i, *extra):
        """Joins node i; returns its subnet."""
        r = sh(self.hutch(i, "node", "join", "--name", f"n{i}", "--etcd", ETCD, "--node-ip", f"192.0.2.{i}",
                          "--backend", self.backend, *extra))
        m = re.search(r"subnet (\S+),", r.stdout)
        if not m:
            raise Fail(f"node join printed no subnet: {r.stdout!r}")
        return m.group(1)

    def leave(self, i):
        sh(self.hutch(i, "node", "leave"), check=False)

    def etcd_post(self, path, body):
        r = sh(self.ns(self.ul, ["curl", "-s", "-m", "2", "-X", "POST", ETCD + path, "-d", json.dumps(body)]))
        return json.loads(r.stdout)

    def monitor(self, i):
        """`ip -ts -o monitor route` in node i: a Popen whose stdout we read later."""
        p = subprocess.Popen(self.ns(self.nodes[i - 1], ["stdbuf", "-oL", "ip", "-ts", "-o", "monitor", "route"]),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        p.pending = b""
        self.monitors.append(p)
        return p

    def down(self):
        for p in self.monitors:
            p.kill()
            p.wait()
        for i in range(1, len(self.nodes) + 1):
            if os.path.exists(f"/run/netns/{self.nodes[i - 1]}"):
                sh(self.hutch(i, "rm", "-f", "srv", "cli"), check=False)
                self.leave(i)
        if self.etcd:
            self.etcd.terminate()
            try:
                self.etcd.wait(10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()
        for n in reversed(self.made):
            sh(["ip", "netns", "del", n], check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def iperf(c, node, ip, seconds):
    r = sh(c.hutch(node, "run", "--rm", "--", "iperf3", "-c", ip, "-t", str(seconds), "-J"), timeout=seconds + 30)
    j = json.loads(r.stdout)
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


def route_events(lines, subnet):
    """(added, deleted) wall-clock times (s) of route events for subnet in `ip -ts -o monitor` lines."""
    added, deleted = [], []
    for l in lines:
        m = re.match(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]\s+(Deleted\s+)?(\S+)", l)
        if not m or m.group(3) != subnet:
            continue
        t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
        (deleted if m.group(2) else added).append(t)
    return added, deleted


def read_until(p, found, deadline):
    """Reads a monitor's lines until found(line) returns a value (returned); Fail at the deadline."""
    import select
    fd = p.stdout.fileno()
    while time.time() < deadline:
        while b"\n" in p.pending:
            line, p.pending = p.pending.split(b"\n", 1)
            v = found(line.decode(errors="replace"))
            if v is not None:
                return v
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
        if not r:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        p.pending += chunk
    raise Fail(f"the event did not come within the deadline (saw {p.pending[-300:]!r}, rc {p.poll()})")


def route_event(subnet, want_deleted):
    """found() for read_until: the time `ip -ts monitor` gives the add (or delete) of subnet."""
    def found(line):
        a, d = route_events([line], subnet)
        got = d if want_deleted else a
        return got[0] if got else None
    return found


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
    return 0


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def run(bench):
    """Adds the cluster rows to bench.res."""
    res = bench.res
    quick = bench.quick
    if not shutil.which("etcd"):
        res.add("cluster: every row", skipped="etcd is not installed (make deps: etcd-server)")
        return
    node_bin = os.path.join(os.path.dirname(bench.hutch_bin), "hutch-node")
    if not os.access(node_bin, os.X_OK):
        res.add("cluster: every row", skipped=f"no hutch-node next to {bench.hutch_bin}")
        return
    for backend in ("vxlan", "host-gw"):
        print(f"cluster ({backend})", flush=True)
        c = BenchCluster(bench.hutch_bin, bench.root + "-c", bench.ctx["tag"], backend)
        try:
            c.up()
            c.join(1)
            c.join(2)
            measure_iperf(c, res, backend, quick)
            measure_join(c, res, backend, quick)
            if backend == "vxlan":
                measure_agent(c, res, quick)
                measure_services(c, res, quick)
        except (Fail, subprocess.TimeoutExpired, KeyError, ValueError) as e:
            res.add(f"cluster {backend}", skipped=f"failed: {e}")
        finally:
            c.down()


def measure_iperf(c, res, backend, quick):
    seconds = 2 if quick else 3
    rounds = 1 if quick else 3
    sh(c.hutch(2, "run", "-d", "--name", "srv", "--", "iperf3", "-s"))
    ip = sh(c.hutch(2, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "srv")).stdout.strip()
    for _ in range(50):  # the server listens, the route to n2 is there
        if sh(c.hutch(1, "run", "--rm", "--", "bash", "-c", f"exec 3<>/dev/tcp/{ip}/5201"), check=False).returncode == 0:
            break
        time.sleep(0.1)
    same, cross = [], []
    for _ in range(rounds):
        same.append(iperf(c, 2, ip, seconds))
        cross.append(iperf(c, 1, ip, seconds))
    sh(c.hutch(2, "rm", "-f", "srv"), check=False)
    base = f"cluster {backend}: iperf3 pod -> pod, same node"
    res.add(base, value=statistics.median(same), unit="Gbit/s", higher_is_better=True,
            extra=dict(n=len(same), rounds_gbps=[round(g, 3) for g in same]))
    res.add(f"cluster {backend}: iperf3 pod -> pod, across nodes", value=statistics.median(cross), unit="Gbit/s",
            higher_is_better=True, baseline=base, target=">= 0.55x" if backend == "vxlan" else ">= 0.80x",
            extra=dict(n=len(cross), rounds_gbps=[round(g, 3) for g in cross]))


def measure_join(c, res, backend, quick):
    n = 5 if quick else 15
    joins, leaves = [], []
    for _ in range(n):
        mons = [c.monitor(1), c.monitor(2)]
        time.sleep(0.2)  # the monitors are listening
        t0 = time.time()
        subnet = c.join(3)  # round-robin: each rejoin after a leave gets the next free /24
        deadline = time.time() + 10
        joins.append((max(read_until(m, route_event(subnet, False), deadline) for m in mons) - t0) * 1000)
        t0 = time.time()
        c.leave(3)
        deadline = time.time() + 10
        leaves.append((max(read_until(m, route_event(subnet, True), deadline) for m in mons) - t0) * 1000)
        for m in mons:
            m.kill()
            m.wait()
            c.monitors.remove(m)
    res.add(f"cluster {backend}: join -> route on both other nodes", joins, target="<= 50 ms",
            note="from the start of `hutch node join` (exec included) to the later of the two route-add events")
    res.add(f"cluster {backend}: leave -> route gone on both other nodes", leaves,
            note="from the start of `hutch node leave` (which stops the agent first) to the later route-delete event")


def measure_agent(c, res, quick):
    # 7 more subnet records under a lease of the bench's: nodes that do not exist, programmed all the same
    lease = c.etcd_post("/v3/lease/grant", {"TTL": "600"})["ID"]
    for k in range(200, 207):
        rec = {"Node": f"ghost{k}", "PublicIP": f"192.0.2.{k}", "BackendType": "vxlan",
               "BackendData": {"VtepMAC": f"0e:48:0a:f4:{k:02x}:00"}}
        c.etcd_post("/v3/kv/put", {"key": b64(f"/hutch/subnets/10.244.{k}.0-24"), "value": b64(json.dumps(rec)),
                                   "lease": lease})
    c.join(3)
    info = json.loads(sh(c.hutch(1, "node", "inspect")).stdout)[0]
    pid = info["AgentPid"]
    for _ in range(100):
        routes = sh(c.ns(c.nodes[0], ["ip", "-4", "route"])).stdout
        if len(re.findall(r"^10\.244\.\d+\.0/24 via", routes, re.M)) == 9:
            break
        time.sleep(0.1)
    else:
        raise Fail("n1's agent did not program the 9 other nodes")
    hz = os.sysconf("SC_CLK_TCK")
    window = 5 if quick else 20
    t0, c0 = time.time(), proc_cpu_ticks(pid)
    time.sleep(window)
    t1, c1 = time.time(), proc_cpu_ticks(pid)
    res.add("cluster: agent resident memory, 10 nodes", value=proc_rss_kib(pid) / 1024, unit="MiB")
    res.add("cluster: agent CPU while idle, 10 nodes", value=round(1000.0 * (c1 - c0) / hz * 60 / (t1 - t0), 1), unit="ms/min",
            note=f"CPU time per minute over {window} s idle ({c1 - c0} clock ticks of {1000 // hz} ms): "
                 "lease renewals (every TTL/3) and the watch's 200 ms poll")
    c.etcd_post("/v3/lease/revoke", {"ID": lease})


def nft_monitor(c, i):
    """`nft monitor` in node i (element and rule changes as they are committed)."""
    p = subprocess.Popen(c.ns(c.nodes[i - 1], ["stdbuf", "-oL", "nft", "monitor"]), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    p.pending = b""
    c.monitors.append(p)
    return p


def measure_services(c, res, quick):
    """A service created (removed) on n1 -> its ClusterIP's element written on n2 and n3."""
    n = 5 if quick else 15
    creates, removes = [], []
    mons = [nft_monitor(c, 2), nft_monitor(c, 3)]
    time.sleep(0.3)
    for k in range(n):
        ip = f"10.96.200.{k + 10}"
        t0 = time.time()
        sh(c.hutch(1, "service", "create", f"lat{k}", "--selector", "app=none", "--port", "80", "--cluster-ip", ip))
        deadline = time.time() + 10
        creates.append((max(read_until(m, lambda l: time.time() if ip in l else None, deadline) for m in mons) - t0) * 1000)
        t0 = time.time()
        sh(c.hutch(1, "service", "rm", f"lat{k}"))
        deadline = time.time() + 10
        removes.append((max(read_until(m, lambda l: time.time() if ip in l else None, deadline) for m in mons) - t0) * 1000)
    for m in mons:
        m.kill()
        m.wait()
        c.monitors.remove(m)
    res.add("cluster: service create on n1 -> programmed on n2 and n3", creates, target="<= 50 ms",
            note="from the start of `hutch service create` on n1 to the later `nft monitor` line with its ClusterIP on n2 and n3")
    res.add("cluster: service rm on n1 -> gone on n2 and n3", removes)
    # 100 services: the agent's memory and idle CPU on a node that holds them as copies
    count = 20 if quick else 100
    for k in range(count):
        sh(c.hutch(1, "service", "create", f"bulk{k}", "--selector", "app=none", "--port", "80"))
    for _ in range(300):
        if len(sh(c.hutch(2, "service", "ls", "-q")).stdout.split()) >= count:
            break
        time.sleep(0.1)
    else:
        raise Fail(f"n2 does not hold the {count} services")
    pid = json.loads(sh(c.hutch(2, "node", "inspect")).stdout)[0]["AgentPid"]
    hz = os.sysconf("SC_CLK_TCK")
    window = 5 if quick else 20
    t0, c0 = time.time(), proc_cpu_ticks(pid)
    time.sleep(window)
    t1, c1 = time.time(), proc_cpu_ticks(pid)
    res.add(f"cluster: agent resident memory, 10 nodes x {count} services", value=proc_rss_kib(pid) / 1024, unit="MiB")
    res.add(f"cluster: agent CPU while idle, 10 nodes x {count} services",
            value=round(1000.0 * (c1 - c0) / hz * 60 / (t1 - t0), 1), unit="ms/min",
            note=f"CPU time per minute over {window} s idle ({c1 - c0} clock ticks of {1000 // hz} ms)")
