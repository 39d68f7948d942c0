"""Services (issue 15): ClusterIP load balancing over labelled containers and pods, names and
environment variables, endpoints that follow every lifecycle change, refusal without endpoints,
NodePort from an outside namespace (Cluster and Local policy), session affinity, UDP endpoint
swaps (conntrack), conflicts with `-p`, `network reload` after a wipe, and `service rm` leaving
nothing behind.

Every test runs on both firewall backends and passes `--firewall BACKEND` on every hutch call.
Traffic stays inside the throwaway host namespace, its containers and the "outside" namespace.
"""
import json
import os
import re
import signal
import sqlite3

import pytest

from harness import HOST_OUT_IP, OUTSIDE_IP, PY, ppid_of, wait_until
from harness import Backend as Fw, db_rows, hutch_nft_table, rules

BACKENDS = ["nftables", "iptables"]

# An endpoint's server: `python3 -c SRV NAME SPEC...`, SPEC = tcp:PORT (HTTP: every GET answers
# "NAME CLIENT_ADDRESS") or udp:PORT (every datagram answered with the same).
SRV = r'''
import http.server, socket, sys, threading
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        b = ("%s %s\n" % (name, self.client_address[0])).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
def udp(s):
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(("%s %s" % (name, a[0])).encode(), a)
threads = []
for spec in sys.argv[2:]:
    kind, port = spec.split(":")
    if kind == "tcp":
        srv = http.server.ThreadingHTTPServer(("0.0.0.0", int(port)), H)
        threads.append(threading.Thread(target=srv.serve_forever))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", int(port)))
        threads.append(threading.Thread(target=udp, args=(s,)))
for t in threads:
    t.start()
for t in threads:
    t.join()
'''

# `python3 -c GET URL N`: N requests, one connection each; prints one answer (or "ERR <errno>") a line.
GET = r'''
import sys, urllib.request
for _ in range(int(sys.argv[2])):
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode().strip(), flush=True)
    except Exception as e:
        r = getattr(e, "reason", e)
        print("ERR", getattr(r, "errno", type(r).__name__), flush=True)
'''

# `python3 -c UDPC HOST PORT SOURCE_PORT`: one datagram from a fixed source port; prints the answer,
# "REFUSED" on an ICMP port unreachable, exit 3 on silence.
UDPC = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[3])))
s.settimeout(1)
s.connect((sys.argv[1], int(sys.argv[2])))
s.send(b"ping")
try:
    print(s.recv(2048).decode())
except ConnectionRefusedError:
    print("REFUSED")
except socket.timeout:
    sys.exit(3)
'''


def srv(name, *specs):
    return ["--", PY, "-c", SRV, name, *specs]


def web(hx, name, *extra, port="tcp:8000", label="app=web"):
    """A detached endpoint `name` labelled `label`, serving HTTP on 8000 (and more specs)."""
    cid = hx.run_d("--name", name, "--label", label, *srv(name, port, *extra))
    return cid


def wait_serving(hx, ip, port=8000):
    """Until the endpoint at ip:port answers (its server has started)."""
    wait_until(lambda: hx.h.run(["curl", "-s", "--max-time", "1", f"http://{ip}:{port}/"], check=False).rc == 0,
               desc=f"{ip}:{port} to serve")


def svc(hx, name):
    return json.loads(hx.hutch("service", "inspect", name).out)[0]


def endpoints(hx, name):
    return sorted(e["Container"] for e in svc(hx, name)["Endpoints"])


def gets(ns_argv, url, n):
    """n requests from a namespace or container (ns_argv: a command prefix); the answers."""
    return ns_argv([PY, "-c", GET, url, str(n)])


def host_gets(hx, url, n):
    return hx.h.run([PY, "-c", GET, url, str(n)], timeout=120).out.split("\n")[:-1]


def ctr_gets(hx, url, n, *run_args):
    r = hx.hutch("run", "--rm", *run_args, "--", PY, "-c", GET, url, str(n), timeout=120)
    return r.out.split("\n")[:-1]


def names_of(lines):
    return [l.split()[0] for l in lines]


def counts(lines):
    out = {}
    for n in names_of(lines):
        out[n] = out.get(n, 0) + 1
    return out


def three(hx):
    for n in ("w1", "w2", "w3"):
        web(hx, n)
    for n in ("w1", "w2", "w3"):
        wait_serving(hx, hx.ip_of(n))


def check_client_address(lines, policy):
    """The outside client's address as the endpoints saw it: kept (Local) or masqueraded (Cluster)."""
    seen = {l.split()[1] for l in lines}
    if policy == "Local":
        assert seen == {OUTSIDE_IP}, f"Local must keep the client address: {seen}"
    else:
        assert OUTSIDE_IP not in seen, f"Cluster masquerades: {seen}"


def service_state(h, backend):
    """What the firewall holds for services (elements or chains) and the route, as text."""
    route = h.run(["ip", "route"]).out
    if backend == "nftables":
        t = hutch_nft_table(h)
        return t, route
    text = h.sh("iptables-save -t nat; iptables-save -t filter").out
    # without the timestamp comments and the packet counters
    return "\n".join(re.sub(r"\[\d+:\d+\]", "", l) for l in text.splitlines() if not l.startswith("#")), route


# ---------------------------------------------------------------------------------------------
# ClusterIP


@pytest.mark.parametrize("backend", BACKENDS)
def test_balance_over_three_endpoints_from_container_and_host(h, backend):
    hx = Fw(h, backend)
    three(hx)
    assert hx.hutch("service", "create", "web", "--selector", "app=web", "--port", "80:8000").out.strip() == "web"
    s = svc(hx, "web")
    vip = s["ClusterIP"]
    assert re.fullmatch(r"10\.96\.\d+\.\d+", vip), s
    assert s["Type"] == "ClusterIP" and s["Selector"] == {"app": "web"}
    assert s["Ports"] == [{"Port": 80, "TargetPort": 8000, "Protocol": "TCP", "NodePort": None}]
    assert sorted(e["Container"] for e in s["Endpoints"]) == ["w1", "w2", "w3"]
    assert sorted(e["IP"] for e in s["Endpoints"]) == sorted(hx.ip_of(n) for n in ("w1", "w2", "w3"))
    # container -> ClusterIP, by name: every endpoint serves, and sees the client's own address
    client_ip_lines = ctr_gets(hx, "http://web/", 60)
    c = counts(client_ip_lines)
    assert set(c) == {"w1", "w2", "w3"}, client_ip_lines
    assert len({l.split()[1] for l in client_ip_lines}) == 1, "the client address must be kept"
    # host -> ClusterIP (output hook and the route for the service range)
    lines = host_gets(hx, f"http://{vip}/", 60)
    assert set(counts(lines)) == {"w1", "w2", "w3"}, lines
    # ls, --format, exists
    ls = hx.hutch("service", "ls").out
    assert "web" in ls and vip in ls and "80/TCP" in ls and "app=web" in ls
    row = json.loads(hx.hutch("service", "ls", "--format", "json").out.splitlines()[0])
    assert row["Name"] == "web" and row["ClusterIP"] == vip and row["Endpoints"] == "3"
    assert hx.hutch("service", "ls", "--format", "{{.Name}} {{.Type}}").out == "web ClusterIP\n"
    assert hx.hutch("service", "exists", "web").rc == 0
    assert hx.hutch("service", "exists", "nope", check=False).rc == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_hairpin_endpoint_reaches_its_own_service(h, backend):
    hx = Fw(h, backend)
    three(hx)
    hx.hutch("service", "create", "web", "--selector", "app=web", "--port", "80:8000")
    out = hx.hutch("exec", "w1", PY, "-c", GET, "http://web/", "45", timeout=120).out.split("\n")[:-1]
    assert all(not l.startswith("ERR") for l in out), out
    assert "w1" in counts(out), f"w1 never reached itself through the service: {out}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_names_early_and_late_containers_and_env(h, backend):
    hx = Fw(h, backend)
    web(hx, "w1")
    early = hx.run_d("--name", "early", "--", "sleep", "600")
    hx.hutch("service", "create", "web-api", "--selector", "app=web", "--port", "80:8000", "--port", "53/udp")
    vip = svc(hx, "web-api")["ClusterIP"]
    for name in ("early",):
        hosts = hx.hutch("exec", name, "cat", "/etc/hosts").out
        assert f"{vip}\tweb-api web-api.default.svc.cluster.local" in hosts, hosts
        got = hx.hutch("exec", name, "getent", "hosts", "web-api.default.svc.cluster.local").out.split()
        assert got[0] == vip, got
    # started after: names and Kubernetes' variables
    out = hx.hutch("run", "--rm", "--", "sh", "-c", "getent hosts web-api; env").out
    assert out.split()[0] == vip, out
    assert f"WEB_API_SERVICE_HOST={vip}" in out and "WEB_API_SERVICE_PORT=80" in out, out
    early_env = hx.hutch("exec", "early", "env").out
    assert "WEB_API_SERVICE_HOST" not in early_env
    # -e wins over a service's variable; exec and inspect see the variables the container got
    late = hx.run_d("-e", "WEB_API_SERVICE_PORT=9", "--", "sleep", "600")
    env = hx.hutch("exec", late, "env").out.split("\n")
    assert f"WEB_API_SERVICE_HOST={vip}" in env and "WEB_API_SERVICE_PORT=9" in env, env
    assert "WEB_API_SERVICE_PORT=80" not in env, env
    conf = json.loads(hx.hutch("inspect", "--format", "{{json .Config.Env}}", late).out)
    assert f"WEB_API_SERVICE_HOST={vip}" in conf and "WEB_API_SERVICE_PORT=9" in conf, conf
    assert "WEB_API_SERVICE_PORT=80" not in conf, conf
    # a service created later is not in the environment of a container that started before it
    hx.hutch("service", "create", "later", "--selector", "app=none", "--port", "81")
    assert "LATER_SERVICE_HOST" not in hx.hutch("exec", late, "env").out
    assert "LATER_SERVICE_PORT=81" in hx.hutch("run", "--rm", "--", "env").out
    hx.hutch("rm", "-f", late)
    hx.hutch("service", "rm", "later")
    # a pod sees the names too (its members share its hosts file)
    hx.hutch("pod", "create", "--name", "pp")
    assert vip in hx.hutch("run", "--rm", "--pod", "pp", "--", "getent", "hosts", "web-api").out
    hx.hutch("service", "rm", "web-api")
    assert "web-api" not in hx.hutch("exec", "early", "cat", "/etc/hosts").out
    hx.hutch("pod", "rm", "-f", "pp")
    assert early


@pytest.mark.parametrize("backend", BACKENDS)
def test_endpoints_follow_run_stop_kill_rm_exit_pod_and_crash(h, backend):
    hx = Fw(h, backend)
    hx.hutch("service", "create", "web", "--selector", "app=web", "--port", "80:8000")
    assert endpoints(hx, "web") == []
    web(hx, "w1")
    web(hx, "w2")
    web(hx, "w3")
    hx.run_d("--name", "other", "--label", "app=other", "--", "sleep", "600")
    assert endpoints(hx, "web") == ["w1", "w2", "w3"]
    hx.hutch("stop", "-t", "1", "w1")
    assert endpoints(hx, "web") == ["w2", "w3"]
    hx.hutch("kill", "w2")
    wait_until(lambda: endpoints(hx, "web") == ["w3"], desc="w2 to leave on kill (the shim's cleanup)")
    hx.hutch("rm", "-f", "w3")
    assert endpoints(hx, "web") == []
    # a container whose command exits leaves
    hx.run_d("--name", "brief", "--label", "app=web", "--", "sleep", "1")
    hx.wait_exited("brief")
    assert endpoints(hx, "web") == []
    # restarted under the same name, it joins again
    hx.hutch("rm", "w1", "w2", "brief")
    web(hx, "w1")
    assert endpoints(hx, "web") == ["w1"]
    # a pod's labels make the pod's address an endpoint; pod rm takes it away
    hx.hutch("pod", "create", "--name", "pw", "--label", "app=web")
    hx.run_d("--pod", "pw", "--name", "pwm", *srv("pw", "tcp:8000")[0:])
    s = svc(hx, "web")
    assert sorted(e["Container"] for e in s["Endpoints"]) == ["pw", "w1"], s
    pod_ip = [e["IP"] for e in s["Endpoints"] if e["Container"] == "pw"][0]
    wait_serving(hx, pod_ip)
    assert "pw" in counts(host_gets(hx, f"http://{s['ClusterIP']}/", 30))
    hx.hutch("pod", "rm", "-f", "pw")
    assert endpoints(hx, "web") == ["w1"]
    # a crash: monitor and container killed, nothing cleans up; gc does, endpoints included
    pid = hx.inspect("w1")["State"]["Pid"]
    os.kill(ppid_of(pid), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), desc="the killed container to go")
    assert endpoints(hx, "web") == ["w1"]  # nobody noticed yet
    hx.hutch("gc")
    assert endpoints(hx, "web") == []
    # ... and the data path agrees: refused at once
    r = h.run(["curl", "-sS", "--max-time", "2", f"http://{svc(hx, 'web')['ClusterIP']}/"], check=False)
    assert r.rc == 7, (r.rc, r.err)


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_endpoints_is_refused_at_once(h, backend):
    hx = Fw(h, backend)
    hx.hutch("service", "create", "empty", "--selector", "app=none", "--port", "80", "--port", "5353/udp")
    vip = svc(hx, "empty")["ClusterIP"]
    # curl exit 7: refused (a reset / port unreachable), where a silent drop would be 28 (timeout)
    r = h.run(["curl", "-sS", "--max-time", "1", f"http://{vip}/"], check=False)
    assert r.rc == 7, (r.rc, r.err)
    r = hx.hutch("run", "--rm", "--", "curl", "-sS", "--max-time", "1", "http://empty/", check=False)
    assert r.rc == 7, (r.rc, r.err)
    r = hx.hutch("run", "--rm", "--", PY, "-c", UDPC, vip, "5353", "40000", check=False)
    assert r.out.strip() == "REFUSED", (r.rc, r.out, r.err)


# ---------------------------------------------------------------------------------------------
# NodePort


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_nodeport_from_outside(h, backend, policy):
    hx = Fw(h, backend)
    out = h.outside()
    three(hx)
    hx.hutch("service", "create", "np", "--selector", "app=web", "--port", "80:8000", "--type", "NodePort",
             "--node-port", "30080", "--external-traffic-policy", policy)
    s = svc(hx, "np")
    assert s["Type"] == "NodePort" and s["Ports"][0]["NodePort"] == 30080 and s["ExternalTrafficPolicy"] == policy
    lines = out.run([PY, "-c", GET, f"http://{HOST_OUT_IP}:30080/", "45"], timeout=120).out.split("\n")[:-1]
    assert set(counts(lines)) == {"w1", "w2", "w3"}, lines
    check_client_address(lines, policy)
    # the ClusterIP of a NodePort service works as well
    assert set(counts(host_gets(hx, f"http://{s['ClusterIP']}/", 30))) <= {"w1", "w2", "w3"}
    # without endpoints the node port refuses
    hx.hutch("rm", "-f", "w1", "w2", "w3")
    r = out.run(["curl", "-sS", "--max-time", "1", f"http://{HOST_OUT_IP}:30080/"], check=False)
    assert r.rc == 7, (r.rc, r.err)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nodeport_and_publish_conflict_both_ways(h, backend):
    hx = Fw(h, backend)
    hx.run_d("--name", "pub", "-p", "30081:80", "--", "sleep", "600")
    r = hx.hutch("service", "create", "np", "--selector", "app=web", "--port", "80", "--type", "NodePort",
                 "--node-port", "30081", check=False)
    assert r.rc == 125 and "30081" in r.err and "pub" in r.err, r.err
    assert hx.hutch("service", "exists", "np", check=False).rc == 1
    hx.hutch("service", "create", "np", "--selector", "app=web", "--port", "80", "--type", "NodePort",
             "--node-port", "30082")
    r = hx.hutch("run", "-d", "--name", "pub2", "-p", "30082:80", "--", "sleep", "600", check=False)
    assert r.rc == 125 and "30082" in r.err and "service np" in r.err, r.err
    assert hx.hutch("container", "exists", "pub2", check=False).rc == 1
    # a free node port is picked from the range when none is given
    hx.hutch("service", "create", "np2", "--selector", "app=web", "--port", "80", "--port", "81/udp", "--type", "NodePort")
    ports = svc(hx, "np2")["Ports"]
    assert all(30000 <= p["NodePort"] <= 32767 for p in ports), ports


# ---------------------------------------------------------------------------------------------
# affinity, UDP


@pytest.mark.parametrize("backend", BACKENDS)
def test_client_ip_affinity(h, backend):
    hx = Fw(h, backend)
    three(hx)
    hx.hutch("service", "create", "sticky", "--selector", "app=web", "--port", "80:8000",
             "--session-affinity", "ClientIP", "--session-affinity-timeout", "600")
    s = svc(hx, "sticky")
    assert s["SessionAffinity"] == "ClientIP" and s["SessionAffinityTimeout"] == 600
    lines = host_gets(hx, f"http://{s['ClusterIP']}/", 30)
    assert len(counts(lines)) == 1 and "ERR" not in counts(lines), f"one client must keep one endpoint: {counts(lines)}"
    if backend == "nftables":
        # the client is remembered with the service's timeout
        assert "timeout 10m" in h.run(["nft", "list", "map", "ip", "hutch", "svc-aff"]).out
    # another client (a container) is pinned too, to one endpoint
    lines = ctr_gets(hx, "http://sticky/", 30)
    assert len(counts(lines)) == 1 and "ERR" not in counts(lines), counts(lines)
    # when the pinned endpoint goes, the client moves on to a live one
    first = names_of(host_gets(hx, f"http://{s['ClusterIP']}/", 1))[0]
    hx.hutch("rm", "-f", first)
    lines = host_gets(hx, f"http://{s['ClusterIP']}/", 10)
    assert len(counts(lines)) == 1 and first not in counts(lines) and "ERR" not in counts(lines), lines


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", ["Cluster", "Local"])
def test_nodeport_client_ip_affinity_from_outside(h, backend, policy):
    hx = Fw(h, backend)
    out = h.outside()
    three(hx)
    hx.hutch("service", "create", "sticky", "--selector", "app=web", "--port", "80:8000", "--type", "NodePort",
             "--node-port", "30090", "--external-traffic-policy", policy,
             "--session-affinity", "ClientIP", "--session-affinity-timeout", "600")
    url = f"http://{HOST_OUT_IP}:30090/"
    out_gets = lambda n: out.run([PY, "-c", GET, url, str(n)], timeout=120).out.split("\n")[:-1]
    lines = out_gets(30)
    assert len(counts(lines)) == 1 and "ERR" not in counts(lines), f"one client must keep one endpoint: {counts(lines)}"
    check_client_address(lines, policy)
    first = names_of(lines)[0]
    if backend == "nftables":
        # the client is remembered per node port, with the service's timeout
        aff = h.run(["nft", "list", "map", "ip", "hutch", "svc-np-aff"]).out
        assert f"{OUTSIDE_IP} . tcp . 30090 timeout 10m" in aff and hx.ip_of(first) in aff, aff
    # a rewrite of every rule (network reload) keeps the client where it is
    hx.hutch("network", "reload")
    assert set(names_of(out_gets(5))) == {first}
    # when the pinned endpoint goes, the client moves on to one live endpoint and stays there
    hx.hutch("rm", "-f", first)
    lines = out_gets(10)
    assert len(counts(lines)) == 1 and first not in counts(lines) and "ERR" not in counts(lines), lines
    if backend == "nftables":
        assert hx.ip_of(names_of(lines)[0]) in h.run(["nft", "list", "map", "ip", "hutch", "svc-np-aff"]).out
    # service rm leaves no remembered client behind
    hx.hutch("service", "rm", "sticky")
    if backend == "nftables":
        assert OUTSIDE_IP not in h.run(["nft", "list", "map", "ip", "hutch", "svc-np-aff"]).out


@pytest.mark.parametrize("backend", BACKENDS)
def test_nodeport_udp_client_ip_affinity(h, backend):
    hx = Fw(h, backend)
    out = h.outside()
    for n in ("u1", "u2", "u3"):
        web(hx, n, "udp:5353", label="app=dns")
    for n in ("u1", "u2", "u3"):
        wait_serving(hx, hx.ip_of(n))
    hx.hutch("service", "create", "dns", "--selector", "app=dns", "--port", "53:5353/udp", "--type", "NodePort",
             "--node-port", "30091", "--session-affinity", "ClientIP")
    # every source port is a new flow (a new balancing decision without affinity)
    answers = [out.run([PY, "-c", UDPC, HOST_OUT_IP, "30091", str(40200 + i)], check=False).out.split(" ")[0]
               for i in range(12)]
    assert len(set(answers)) == 1 and answers[0] in ("u1", "u2", "u3"), answers


@pytest.mark.parametrize("backend", BACKENDS)
def test_udp_follows_an_endpoint_swap(h, backend):
    hx = Fw(h, backend)
    web(hx, "u1", port="udp:5353", label="app=dns")
    hx.hutch("service", "create", "dns", "--selector", "app=dns", "--port", "53:5353/udp")
    vip = svc(hx, "dns")["ClusterIP"]
    ask = lambda: h.run([PY, "-c", UDPC, vip, "53", "40123"], check=False)
    wait_until(lambda: ask().out.startswith("u1 "), desc="u1 to answer through the service")
    # the same client port keeps a conntrack entry to u1; the swap must delete it
    hx.hutch("rm", "-f", "u1")
    web(hx, "u2", port="udp:5353", label="app=dns")
    wait_until(lambda: ask().out.startswith("u2 "), timeout=5, desc="the same client port to reach u2")


# ---------------------------------------------------------------------------------------------
# reload, rm, gc


@pytest.mark.parametrize("backend", BACKENDS)
def test_reload_after_a_wipe_and_rm_leaves_nothing(h, backend):
    hx = Fw(h, backend)
    web(hx, "w1")
    wait_serving(hx, hx.ip_of("w1"))
    hx.hutch("service", "create", "web", "--selector", "app=web", "--port", "80:8000", "--type", "NodePort")
    vip = svc(hx, "web")["ClusterIP"]
    assert host_gets(hx, f"http://{vip}/", 1)[0].startswith("w1 ")
    if backend == "nftables":
        h.run(["nft", "flush", "ruleset"])
    else:
        h.sh("iptables -t nat -F; iptables -t nat -X; iptables -F; iptables -X")
    assert host_gets(hx, f"http://{vip}/", 1)[0].startswith("ERR")
    out = hx.hutch("network", "reload").out
    assert "services: 1 service(s), 1 endpoint(s)" in out, out
    assert host_gets(hx, f"http://{vip}/", 1)[0].startswith("w1 ")
    hx.hutch("rm", "-f", "w1")
    hx.hutch("service", "rm", "web")
    after = service_state(h, backend)
    assert "10.96.0.0/16" not in after[1], after[1]
    text = after[0]
    if backend == "nftables":
        # no element of any services set or map is left
        assert "hutch:service" not in text and vip not in text, text
    else:
        assert "HUTCH-SVC-" not in text and "HUTCH-SEP-" not in text and vip not in text, text
    assert db_rows(h, "ports") == [] and db_rows(h, "service_endpoints") == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_gc_drops_rules_of_a_service_whose_record_is_gone(h, backend):
    hx = Fw(h, backend)
    web(hx, "w1")
    hx.hutch("service", "create", "ghost", "--selector", "app=web", "--port", "80:8000")
    vip = svc(hx, "ghost")["ClusterIP"]
    # the record vanishes behind hutch's back (a crash between the rules and the commit)
    con = sqlite3.connect(os.path.join(h.root, "hutch.db"), timeout=10)
    with con:
        con.executescript("delete from services; delete from service_selectors; delete from service_endpoints;")
    con.close()
    assert vip in service_state(h, backend)[0]
    hx.hutch("gc")
    state, route = service_state(h, backend)
    assert vip not in state and "10.96.0.0/16" not in route, (state, route)


# ---------------------------------------------------------------------------------------------
# bad input (state-dependent rows; the stateless ones are in test_hardening's table)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_creates_nothing(h, backend):
    hx = Fw(h, backend)
    hx.run_d("--name", "pub", "-p", "30090:80", "--", "sleep", "600")
    hx.hutch("service", "create", "taken", "--selector", "a=b", "--port", "80", "--cluster-ip", "10.96.0.10",
             "--type", "NodePort", "--node-port", "30091")
    cases = [
        (["service", "create", "taken", "--selector", "a=b", "--port", "80"], ["taken", "already exists"]),
        (["service", "create", "x1", "--selector", "a=b", "--port", "80", "--cluster-ip", "10.96.0.10"], ["10.96.0.10", "taken"]),
        (["service", "create", "x2", "--selector", "a=b", "--port", "80", "--cluster-ip", "10.97.0.1"], ["10.97.0.1", "outside"]),
        (["service", "create", "x3", "--selector", "a=b", "--port", "80", "--type", "NodePort", "--node-port", "30090"], ["30090", "pub"]),
        (["service", "create", "x4", "--selector", "a=b", "--port", "80", "--type", "NodePort", "--node-port", "30091"], ["30091", "taken"]),
        (["service", "create", "x5", "--selector", "a=b", "--port", "80", "--type", "NodePort", "--node-port", "29999"], ["29999"]),
        (["service", "create", "x6", "--selector", "a=b", "--port", "80", "--type", "NodePort", "--node-port", "40000"], ["40000"]),
        (["service", "rm", "nope"], ["nope"]),
        (["service", "inspect", "nope"], ["nope"]),
    ]
    before = (db_rows(h, "services"), db_rows(h, "ports"), service_state(h, backend))
    failures = []
    for args, mentions in cases:
        r = hx.hutch(*args, check=False)
        if r.rc != 125 or r.err.count("\n") != 1 or not all(m in r.err for m in mentions):
            failures.append(f"{args}: rc={r.rc} err={r.err!r}")
        if (db_rows(h, "services"), db_rows(h, "ports"), service_state(h, backend)) != before:
            failures.append(f"{args}: state changed")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_endpoint_of_many_services_joins_and_leaves_them_all_at_once(h, backend):
    """One container selected by 150 services of 10 ports each (90,000 slots): its join and its
    leave change 45,000 map elements in one nftables transaction (over a thousand netlink
    messages, each acknowledged): the command reports no error and the traffic follows at once.
    (The acks once overflowed the socket's receive buffer: ENOBUFS for a committed batch.)"""
    hx = Fw(h, backend)
    web(hx, "w1", label="app=many")
    ports = [a for p in range(10) for a in ("--port", f"{80 + p}:8000")]
    for i in range(150):
        hx.hutch("service", "create", f"m{i}", "--selector", "app=many", *ports)
    r = hx.hutch("run", "-d", "--name", "w2", "--label", "app=many", *srv("w2", "tcp:8000"))
    assert r.err == "", r.err
    h.remember("w2")
    vip = svc(hx, "m149")["ClusterIP"]
    wait_serving(hx, [e["IP"] for e in svc(hx, "m149")["Endpoints"] if e["Container"] == "w2"][0])
    assert set(counts(host_gets(hx, f"http://{vip}:89/", 30))) == {"w1", "w2"}
    r = hx.hutch("rm", "-f", "w1")
    assert r.err == "", r.err
    assert counts(host_gets(hx, f"http://{vip}:89/", 20)) == {"w2": 20}
    assert counts(host_gets(hx, f"http://{svc(hx, 'm0')['ClusterIP']}:80/", 10)) == {"w2": 10}


@pytest.mark.parametrize("backend", BACKENDS)
def test_endpoints_follow_start_and_restart(h, backend):
    hx = Fw(h, backend)
    hx.hutch("service", "create", "web", "--selector", "app=web", "--port", "80:8000")
    web(hx, "w1")
    hx.hutch("stop", "-t", "1", "w1")
    assert endpoints(hx, "web") == []
    hx.hutch("start", "w1")
    assert endpoints(hx, "web") == ["w1"]
    ip = hx.ip_of("w1")
    wait_serving(hx, ip)
    assert names_of(host_gets(hx, f"http://{svc(hx, 'web')['ClusterIP']}/", 3)) == ["w1"] * 3
    hx.hutch("restart", "-t", "1", "w1")
    assert endpoints(hx, "web") == ["w1"]


HOSTS_LINE = re.compile(r"[0-9a-f.:]+\t\S+( \S+)*")


@pytest.mark.parametrize("backend", BACKENDS)
def test_hosts_files_stay_whole_under_concurrent_creates_runs_and_removals(h, backend):
    """`service create` appends its line to every container's hosts file while runs and removals
    on a user network rewrite the same files: afterwards every file is well formed (no comment
    left from a cut rewrite, no half line) and holds every service once and every peer."""
    from concurrent.futures import ThreadPoolExecutor
    hx = Fw(h, backend)
    hx.hutch("network", "create", "hn")
    first = [hx.run_d("--net", "hn", "--name", f"old{i}", "--", "sleep", "600") for i in range(3)]
    jobs = [("service", "create", f"s{i}", "--selector", f"app=s{i}", "--port", "80") for i in range(12)]
    jobs += [("run", "-d", "--net", "hn", "--name", f"new{i}", "--", "sleep", "600") for i in range(6)]
    jobs += [("rm", "-f", "old0")]
    jobs = jobs[::2] + jobs[1::2]  # creates, runs and the removal interleaved
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda a: hx.hutch(*a, check=False), jobs))
    for a, r in zip(jobs, results):
        assert r.rc == 0, f"{a}: {r.err}"
    vips = {f"s{i}": svc(hx, f"s{i}")["ClusterIP"] for i in range(12)}
    running = {n: hx.inspect(n) for n in ["old1", "old2"] + [f"new{i}" for i in range(6)]}
    for c in running.values():
        h.remember(c["Id"])
    ips = {n: c["NetworkSettings"]["Networks"]["hn"]["IPAddress"] for n, c in running.items()}
    for name, c in running.items():
        with open(os.path.join(h.root, "containers", c["Id"], "hosts")) as f:
            text = f.read()
        lines = text.split("\n")
        assert lines[-1] == "", f"{name}: the file does not end with a newline: {text!r}"
        bad = [l for l in lines[:-1] if not HOSTS_LINE.fullmatch(l)]
        assert not bad, f"{name}: lines that are not `ADDRESS\\tNAMES`: {bad}\n{text}"
        for s, vip in vips.items():
            want = f"{vip}\t{s} {s}.default.svc.cluster.local"
            assert lines.count(want) == 1, f"{name}: {want!r} {lines.count(want)} times\n{text}"
        for peer, ip in ips.items():
            assert any(l.startswith(f"{ip}\t") and peer in l.split("\t")[1].split() for l in lines), f"{name}: no line for {peer} ({ip})\n{text}"
        assert not any(l.startswith(f"{ip}\told0") for l in lines), f"{name}: old0 is still there\n{text}"
    assert first
