"""Issue 16: a multi-node pod network on etcd (`hutch node join/ls/inspect/leave/agent`).

Each test builds a cluster out of network namespaces:

    underlay netns (bridge br0, 192.0.2.254/24, etcd on 192.0.2.254:2379 inside it only)
      ├── veth ── node n1 netns: eth0 192.0.2.1/24, its own state root (a harness Host)
      ├── veth ── node n2 netns: eth0 192.0.2.2/24
      ├── veth ── node n3 netns: eth0 192.0.2.3/24
      └── veth ── client netns:  eth0 192.0.2.100/24 (the outside world)

and a real etcd (Debian's etcd-server, `--heartbeat-interval 10 --election-timeout 100`, data dir
in a temp dir; with `cluster(tls=True)` etcd serves https with client certificates from a
throwaway CA made with openssl in that temp dir). Traffic goes only between these namespaces. The fixture's teardown makes every
node leave, stops etcd, deletes the namespaces and temp dirs, and runs the harness's leak check
(root netns, processes with a state root on their command line, veths, state dirs) for every node.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

import harness
from harness import wait_until

ETCD_IP = "192.0.2.254"
ETCD = f"http://{ETCD_IP}:2379"
ETCD_TLS = f"https://{ETCD_IP}:2379"
ETCD_IP2 = "192.0.2.253"
# An etcd URL in the underlay where nothing listens (refused at once).
ETCD_DEAD = f"http://{ETCD_IP}:2999"
CLIENT_IP = "192.0.2.100"
HUTCH = os.path.abspath(os.environ.get("HUTCH") or os.path.join(harness.REPO, ".build", "debug", "hutch"))
WHOAMI_PORT = 8080

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed (make deps: etcd-server)")


class Node:
    """One cluster node: a harness Host (netns + state root) on the underlay."""

    def __init__(self, cluster, i, fw=None):
        self.i = i
        self.name = f"n{i}"
        self.ip = f"192.0.2.{i}"
        self.host = harness.Host(HUTCH)
        self.cluster = cluster
        self.fw = fw
        self.ul_if = f"ul{i}{harness._rand()[:4]}"
        harness.run(["ip", "link", "add", self.ul_if, "netns", cluster.ul.name, "type", "veth",
                     "peer", "name", "eth0", "netns", self.host.name], check=True)
        cluster.ul.run(["ip", "link", "set", self.ul_if, "master", "br0", "up"])
        self.host.sh(f"ip addr add {self.ip}/24 dev eth0 && ip link set eth0 up && ip route add default via {ETCD_IP}")

    def hutch(self, *args, **kw):
        lead = ("--firewall", self.fw) if self.fw else ()
        return self.host.hutch(*lead, *args, **kw)

    def join(self, *extra, check=True, name=None, ip=None):
        return self.hutch("node", "join", "--name", name or self.name, "--etcd", self.cluster.url,
                          "--node-ip", ip or self.ip, *self.cluster.tls_flags, *extra, check=check)

    def inspect(self):
        data = json.loads(self.hutch("node", "inspect").out)
        assert isinstance(data, list) and len(data) == 1, data
        return data[0]

    def routes(self):
        return self.host.run(["ip", "-4", "route"]).out

    def has_route(self, subnet):
        return any(l.startswith(subnet + " ") for l in self.routes().splitlines())

    def web(self, name="web"):
        """A detached whoami server on this node's default network: its pod IP."""
        cid = self.host.run_d("--name", name, "--", harness.PY, harness.WHOAMI, "0.0.0.0", str(WHOAMI_PORT))
        ip = self.host.inspect(cid)["NetworkSettings"]["IPAddress"]
        self.host.wait_http(f"http://{ip}:{WHOAMI_PORT}/")
        return ip

    def curl_from_pod(self, ip):
        """A pod on this node fetches http://IP:8080/ (whoami answers the client IP it sees)."""
        r = self.hutch("run", "--rm", "--", "curl", "-sS", "--max-time", "3", f"http://{ip}:{WHOAMI_PORT}/", check=False)
        return r.out.strip() if r.rc == 0 else None

    def agent_pid(self):
        return self.inspect()["AgentPid"]


class Cluster:
    def __init__(self, n=3, fw=None, tls=False, members=1):
        self.tag = f"{os.getpid()}-{harness._rand()}"
        self.ul = harness.Namespace(f"hutch-o-{self.tag}")
        # A fixed MAC: a bridge without one takes its lowest port's, which changes as ports come
        # (the client's), and the nodes' cached neighbour entry for etcd's address goes stale.
        self.ul.sh(f"ip link add br0 address 02:00:c0:00:02:fe type bridge && ip addr add {ETCD_IP}/24 dev br0 && ip link set br0 up")
        self.etcd_dir = tempfile.mkdtemp(prefix="hutch-etcd-")
        self.etcd = None
        # members > 1: a real etcd cluster inside the underlay, member i serving on ETCD_IP:2379+100*i
        # (self.etcd is member 0, self.others the rest); the nodes join with every member's URL.
        self.members = members
        self.others = []
        # TLS: etcd serves https (client certificates required) on ETCD_IP, and on ETCD_IP2,
        # an address its certificate does not name.
        self.tls = make_pki(os.path.join(self.etcd_dir, "pki"), ETCD_IP) if tls else None
        self.url = ETCD_TLS if tls else ETCD
        self.member_urls = [f"http://{ETCD_IP}:{2379 + 100 * i}" for i in range(members)] if members > 1 else [self.url]
        if members > 1:
            self.url = ",".join(self.member_urls)
        self.tls_flags = ["--etcd-cafile", self.tls["ca"], "--etcd-certfile", self.tls["client"],
                          "--etcd-keyfile", self.tls["client_key"]] if tls else []
        if tls:
            self.ul.sh(f"ip addr add {ETCD_IP2}/24 dev br0")
        self.start_etcd()
        self.nodes = [Node(self, i, fw) for i in range(1, n + 1)]
        self.client = None
        self.own_names = [self.ul.name] + [n.host.name for n in self.nodes]

    def start_etcd(self):
        if self.members > 1:
            return self.start_members()
        listen = f"{ETCD_TLS},https://{ETCD_IP2}:2379" if self.tls else ETCD
        tls = ["--cert-file", self.tls["server"], "--key-file", self.tls["server_key"], "--client-cert-auth",
               "--trusted-ca-file", self.tls["ca"]] if self.tls else []
        self.etcd = self.ul.bg([
            "etcd", "--name", "hx", "--data-dir", os.path.join(self.etcd_dir, "data"),
            "--listen-client-urls", listen, "--advertise-client-urls", self.url, *tls,
            "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "hx=http://127.0.0.1:2380",
            "--heartbeat-interval", "10", "--election-timeout", "100", "--logger", "zap", "--log-level", "warn"])
        wait_until(lambda: self.etcd_call("/v3/kv/range", {"key": b64("/")}, check=False) is not None,
                   desc="etcd to answer")

    def start_members(self):
        """A 3-member (or `members`) etcd cluster: peers on the underlay's loopback."""
        peers = [f"http://127.0.0.1:{2380 + 100 * i}" for i in range(self.members)]
        initial = ",".join(f"hx{i}={p}" for i, p in enumerate(peers))
        procs = [self.ul.bg([
            "etcd", "--name", f"hx{i}", "--data-dir", os.path.join(self.etcd_dir, f"data{i}"),
            "--listen-client-urls", self.member_urls[i], "--advertise-client-urls", self.member_urls[i],
            "--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", self.tag,
            "--heartbeat-interval", "10", "--election-timeout", "100", "--logger", "zap", "--log-level", "warn"])
            for i in range(self.members)]
        self.etcd, self.others = procs[0], procs[1:]
        for u in self.member_urls:
            wait_until(lambda: self.etcd_call("/v3/kv/range", {"key": b64("/")}, check=False, url=u) is not None,
                       desc=f"etcd member {u} to answer")

    def etcd_call(self, path, body, check=True, url=None):
        """One call of etcd's JSON gateway from inside the underlay netns (curl there); several
        members: the first that answers."""
        tls = ["--cacert", self.tls["ca"], "--cert", self.tls["client"], "--key", self.tls["client_key"]] if self.tls else []
        for u in [url] if url else self.member_urls:
            r = self.ul.run(["curl", "-sS", "--max-time", "2", *tls, "-X", "POST", u + path, "-d", json.dumps(body)],
                            check=False)
            if r.rc == 0:
                break
        if r.rc != 0:
            if check:
                raise harness.HarnessError(f"etcd {path}: {r.err}")
            return None
        return json.loads(r.out)

    def etcd_keys(self, prefix="/"):
        r = self.etcd_call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return [unb64(kv["key"]) for kv in r.get("kvs", [])]

    def etcd_leases(self):
        return self.etcd_call("/v3/lease/leases", {}).get("leases", [])

    def add_client(self):
        self.client = harness.Namespace(f"hutch-o-{self.tag}-c")
        self.own_names.append(self.client.name)
        harness.run(["ip", "link", "add", "ulc" + harness._rand()[:4], "netns", self.ul.name, "type", "veth",
                     "peer", "name", "eth0", "netns", self.client.name], check=True)
        self.ul.sh("for l in $(ip -o link show type veth | awk -F'[ :@]+' '{print $2}'); do ip link set $l master br0 up; done")
        self.client.sh(f"ip addr add {CLIENT_IP}/24 dev eth0 && ip link set eth0 up")
        return self.client

    def stop_etcd(self):
        for p in [self.etcd] + self.others:
            stop_process(p)

    def teardown(self):
        problems = []
        if self.etcd and self.etcd.poll() is None:
            os.kill(self.etcd.pid, signal.SIGCONT)
        for n in self.nodes:
            # Containers first (leave is refused while they hold addresses on the default network).
            for cid in n.host.ps_ids(all=True):
                n.hutch("rm", "-f", cid, check=False)
            r = n.hutch("node", "leave", check=False)
            if r.rc != 0 and "not a cluster node" not in r.err:
                problems.append(f"{n.name}: node leave failed: {r.err.strip()}")
        self.stop_etcd()
        self.ul.delete()  # also removes every underlay veth pair
        if self.client:
            self.client.delete()
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
        for n in self.nodes:
            problems += [f"{n.name}: {p}" for p in n.host.teardown()]
        return problems


def stop_process(p):
    if p and p.poll() is None:
        os.kill(p.pid, signal.SIGCONT)
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def make_pki(d, ip):
    """A throwaway CA; etcd's certificate for `ip` (server and client use: etcd's gateway dials
    etcd with it); a node client certificate; and a second CA, with a client certificate of its own."""
    os.makedirs(d)
    openssl = lambda *a: harness.run(["openssl", *a], check=True, cwd=d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "otherca"):
        openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "1", "-subj", f"/CN=hutch test {ca}")

    def issue(name, ca, ext):
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext")

    issue("server", "ca", f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth,clientAuth\n")
    issue("client", "ca", "extendedKeyUsage=clientAuth\n")
    issue("rogue", "otherca", "extendedKeyUsage=clientAuth\n")
    p = lambda f: os.path.join(d, f)
    return {"ca": p("ca.crt"), "otherca": p("otherca.crt"), "server": p("server.crt"), "server_key": p("server.key"),
            "client": p("client.crt"), "client_key": p("client.key"), "rogue": p("rogue.crt"), "rogue_key": p("rogue.key")}


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    import base64
    return base64.b64decode(s).decode()


def prefix_end(p):
    return p[:-1] + chr(ord(p[-1]) + 1)


@pytest.fixture
def cluster():
    if not os.path.exists(os.path.join(os.path.dirname(HUTCH), "hutch-node")):
        pytest.fail(f"hutch-node not found next to {HUTCH}: copy it there (swift build makes it)", pytrace=False)
    before = harness.root_snapshot()
    made = []

    def make(n=3, fw=None, tls=False, members=1):
        c = Cluster(n, fw, tls, members)
        made.append(c)
        return c

    try:
        yield make
    finally:
        problems = []
        for c in made:
            problems += c.teardown()
        after = harness.root_snapshot()
        own = [name for c in made for name in c.own_names]
        # Container cgroups are named by container id: only ours count (other sessions' tests
        # run containers on this machine at the same time).
        ours = {cid for c in made for n in c.nodes for cid in n.host.known}
        for snap in (before, after):
            snap["cgroups"] = [l for l in snap["cgroups"] if l.rsplit("/", 1)[-1] in ours]
        problems += harness.diff_snapshots(before, after, own)
        if problems:
            pytest.fail("LEAK CHECK FAILED:\n" + "\n".join(problems), pytrace=False)


def subnet_of(node):
    return node.inspect()["Subnet"]


# ---------------------------------------------------------------------------------------------


def test_join_ls_inspect_leave(cluster):
    c = cluster()
    n1, n2, _ = c.nodes
    out = n1.join().out
    assert "joined the cluster" in out and "10.244.1.0/24" in out, out
    n2.join()
    info = n1.inspect()
    assert info["Name"] == "n1" and info["Subnet"] == "10.244.1.0/24" and info["Backend"] == "vxlan", info
    assert info["NodeIP"] == "192.0.2.1" and info["Etcd"] == ETCD and info["MTU"] == 1450, info
    assert info["AgentPid"] > 0 and harness.proc_starttime(info["AgentPid"]) is not None, info
    assert n1.hutch("node", "inspect", "-f", "{{.Subnet}} {{.Backend}}").out == "10.244.1.0/24 vxlan\n"
    # ls: both nodes, this one marked
    ls = n1.hutch("node", "ls").out.splitlines()
    assert ls[0].split() == ["NAME", "SUBNET", "BACKEND", "NODE", "IP", "STATUS"], ls
    rows = {l.split()[0]: l for l in ls[1:]}
    assert set(rows) == {"n1", "n2"}, ls
    assert "n1 *" in rows["n1"] and "10.244.2.0/24" in rows["n2"] and "192.0.2.2" in rows["n2"], ls
    assert all(l.rstrip().endswith("Ready") for l in ls[1:]), ls
    assert n2.hutch("node", "ls", "-q").out.split() == ["n1", "n2"]
    # the default network is the node's /24; a container gets an address there
    cid = n1.host.run_d("--", "sleep", "60")
    assert n1.host.inspect(cid)["NetworkSettings"]["IPAddress"].startswith("10.244.1."), n1.host.inspect(cid)
    # join and leave refused while containers use the default network / already joined
    r = n1.join(check=False)
    assert r.rc == 125 and "already node n1" in r.err, r
    r = n1.hutch("node", "leave", check=False)
    assert r.rc == 125 and "hold addresses on the default network" in r.err, r
    n1.hutch("rm", "-f", cid)
    agent = info["AgentPid"]
    assert "left the cluster" in n1.hutch("node", "leave").out
    wait_until(lambda: harness.proc_starttime(agent) is None, desc="the agent to exit")
    assert n2.hutch("node", "ls", "-q").out.split() == ["n2"]
    r = n1.hutch("node", "inspect", check=False)
    assert r.rc == 125 and "not a cluster node" in r.err, r
    # back on hutch's default network
    cid = n1.host.run_d("--", "sleep", "60")
    assert n1.host.inspect(cid)["NetworkSettings"]["IPAddress"].startswith("10.87."), n1.host.inspect(cid)


def test_concurrent_joins_get_distinct_subnets(cluster):
    c = cluster()
    results = {}

    def join(n):
        results[n.name] = n.join(check=False)

    threads = [threading.Thread(target=join, args=(n,)) for n in c.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, r in results.items():
        assert r.rc == 0, (name, r)
    subnets = [subnet_of(n) for n in c.nodes]
    assert len(set(subnets)) == 3, subnets
    assert set(subnets) == {"10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"}, subnets


def test_routes_programmed_on_the_others(cluster):
    c = cluster()
    n1, n2, n3 = c.nodes
    n1.join()
    n2.join()
    n3.join()
    s3 = subnet_of(n3)
    for n in (n1, n2):
        wait_until(lambda: n.has_route(s3), desc=f"{n.name} to route {s3}")
        route = [l for l in n.routes().splitlines() if l.startswith(s3)][0]
        tunnel = s3.split("/")[0]
        assert f"via {tunnel} dev hutch.1 onlink" in route, route
        neigh = n.host.run(["ip", "neigh", "show", "dev", "hutch.1"]).out
        assert re.search(rf"^{re.escape(tunnel)} lladdr 0e:48:0a:f4:03:00 PERMANENT", neigh, re.M), neigh
        fdb = n.host.run(["bridge", "fdb", "show", "dev", "hutch.1"]).out
        assert "0e:48:0a:f4:03:00 dst 192.0.2.3 self permanent" in fdb, fdb
    # the vxlan device as flannel makes it
    d = n1.host.run(["ip", "-d", "link", "show", "hutch.1"]).out
    assert "vxlan id 1 local 192.0.2.1 dev eth0" in d and "dstport 8472 nolearning" in d and "mtu 1450" in d, d


@pytest.mark.parametrize("backend,fw", [("vxlan", None), ("host-gw", None), ("vxlan", "iptables"), ("host-gw", "iptables")])
def test_pod_to_pod_across_nodes_keeps_the_source_ip(cluster, backend, fw):
    c = cluster(fw=fw)
    n1, n2, n3 = c.nodes
    n1.join("--backend", backend)
    n2.join()
    n3.join()
    assert n2.inspect()["Backend"] == backend
    ip2 = n2.web()
    ip3 = n3.web()
    assert ip2.startswith("10.244.2.") and ip3.startswith("10.244.3."), (ip2, ip3)
    for n in c.nodes:
        for s in ("10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"):
            if s != subnet_of(n):
                wait_until(lambda: n.has_route(s), desc=f"{n.name} to route {s}")
    # a pod on n1 reaches both, and each sees the pod's own address (no masquerade)
    seen = n1.curl_from_pod(ip2)
    assert seen is not None and seen.startswith("10.244.1."), seen
    seen = n1.curl_from_pod(ip3)
    assert seen is not None and seen.startswith("10.244.1."), seen
    seen = n3.curl_from_pod(ip2)
    assert seen is not None and seen.startswith("10.244.3."), seen
    # pod MTU: 1450 over vxlan, the default over host-gw
    mtu = n1.hutch("run", "--rm", "--", "cat", "/sys/class/net/eth0/mtu").out.strip()
    assert mtu == ("1450" if backend == "vxlan" else "1500"), mtu
    if backend == "host-gw":
        route = [l for l in n1.routes().splitlines() if l.startswith("10.244.2.0/24")][0]
        assert "via 192.0.2.2 dev eth0" in route, route
    # traffic leaving the cluster is still masqueraded: the client netns sees the node's address
    client = c.add_client()
    client.bg([harness.PY, harness.WHOAMI, "0.0.0.0", str(WHOAMI_PORT)])
    wait_until(lambda: n1.curl_from_pod(CLIENT_IP) is not None, desc="the client's server")
    assert n1.curl_from_pod(CLIENT_IP) == "192.0.2.1"


def test_host_gw_needs_nodes_on_link(cluster):
    c = cluster(n=2)
    n1, n2 = c.nodes
    n1.join("--backend", "host-gw")
    # n2 also has an address off n1's segment: joining with it is refused up front
    n2.host.sh("ip addr add 198.51.100.2/24 dev eth0")
    r = n2.join(ip="198.51.100.2", check=False)
    assert r.rc == 125 and "not on-link" in r.err and "--backend vxlan" in r.err, r
    assert n2.hutch("node", "inspect", check=False).rc == 125
    assert "hutch.1" not in n2.host.links()


def test_conflicting_config_refused(cluster):
    c = cluster(n=2)
    n1, n2 = c.nodes
    n1.join("--backend", "host-gw", "--cluster-cidr", "10.50.0.0/16")
    assert subnet_of(n1) == "10.50.1.0/24"
    r = n2.join("--backend", "vxlan", check=False)
    assert r.rc == 125 and "--backend vxlan conflicts with the cluster's backend host-gw" in r.err, r
    assert len(r.err.strip().splitlines()) == 1, r.err
    r = n2.join("--cluster-cidr", "10.244.0.0/16", check=False)
    assert r.rc == 125 and "conflicts with the cluster's network 10.50.0.0/16" in r.err, r
    # the same name from another address
    r = n2.join(name="n1", check=False)
    assert r.rc == 125 and "node name n1 is taken" in r.err, r
    # nothing half-made: no link, no lease or key of n2's
    assert "hutch.1" not in n2.host.links() and "hutch0" not in n2.host.links()
    assert len(c.etcd_leases()) == 1, c.etcd_leases()
    assert sorted(c.etcd_keys("/hutch/")) == ["/hutch/config", "/hutch/subnet-cursor", "/hutch/subnets/10.50.1.0-24"]
    # matching (or omitted) options join
    n2.join("--backend", "host-gw")
    assert n2.inspect()["Backend"] == "host-gw" and subnet_of(n2) == "10.50.2.0/24"


def test_etcd_paused_data_plane_keeps_working_and_agent_catches_up(cluster):
    c = cluster()
    n1, n2, n3 = c.nodes
    n1.join("--lease-ttl", "3")
    n2.join("--lease-ttl", "30")
    ip2 = n2.web()
    wait_until(lambda: n1.has_route("10.244.2.0/24"), desc="n1 to route n2")
    assert n1.curl_from_pod(ip2) is not None
    os.kill(c.etcd.pid, signal.SIGSTOP)
    try:
        # the agent's keep-alive (every TTL/3 = 1 s) times out: it backs off and retries
        wait_until(lambda: "retrying" in harness._read(n1.host.root + "/node-agent.log"), desc="n1's agent to notice")
        seen = n1.curl_from_pod(ip2)
        assert seen is not None and seen.startswith("10.244.1."), seen
        assert n1.hutch("ps", "-q").rc == 0
        assert n1.has_route("10.244.2.0/24")
        r = n3.join(check=False)
        assert r.rc == 125 and "unreachable" in r.err, r
    finally:
        os.kill(c.etcd.pid, signal.SIGCONT)
    n3.join()
    try:
        wait_until(lambda: n1.has_route("10.244.3.0/24"), desc="n1's agent to catch up with n3's join")
    except harness.HarnessError:
        print(harness._read(n1.host.root + "/node-agent.log"))
        raise
    assert n1.curl_from_pod(ip2) is not None
    # n1 (TTL 3) may have lost its lease while etcd stood still; its agent holds its subnet again
    wait_until(lambda: "n1" in n3.hutch("node", "ls", "-q").out.split(), desc="n1 back in the list")
    assert subnet_of(n1) == "10.244.1.0/24"


def test_node_death_removes_routes_and_rejoin_gets_the_same_subnet(cluster):
    c = cluster()
    n1, n2, n3 = c.nodes
    n1.join()
    n2.join()
    n3.join("--lease-ttl", "2")
    wait_until(lambda: n1.has_route("10.244.3.0/24") and n2.has_route("10.244.3.0/24"), desc="routes to n3")
    # n3 dies: its agent is killed, nothing renews its lease
    os.kill(n3.agent_pid(), signal.SIGKILL)
    wait_until(lambda: not n1.has_route("10.244.3.0/24") and not n2.has_route("10.244.3.0/24"),
               desc="n3's routes to go on n1 and n2")
    assert n1.hutch("node", "ls", "-q").out.split() == ["n1", "n2"]
    # the next hutch command on n3 restarts its agent, which takes its subnet again
    n3.hutch("ps")
    wait_until(lambda: n1.has_route("10.244.3.0/24") and n2.has_route("10.244.3.0/24"), desc="n3 to be back")
    assert subnet_of(n3) == "10.244.3.0/24"
    assert n3.agent_pid() > 0


def test_rejoin_while_the_lease_lives_gets_the_subnet_back(cluster):
    c = cluster(n=2)
    n1, n2 = c.nodes
    n1.join()
    n2.join("--lease-ttl", "8")
    lease = n2.inspect()["Lease"]
    # n2 is reinstalled: its agent dies, its links, rules and state root are gone; its lease
    # (TTL 8 s) still lives in etcd.
    os.kill(n2.agent_pid(), signal.SIGKILL)
    n2.host.sh("ip link del hutch.1 && ip link del hutch0 && nft delete table ip hutch")
    shutil.rmtree(n2.host.root)
    os.makedirs(n2.host.root)
    out = n2.join().out
    assert "10.244.2.0/24" in out, out
    info = n2.inspect()
    # the same subnet and lease, renewed at the lease's own TTL (not the default 30 s asked now)
    assert info["Subnet"] == "10.244.2.0/24" and info["Lease"] == lease and info["LeaseTTL"] == 8, info
    assert n1.has_route("10.244.2.0/24")
    ip2 = n2.web()
    assert n1.curl_from_pod(ip2) is not None


@pytest.mark.parametrize("fw", [None, "iptables"])
def test_after_all_nodes_leave_nothing_is_left(cluster, fw):
    c = cluster(fw=fw)
    for n in c.nodes:
        n.join()
    for n in c.nodes:
        wait_until(lambda: sum(n.has_route(f"10.244.{i}.0/24") for i in (1, 2, 3)) == 3, desc=f"{n.name} fully routed")
    before = {n.name: n.host.run(["ip", "-o", "link"]).out for n in c.nodes}
    agents = [n.agent_pid() for n in c.nodes]
    for n in c.nodes:
        n.hutch("node", "leave")
    for n in c.nodes:
        links = n.host.links()
        assert "hutch.1" not in links and "hutch0" not in links, (n.name, links, before[n.name])
        assert "10.244." not in n.routes(), n.routes()
        rules = harness.rules(n.host, fw or "nftables")
        assert "10.244." not in rules, rules
        assert "hutch:cluster" not in rules or fw is None, rules
        assert n.hutch("node", "inspect", check=False).rc == 125
    for pid in agents:
        wait_until(lambda: harness.proc_starttime(pid) is None, desc="agents to exit")
    assert c.etcd_leases() == []
    # the last node out took the cluster's config and allocation cursor with it
    assert c.etcd_keys("/") == []
    c.stop_etcd()
    assert c.etcd.poll() is not None


def test_bad_input(cluster):
    c = cluster(n=1)
    n1 = c.nodes[0]
    cases = [
        (["node", "join", "--etcd", ETCD, "--node-ip", n1.ip], "needs --name"),
        (["node", "join", "--name", "n1", "--node-ip", n1.ip], "missing --etcd"),
        (["node", "join", "--name", "n1", "--etcd", ETCD], "missing --node-ip"),
        (["node", "join", "--name", "n/1", "--etcd", ETCD, "--node-ip", n1.ip], "invalid --name"),
        (["node", "join", "--name", "n1", "--etcd", "192.0.2.254:2379", "--node-ip", n1.ip], "invalid --etcd"),
        (["node", "join", "--name", "n1", "--etcd", f"{ETCD},192.0.2.253:2379", "--node-ip", n1.ip], '"192.0.2.253:2379" is not a URL'),
        (["node", "join", "--name", "n1", "--etcd", f"{ETCD},{ETCD}/", "--node-ip", n1.ip], f"{ETCD} is given twice"),
        (["node", "join", "--name", "n1", "--etcd", f"{ETCD},{ETCD_TLS}", "--node-ip", n1.ip], "differ in scheme"),
        (["node", "join", "--name", "n1", "--etcd", f"{ETCD},", "--node-ip", n1.ip], '"" is not a URL'),
        (["node", "ls", "--etcd", f"{ETCD},{ETCD}"], "is given twice"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", "1.2.3"], "invalid --node-ip"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", n1.ip, "--backend", "udp"], "invalid --backend"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", n1.ip, "--cluster-cidr", "10.0.0.0/24"], "invalid --cluster-cidr"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", n1.ip, "--lease-ttl", "0"], "invalid --lease-ttl"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", n1.ip, "--etcd-prefix", "hutch"], "invalid --etcd-prefix"),
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", "192.0.2.77"], "not an address of this host"),
        (["node", "leave"], "not a cluster node"),
        (["node", "ls"], "not a cluster node"),
        # TLS to etcd: checked before etcd is asked anything
        (["node", "join", "--name", "n1", "--etcd", ETCD, "--node-ip", n1.ip, "--etcd-cafile", HUTCH], "--etcd-cafile needs an https:// etcd URL"),
        (["node", "join", "--name", "n1", "--etcd", ETCD_TLS, "--node-ip", n1.ip, "--etcd-certfile", HUTCH], "--etcd-certfile needs --etcd-keyfile"),
        (["node", "join", "--name", "n1", "--etcd", ETCD_TLS, "--node-ip", n1.ip, "--etcd-keyfile", HUTCH], "--etcd-keyfile needs --etcd-certfile"),
        (["node", "join", "--name", "n1", "--etcd", ETCD_TLS, "--node-ip", n1.ip, "--etcd-cafile", "/nonexistent-hutch-ca.pem"], "--etcd-cafile /nonexistent-hutch-ca.pem: No such file"),
        (["node", "join", "--name", "n1", "--etcd", ETCD_TLS, "--node-ip", n1.ip, "--etcd-cafile", "/tmp"], "not a regular file"),
        (["node", "ls", "--etcd", ETCD, "--etcd-certfile", HUTCH, "--etcd-keyfile", HUTCH], "need an https:// etcd URL"),
    ]
    for argv, want in cases:
        r = n1.hutch(*argv, check=False)
        assert r.rc == 125 and want in r.err and len(r.err.strip().splitlines()) == 1, (argv, r)
    # a first node refused after it wrote the cluster's config takes the config back
    n1.host.sh("ip addr add 10.244.0.5/16 dev eth0")
    r = n1.join(ip="10.244.0.5", check=False)
    assert r.rc == 125 and "overlaps this node's network 10.244.0.0/16" in r.err, r
    assert c.etcd_leases() == [] and c.etcd_keys("/") == []


def test_example_makefile_builds_and_removes_a_three_node_cluster(cluster):
    """examples/cluster: `make up check status down` in namespaces of its own (leak-checked);
    vxlan on a 3-member etcd (MEMBERS=3: the nodes join with the three URLs); host-gw with etcd
    over TLS (TLS=1: client certificates)."""
    p = f"hutch-o-{os.getpid()}-{harness._rand()}"
    state = tempfile.mkdtemp(prefix="hutch-clex-")
    argv = ["make", "--no-print-directory", "-C", os.path.join(harness.REPO, "examples", "cluster"),
            f"HUTCH={HUTCH}", f"P={p}", f"STATE={state}", f"PYTHON={harness.PY}"]
    try:
        for backend, tls, members in (("vxlan", "", "3"), ("host-gw", "1", "1")):
            r = harness.run(argv + ["up", "check", "status", f"BACKEND={backend}", f"TLS={tls}", f"MEMBERS={members}"],
                            timeout=120)
            assert r.rc == 0, r
            if members == "3":
                r2 = harness.run(["nsenter", f"--net=/run/netns/{p}-n1", HUTCH, "--root", f"{state}/n1", "node", "inspect",
                                  "-f", "{{.Etcd}}"])
                assert r2.out == f"http://{ETCD_IP}:2379\n", r2
                r2 = harness.run(["nsenter", f"--net=/run/netns/{p}-n1", HUTCH, "--root", f"{state}/n1", "node", "inspect"])
                assert json.loads(r2.out)[0]["EtcdEndpoints"] == [f"http://{ETCD_IP}:{port}" for port in (2379, 2479, 2579)], r2
            if tls:
                r2 = harness.run(["nsenter", f"--net=/run/netns/{p}-n1", HUTCH, "--root", f"{state}/n1", "node", "inspect",
                                  "-f", "{{.Etcd}} {{.EtcdCertFile}}"])
                assert r2.out == f"https://{ETCD_IP}:2379 {state}/pki/n1.crt\n", r2
            assert r.out.count("the server saw the client 10.244.1.") == 2, r.out
            assert "n1 *" in r.out and "10.244.3.0/24" in r.out, r.out
            r = harness.run(argv + ["down", f"MEMBERS={members}"], timeout=60)
            assert r.rc == 0, r
            assert not os.path.exists(state), "make down left its state directory"
            assert not [n for n in harness.run(["ip", "netns", "list"]).out.split() if n.startswith(p)]
    finally:
        harness.run(argv + ["down"], timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def test_reload_and_firewall_switch_keep_the_cluster_rules(cluster):
    c = cluster(n=2)
    n1, n2 = c.nodes
    n1.join()
    n2.join()
    ip1, ip2 = n1.web(), n2.web()
    wait_until(lambda: n1.curl_from_pod(ip2) is not None, desc="n1's pod to reach n2's")
    # another tool wipes n2's rules; `network reload` puts the cluster's back with the networks'
    n2.host.sh("nft flush ruleset")
    out = n2.hutch("network", "reload").out
    assert "cluster network 10.244.0.0/16: rules installed" in out, out
    assert "10.244.0.0/16" in n2.host.sh("nft list set ip hutch cluster_cidrs").out
    assert n1.curl_from_pod(ip2).startswith("10.244.1.")   # accepted into n2's bridge
    assert n2.curl_from_pod(ip1).startswith("10.244.2.")   # not masqueraded on the way out
    # n2 moves to iptables: the cluster's rules move along, nothing of hutch stays in nftables
    n2.hutch("--firewall", "iptables", "ps")
    saved = n2.host.sh("iptables-save").out
    assert "-A HUTCH-CLUSTER -s 10.244.0.0/16 -d 10.244.0.0/16" in saved, saved
    assert "HUTCH-CLUSTER-MASQ -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0" in saved, saved
    assert n2.host.sh("nft list table ip hutch", check=False).rc != 0
    assert n1.curl_from_pod(ip2).startswith("10.244.1.")
    assert n2.curl_from_pod(ip1).startswith("10.244.2.")
    # the agent kept running and did not switch the host back
    assert n2.agent_pid() > 0
    assert n2.host.sh("nft list table ip hutch", check=False).rc != 0


def test_etcd_restart_agents_list_again(cluster):
    """etcd stops and starts again on its data: the agents' watches end, they back off, list
    again and follow the nodes that join afterwards; the leases (TTL 30) survive the restart."""
    c = cluster()
    n1, n2, n3 = c.nodes
    n1.join()
    n2.join()
    ip2 = n2.web()
    wait_until(lambda: n1.curl_from_pod(ip2) is not None, desc="n1's pod to reach n2's")
    c.stop_etcd()
    assert n1.curl_from_pod(ip2).startswith("10.244.1.")  # the data plane does not need etcd
    assert n1.hutch("ps", "-q").rc == 0
    wait_until(lambda: "retrying" in harness._read(n1.host.root + "/node-agent.log"), desc="n1's agent to notice")
    c.start_etcd()
    n3.join()
    ip3 = n3.web()
    for n in (n1, n2):
        wait_until(lambda: n.has_route(subnet_of(n3)), desc=f"{n.name} to route n3 after the restart")
    assert n1.curl_from_pod(ip3).startswith("10.244.1.")
    assert sorted(n3.hutch("node", "ls", "-q").out.split()) == ["n1", "n2", "n3"]


def svc_backend(node, name):
    """A backend on node: answers GET /id with its hostname (the container's own /tmp)."""
    cid = node.host.run_d("--name", name, "--hostname", name, "--label", "app=web", "--", "sh", "-c",
                          f"echo {name} > /tmp/id && cd /tmp && exec {harness.PY} -m http.server {WHOAMI_PORT}")
    ip = node.host.inspect(cid)["NetworkSettings"]["IPAddress"]
    node.host.wait_http(f"http://{ip}:{WHOAMI_PORT}/id")
    return ip


def svc_inspect(node, name):
    r = node.hutch("service", "inspect", name, check=False)
    return json.loads(r.out)[0] if r.rc == 0 else None


def answers(node, url, n=24):
    """The set of /id answers a pod on node gets for n requests (one connection each)."""
    r = node.hutch("run", "--rm", "--", "sh", "-c",
                   f"for i in $(seq {n}); do curl -s -m 2 {url}; done", check=False)
    return set(r.out.split())


@pytest.mark.parametrize("backend,fw", [("vxlan", None), ("host-gw", None), ("vxlan", "iptables"), ("host-gw", "iptables")])
def test_services_across_nodes(cluster, backend, fw):
    c = cluster(fw=fw)
    n1, n2, n3 = c.nodes
    for n in c.nodes:
        n.join("--backend", backend)
    svc_backend(n2, "web2")
    svc_backend(n3, "web3")
    n1.hutch("service", "create", "web", "--selector", "app=web", "--port", f"80:{WHOAMI_PORT}",
             "--type", "NodePort", "--node-port", "30080")
    cip = svc_inspect(n1, "web")["ClusterIP"]
    # every node holds the service with the endpoints of every node, each with its node
    for n in c.nodes:
        wait_until(lambda: (lambda s: s and sorted((e["Container"], e["Node"] or n.name) for e in s["Endpoints"])
                            == [("web2", "n2"), ("web3", "n3")])(svc_inspect(n, "web")),
                   desc=f"{n.name} to hold web with both endpoints")
        assert svc_inspect(n, "web")["ClusterIP"] == cip
    assert svc_inspect(n2, "web")["Labels"].get("hutch.cluster.node") == "n1"
    # a pod on n1 (no endpoint there) balances over n2 and n3; by name too, from any node
    assert answers(n1, f"http://{cip}/id") == {"web2", "web3"}
    assert answers(n3, "http://web/id") == {"web2", "web3"}
    # the node itself reaches the ClusterIP
    r = n1.host.run(["curl", "-sS", "-m", "3", f"http://{cip}/id"], check=False)
    assert r.out.strip() in ("web2", "web3"), r
    # NodePort on every node, from the outside, also where no endpoint runs (masqueraded)
    client = c.add_client()
    for n in c.nodes:
        got = set()
        for _ in range(12):
            r = client.run(["curl", "-s", "-m", "2", f"http://{n.ip}:30080/id"], check=False)
            got.add(r.out.strip())
        assert got <= {"web2", "web3"} and got, (n.name, got)
    # n3 leaves: its endpoint goes from every node's copy
    n3.hutch("rm", "-f", "web3")
    n3.hutch("node", "leave")
    for n in (n1, n2):
        wait_until(lambda: [e["Container"] for e in svc_inspect(n, "web")["Endpoints"]] == ["web2"],
                   desc=f"{n.name} to drop n3's endpoint")
    assert answers(n1, f"http://{cip}/id", 8) == {"web2"}
    # removed on its node, gone everywhere
    n1.hutch("service", "rm", "web")
    wait_until(lambda: svc_inspect(n2, "web") is None, desc="n2 to drop the service")


def test_node_death_takes_its_endpoints_away_and_local_policy_stays_local(cluster):
    c = cluster(n=2)
    n1, n2 = c.nodes
    n1.join()
    n2.join("--lease-ttl", "2")
    svc_backend(n1, "web1")
    svc_backend(n2, "web2")
    n1.hutch("service", "create", "web", "--selector", "app=web", "--port", f"80:{WHOAMI_PORT}",
             "--type", "NodePort", "--node-port", "30081", "--external-traffic-policy", "Local")
    def eps(n):
        s = svc_inspect(n, "web")
        return sorted(e["Container"] for e in s["Endpoints"]) if s else None
    for n in (n1, n2):
        wait_until(lambda: eps(n) == ["web1", "web2"], desc=f"{n.name} to hold both endpoints")
    # Local: each node's NodePort answers with its own endpoint only, and the client's address is kept
    client = c.add_client()
    for n, want in ((n1, "web1"), (n2, "web2")):
        got = {client.run(["curl", "-s", "-m", "2", f"http://{n.ip}:30081/id"], check=False).out.strip() for _ in range(8)}
        assert got == {want}, (n.name, got)
    # n2 dies (its agent killed, nothing renews its lease): its endpoint leaves n1's service
    os.kill(n2.agent_pid(), signal.SIGKILL)
    wait_until(lambda: eps(n1) == ["web1"], desc="n2's endpoint to go from n1")
    # the next hutch command on n2 restarts its agent, which publishes its endpoint again
    n2.hutch("ps")
    wait_until(lambda: eps(n1) == ["web1", "web2"], desc="n2's endpoint to come back")


def test_tls_etcd_with_client_certificates(cluster):
    """etcd over https with --client-cert-auth (flannel's -etcd-cafile/-etcd-certfile/-etcd-keyfile):
    joins without the client certificate, with a CA that did not sign etcd's certificate, or to
    a host name the certificate does not name are refused with one line and leave nothing; two
    nodes join with the certificates, their pods reach each other, and leave, ls and the agent
    (also after a restart) use the files recorded at join."""
    c = cluster(n=2, tls=True)
    n1, n2 = c.nodes
    t = c.tls
    ca, cert = ["--etcd-cafile", t["ca"]], ["--etcd-certfile", t["client"], "--etcd-keyfile", t["client_key"]]
    url2 = f"https://{ETCD_IP2}:2379"
    refused = [
        (ca, ETCD_TLS, "give --etcd-certfile and --etcd-keyfile"),
        (["--etcd-cafile", t["otherca"], *cert], ETCD_TLS, f"not trusted by the CA in --etcd-cafile {t['otherca']}"),
        (ca + ["--etcd-certfile", t["rogue"], "--etcd-keyfile", t["rogue_key"]], ETCD_TLS, t["rogue"]),
        (ca + cert, url2, "not valid for that host name"),
    ]
    for flags, url, want in refused:
        r = n1.hutch("node", "join", "--name", "n1", "--etcd", url, "--node-ip", n1.ip, *flags, check=False)
        lines = r.err.strip().splitlines()
        assert r.rc == 125 and len(lines) == 1 and f"etcd at {url}" in r.err and want in r.err, (flags, url, r)
        assert n1.hutch("node", "inspect", check=False).rc == 125
        assert "hutch.1" not in n1.host.run(["ip", "-o", "link"]).out
    assert c.etcd_keys("/") == [] and c.etcd_leases() == []
    # the two nodes join over https with the client certificate
    out = n1.join().out
    assert f"joined the cluster at {ETCD_TLS}" in out, out
    n2.join("--lease-ttl", "2")
    info = n1.inspect()
    assert info["Etcd"] == ETCD_TLS and info["EtcdCAFile"] == t["ca"], info
    assert info["EtcdCertFile"] == t["client"] and info["EtcdKeyFile"] == t["client_key"], info
    assert info["AgentPid"] > 0
    log = open(os.path.join(n1.host.root, "node-agent.log")).read()
    assert f"etcd {ETCD_TLS} (TLS: CA {t['ca']}, client certificate {t['client']})" in log, log
    # ls without the flags: the node's own; with another etcd URL the files are not carried over
    assert n1.hutch("node", "ls", "-q").out.split() == ["n1", "n2"]
    r = n1.hutch("node", "ls", "--etcd", url2, check=False)
    assert r.rc == 125 and "not trusted by the system's CAs" in r.err, r
    assert n1.hutch("node", "ls", "-q", "--etcd", url2, *ca, *cert, check=False).rc == 125  # the host name
    # pods on the two nodes reach each other (n1 learnt n2's subnet through its agent's TLS watch)
    ip2 = n2.web()
    wait_until(lambda: n1.has_route("10.244.2.0/24"), desc="n1 to route n2's subnet")
    seen = n1.curl_from_pod(ip2)
    assert seen is not None and seen.startswith("10.244.1."), seen
    # n2's agent dies (its lease, TTL 2 s, expires: n1 drops the route); the next hutch command
    # on n2 restarts it, and it takes the subnet back over TLS with the recorded files
    os.kill(n2.agent_pid(), signal.SIGKILL)
    wait_until(lambda: not n1.has_route("10.244.2.0/24"), desc="n2's route to go on n1")
    n2.hutch("ps")
    wait_until(lambda: n1.has_route("10.244.2.0/24"), desc="n2 to be back")
    seen = n1.curl_from_pod(ip2)
    assert seen is not None and seen.startswith("10.244.1."), seen
    # leave over TLS: the lease is revoked, n1 drops the route at once
    n2.hutch("rm", "-f", "web")
    assert "left the cluster" in n2.hutch("node", "leave").out
    wait_until(lambda: not n1.has_route("10.244.2.0/24"), desc="n2's route to go on n1 after it left")
    assert n1.hutch("node", "ls", "-q").out.split() == ["n1"]


# --- several etcd endpoints (flannel's -etcd-endpoints) ----------------------------------------

def test_join_with_a_dead_etcd_endpoint_first(cluster):
    """--etcd DEAD,LIVE: every request moves past the endpoint that refuses; the record keeps the
    list (inspect: Etcd the first, EtcdEndpoints all), ls and leave use it, pods reach each other."""
    c = cluster(n=2)
    c.url = f"{ETCD_DEAD},{ETCD}"
    n1, n2 = c.nodes
    assert f"joined the cluster at {ETCD_DEAD},{ETCD}" in n1.join().out
    n2.join()
    info = n1.inspect()
    assert info["Etcd"] == ETCD_DEAD and info["EtcdEndpoints"] == [ETCD_DEAD, ETCD], info
    assert sorted(n2.hutch("node", "ls", "-q").out.split()) == ["n1", "n2"]
    assert sorted(n2.hutch("node", "ls", "-q", "--etcd", f"{ETCD_DEAD},{ETCD}").out.split()) == ["n1", "n2"]
    # an address on the underlay that nobody holds: the connection times out, the next answers
    assert sorted(n2.hutch("node", "ls", "-q", "--etcd", f"http://192.0.2.250:2379,{ETCD}").out.split()) == ["n1", "n2"]
    ip2 = n2.web()
    wait_until(lambda: n1.has_route(subnet_of(n2)), desc="n1 to route n2")
    seen = n1.curl_from_pod(ip2)
    assert seen is not None and seen.startswith("10.244.1."), seen
    # nothing answers at all: one line naming every endpoint
    r = n1.hutch("node", "ls", "--etcd", f"{ETCD_DEAD},http://{ETCD_IP}:2998", check=False)
    assert r.rc == 125 and len(r.err.strip().splitlines()) == 1, r
    assert f"etcd is unreachable at {ETCD_DEAD}, http://{ETCD_IP}:2998 (" in r.err, r
    # leave goes through the live endpoint too: the leases and keys are gone
    n2.hutch("rm", "-f", "web")
    n2.hutch("node", "leave")
    n1.hutch("node", "leave")
    assert c.etcd_leases() == [] and c.etcd_keys("/") == []


def test_three_member_etcd_the_member_in_use_stops(cluster):
    """A real 3-member etcd cluster; the nodes join with all three URLs and use the first. It
    stops: ls and a new node's join go to the others, and the agents (their watch broken) list
    and watch again at a live member and program the node that joined afterwards."""
    c = cluster(members=3)
    n1, n2, n3 = c.nodes
    n1.join()
    n2.join()
    assert n1.inspect()["EtcdEndpoints"] == c.member_urls
    wait_until(lambda: n1.has_route(subnet_of(n2)) and n2.has_route(subnet_of(n1)), desc="n1 and n2 to route each other")
    stop_process(c.etcd)  # member 0, the one every node uses
    assert sorted(n1.hutch("node", "ls", "-q").out.split()) == ["n1", "n2"]
    n3.join()
    ip3 = n3.web()
    for n in (n1, n2):
        wait_until(lambda: n.has_route(subnet_of(n3)), desc=f"{n.name} to route n3 after member 0 stopped")
    seen = n1.curl_from_pod(ip3)
    assert seen is not None and seen.startswith("10.244.1."), seen
    assert sorted(n3.hutch("node", "ls", "-q").out.split()) == ["n1", "n2", "n3"]
    assert f"watching etcd at {c.member_urls[1]}" in harness._read(n1.host.root + "/node-agent.log")
    for n in (n1, n2, n3):
        for cid in n.host.ps_ids(all=True):
            n.hutch("rm", "-f", cid)
        n.hutch("node", "leave")
    assert c.etcd_leases() == [] and c.etcd_keys("/") == []
