"""Published ports (issue 3): every `-p` form, `hutch port`, inspect's `NetworkSettings.Ports`,
reachability from the outside world (source address kept), from the host (127.0.0.1 and its own
address) and through hairpin NAT, hostIP restriction, UDP (and stale conntrack entries after a
container is replaced), conflicts that create nothing, modes that cannot publish, rule removal
however a container ends, `hutch network reload` after a wipe, and switching firewall backends.

Every test that touches the firewall runs on both backends and passes `--firewall BACKEND` on
every hutch call (through `Fw`), so the backend recorded in the state root never switches by
accident. Traffic stays inside the throwaway host namespace, its containers and the "outside"
namespace at 192.0.2.2 that the test made.
"""
import ipaddress
import json
import os
import re
import signal
import threading

import pytest

from harness import HOST_OUT_IP, OUTSIDE_IP, PY, wait_until
from harness import Backend as Fw, db_rows, hutch_nft_table, ppid_of, rules

OWNER = re.compile(r"hutch:([0-9a-f]{64})")
BACKENDS = ["nftables", "iptables"]
SUBNET = ipaddress.ip_network("10.87.0.0/16")
EPHEMERAL = range(32768, 61000)
# curl exit codes for "no answer": 7 (refused / unreachable), 28 (timed out: dropped)
BLOCKED = (7, 28)

# A server for the container: `python3 -c SRV NAME SPEC...`, SPEC = tcp:PORT (an HTTP server
# answering every GET with the client's address), udp:PORT (answers every datagram with
# "NAME CLIENT_ADDRESS") or once:PORT (HTTP, one request, then the process exits 0).
SRV = r'''
import http.server, socket, sys, threading
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = (self.client_address[0] + "\n").encode()
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
    if kind == "once":
        http.server.HTTPServer(("0.0.0.0", int(port)), H).handle_request()
        sys.exit(0)
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

# A UDP client: `python3 -c UDPC HOST PORT [SOURCE_PORT]`; prints the answer, exit 3 on silence.
UDPC = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if len(sys.argv) > 3:
    s.bind(("0.0.0.0", int(sys.argv[3])))
s.settimeout(1)
s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recvfrom(2048)[0].decode())
except socket.timeout:
    sys.exit(3)
'''


def srv(name, *specs):
    return ["--", PY, "-c", SRV, name, *specs]


# ---------------------------------------------------------------------------------------------
# helpers


def owners(text):
    return set(OWNER.findall(text))


def stable_rules(h, backend):
    """Rules without iptables-save's timestamp comments and packet counters."""
    text = rules(h, backend)
    return [re.sub(r"\[\d+:\d+\]", "", l) for l in text.splitlines() if not l.startswith("#")]


def curl(ns, url):
    return ns.run(["curl", "-sS", "--connect-timeout", "2", "--max-time", "4", url], check=False, timeout=15)


def http_ok(h, url, ns=None):
    """Polls until url answers (≤ 10 s); returns the body stripped (the address the server saw)."""
    return h.wait_http(url, ns=ns).strip()


def refused(ns, url):
    r = curl(ns, url)
    assert r.rc in BLOCKED, f"{url} from {ns.name} must not connect: rc={r.rc} out={r.out!r} err={r.err!r}"


def udp_once(ns, host, port, sport=None):
    return ns.run([PY, "-c", UDPC, host, str(port)] + ([str(sport)] if sport else []), check=False, timeout=10)


def udp_ok(ns, host, port, sport=None, expect_prefix=""):
    """Polls a UDP exchange until an answer starting with expect_prefix comes back (≤ 10 s)."""
    def probe():
        r = udp_once(ns, host, port, sport)
        return r.out.strip() if r.rc == 0 and r.out.startswith(expect_prefix) else None
    return wait_until(probe, timeout=10, desc=f"UDP answer ({expect_prefix!r}...) from {host}:{port} in {ns.name}")


def ct_entries(h, dport, sport):
    """conntrack entries in the throwaway netns for UDP from sport to dport."""
    r = h.sh(f"conntrack -L -p udp --orig-port-src {sport} --orig-port-dst {dport}", check=False)
    return [l for l in r.out.splitlines() if l.strip()]


def port_lines(out):
    """`hutch port NAME` output -> {(\"80/tcp\", \"0.0.0.0\", 8080), ...}."""
    got = set()
    for line in out.splitlines():
        m = re.fullmatch(r"(\d+/(?:tcp|udp)) -> ([\d.]+):(\d+)", line.strip())
        assert m, f"`hutch port` line not in Docker's shape: {line!r} (all: {out!r})"
        got.add((m.group(1), m.group(2), int(m.group(3))))
    return got


def inspect_ports(c):
    got = set()
    for key, binds in (c["NetworkSettings"]["Ports"] or {}).items():
        for b in binds or []:
            got.add((key, b["HostIp"], int(b["HostPort"])))
    return got


def dnat_of(h, backend, cid):
    """The DNAT rules (iptables: chain HUTCH) or map elements (nftables) owned by cid."""
    if backend == "iptables":
        return [l for l in h.sh("iptables-save -t nat").out.splitlines()
                if l.startswith("-A HUTCH ") and f"hutch:{cid}" in l]
    return [l for l in hutch_nft_table(h).splitlines() if f"hutch:{cid}" in l]


def assert_no_rules_of(h, backend, cid):
    text = rules(h, backend)
    assert f"hutch:{cid}" not in text, f"{backend}: rules of {cid[:12]} are still there:\n{text}"
    if backend == "nftables":
        assert cid not in hutch_nft_table(h)


# ---------------------------------------------------------------------------------------------
# every form, every direction


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_form_and_direction(h, backend):
    hx = Fw(h, backend)
    out = h.outside()
    cid = hx.run_d(
        "--name", "web",
        "-p", "8080:80",                      # hostPort:containerPort
        "-p", f"{HOST_OUT_IP}:8081:81",       # hostIP:hostPort:containerPort
        "-p", f"{HOST_OUT_IP}::83",           # hostIP::containerPort (random host port)
        "-p", "84",                           # containerPort (random host port)
        "-p", "8000-8002:9000-9002",          # ranges
        "-p", "8090-8092:85",                 # a host range for one container port: one is picked
        "-p", "127.0.0.1:8082:82",            # loopback only
        "-p", "5353:53/udp",
        *srv("web", "tcp:80", "tcp:81", "tcp:82", "tcp:83", "tcp:84", "tcp:85",
             "tcp:9000", "tcp:9001", "tcp:9002", "udp:53"))
    ip = hx.ip_of("web")
    assert ipaddress.ip_address(ip) in SUBNET
    http_ok(h, f"http://{ip}:80/")

    # `hutch port` and inspect agree, the random ports come from the ephemeral range
    listed = port_lines(hx.port("web"))
    c = hx.inspect("web")
    assert inspect_ports(c) == listed, f"inspect {c['NetworkSettings']['Ports']} vs port {listed}"
    by_ctr = {}
    for key, hip, hport in listed:
        by_ctr.setdefault(key, []).append((hip, hport))
    fixed = {"80/tcp": ("0.0.0.0", 8080), "81/tcp": (HOST_OUT_IP, 8081), "82/tcp": ("127.0.0.1", 8082),
             "9000/tcp": ("0.0.0.0", 8000), "9001/tcp": ("0.0.0.0", 8001), "9002/tcp": ("0.0.0.0", 8002),
             "53/udp": ("0.0.0.0", 5353)}
    for key, want in fixed.items():
        assert by_ctr.get(key) == [want], f"{key}: {by_ctr.get(key)}, want {want} (all: {listed})"
    assert set(by_ctr) == set(fixed) | {"83/tcp", "84/tcp", "85/tcp"}, listed
    [(ip83, p83)] = by_ctr["83/tcp"]
    [(ip84, p84)] = by_ctr["84/tcp"]
    [(ip85, p85)] = by_ctr["85/tcp"]
    assert ip83 == HOST_OUT_IP and p83 in EPHEMERAL, by_ctr["83/tcp"]
    assert ip84 == "0.0.0.0" and p84 in EPHEMERAL, by_ctr["84/tcp"]
    assert ip85 == "0.0.0.0" and p85 in (8090, 8091, 8092), by_ctr["85/tcp"]
    # with a PORT argument: just the address (Docker)
    assert hx.port("web", "84").strip() == f"0.0.0.0:{p84}"
    assert hx.port("web", "80/tcp").strip() == "0.0.0.0:8080"
    assert hx.port("web", "53/udp").strip() == "0.0.0.0:5353"
    r = hx.hutch("port", "web", "9999", check=False)
    assert r.rc != 0 and r.err.strip(), r

    # from outside, through the host's address: every TCP form, the client's address is kept
    outside_urls = [8080, 8081, p83, p84, 8000, 8001, 8002, p85]
    for p in outside_urls:
        seen = http_ok(h, f"http://{HOST_OUT_IP}:{p}/", ns=out)
        assert seen == OUTSIDE_IP, f"port {p}: the server saw {seen}, not the outside client {OUTSIDE_IP}"
    # UDP from outside, source kept too
    assert udp_ok(out, HOST_OUT_IP, 5353, expect_prefix="web") == f"web {OUTSIDE_IP}"

    # from the host: 127.0.0.1 and its own address
    for p in (8080, p84, 8000, 8002):
        http_ok(h, f"http://127.0.0.1:{p}/")
        http_ok(h, f"http://{HOST_OUT_IP}:{p}/")
    assert udp_ok(h, "127.0.0.1", 5353, expect_prefix="web").startswith("web ")
    assert udp_ok(h, HOST_OUT_IP, 5353, expect_prefix="web").startswith("web ")

    # hostIP restriction: 127.0.0.1:8082 only from the host's loopback; 192.0.2.1:8081 only there
    http_ok(h, "http://127.0.0.1:8082/")
    refused(out, f"http://{HOST_OUT_IP}:8082/")
    refused(h, f"http://{HOST_OUT_IP}:8082/")
    http_ok(h, f"http://{HOST_OUT_IP}:8081/")
    refused(h, "http://127.0.0.1:8081/")

    # hairpin: the container reaches its own published port through the host's address
    for url in (f"http://{HOST_OUT_IP}:8080/", f"http://{HOST_OUT_IP}:8001/"):
        r = hx.hutch("exec", "web", "curl", "-sS", "--connect-timeout", "3", "--max-time", "5", url, check=False)
        assert r.rc == 0 and r.out.strip(), f"hairpin {url} from web itself: rc={r.rc} out={r.out!r} err={r.err!r}"
    # ... and another container on the bridge reaches it the same way
    # (and, the reply going back through the host, the server sees that container's own address)
    script = ("ip -o -4 addr show dev eth0 | awk '{split($4,a,\"/\"); print a[1]}'; "
              f"exec curl -sS --connect-timeout 3 --max-time 5 http://{HOST_OUT_IP}:8080/")
    r = hx.hutch("run", "--rm", "--", "sh", "-c", script, check=False)
    assert r.rc == 0 and len(r.out.split()) == 2, f"other container -> {HOST_OUT_IP}:8080: {r}"
    own, seen = r.out.split()
    assert seen == own and own != ip, r.out

    # the rules: each mapping traceable to its owner
    if backend == "iptables":
        listing = h.sh("iptables -t nat -L HUTCH -n").out
        for hp, cp in ((8080, 80), (8000, 9000), (p84, 84), (5353, 53)):
            lines = [l for l in listing.splitlines()
                     if l.startswith("DNAT") and f"dpt:{hp} " in l + " " and f"to:{ip}:{cp}" in l]
            assert lines, f"no `DNAT ... dpt:{hp} ... to:{ip}:{cp}` in iptables -t nat -L HUTCH -n:\n{listing}"
            assert all(f"hutch:{cid}" in l for l in lines), lines
        assert f"hutch:{cid}" not in hutch_nft_table(h)
    else:
        table = hutch_nft_table(h)
        for m in ("tcp_ports", "tcp_any", "udp_any"):
            assert f"map {m}" in table, table
        assert f'comment "hutch:{cid}"' in table, table
        assert f"hutch:{cid}" not in h.sh("iptables-save").out


def rx_packets(ns, dev):
    # (/sys shows the root namespace's interfaces: ask netlink in ns instead)
    return json.loads(ns.sh(f"ip -s -j link show dev {dev}").out)[0]["stats64"]["rx"]["packets"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_loopback_port_not_reachable_by_forged_destination(h, backend):
    """CVE-2020-8558: a neighbour sending to 127.0.0.1:PORT through the host's interface must
    not reach a port published on 127.0.0.1 (route_localnet is on for hutch's bridges)."""
    hx = Fw(h, backend)
    out = h.outside()
    hx.run_d("--name", "lo", "-p", "127.0.0.1:8082:80", *srv("lo", "tcp:80"))
    http_ok(h, "http://127.0.0.1:8082/")
    # the outside machine routes 127.0.0.1 to the host (its own namespace, its own loopback)
    out.sh("sysctl -qw net.ipv4.conf.eth0.route_localnet=1; "
           "ip route del local 127.0.0.0/8 dev lo table local; ip route del local 127.0.0.1 dev lo table local; "
           f"ip route add 127.0.0.1/32 via {HOST_OUT_IP} dev eth0")
    rx = rx_packets(h, out.host_if)
    refused(out, "http://127.0.0.1:8082/")
    assert rx_packets(h, out.host_if) > rx, "precondition: the forged packets reached the host"
    # dropped before conntrack: no (DNATed) connection was ever tracked
    ct = h.sh("conntrack -L -p tcp --orig-src 192.0.2.2 --orig-dst 127.0.0.1 --orig-port-dst 8082", check=False)
    assert not ct.out.strip(), f"the forged connection got through to conntrack/DNAT:\n{ct.out}"


# ---------------------------------------------------------------------------------------------
# UDP and stale conntrack entries


@pytest.mark.parametrize("backend", BACKENDS)
def test_udp_survives_stale_conntrack(h, backend):
    hx = Fw(h, backend)
    out = h.outside()
    sport = 40000  # a fixed client source port: the same conntrack tuple every time
    # a first container: hutch's rules are in place, so connections are tracked in this netns
    hx.run_d("--name", "hold", "--", "sleep", "300")
    # nothing published yet: the datagram creates an un-NATed conntrack entry for this tuple
    assert udp_once(out, HOST_OUT_IP, 5300, sport).rc == 3
    assert ct_entries(h, 5300, sport), "precondition: the unanswered datagram left a conntrack entry"
    hx.run_d("--name", "a", "-p", "5300:53/udp", *srv("a", "udp:53"))
    ip_a = hx.ip_of("a")
    assert udp_ok(out, HOST_OUT_IP, 5300, sport, "a ") == f"a {OUTSIDE_IP}"
    # the container goes; the client keeps sending from the same tuple
    hx.hutch("rm", "-f", "a")
    assert udp_once(out, HOST_OUT_IP, 5300, sport).rc == 3
    assert ct_entries(h, 5300, sport), "precondition: a conntrack entry for the tuple exists"
    # a new container on the same host port (with another address: `hold2` takes whichever
    # address the allocator would hand out first)
    hx.run_d("--name", "hold2", "--", "sleep", "300")
    hx.run_d("--name", "b", "-p", "5300:53/udp", *srv("b", "udp:53"))
    assert hx.ip_of("b") != ip_a
    assert udp_ok(out, HOST_OUT_IP, 5300, sport, "b ") == f"b {OUTSIDE_IP}"
    # and from the host
    assert udp_ok(h, "127.0.0.1", 5300, None, "b ").startswith("b ")


# ---------------------------------------------------------------------------------------------
# conflicts and invalid requests: exit 125, one line, nothing created


BAD_SPECS = ["0:80", "8080:0", "0", "65536:80", "80:65536", "8000-8002:9000-9001", "8000-8001:9000-9002",
             "8080:80/sctp", "8080:80/", "999.1.1.1:8080:80", "192.0.2:8080:80", "abc:80", "8080:abc", "9002-9000:80"]


def snapshot(hx):
    h = hx.h
    return dict(ps=sorted(hx.hutch("ps", "-aq").out.split()), links=sorted(h.links()),
                leases=sorted(db_rows(h, "leases", missing_ok=True)),
                ports=sorted(db_rows(h, "ports", missing_ok=True)),
                rules=stable_rules(h, hx.backend), state=h.state_entries())


@pytest.mark.parametrize("backend", BACKENDS)
def test_conflicts_and_bad_specs_create_nothing(h, backend):
    hx = Fw(h, backend)
    web = hx.run_d("--name", "web", "-p", "8080:80", "-p", "5353:53/udp", *srv("web", "tcp:80", "udp:53"))
    # host processes listening on ports, in the throwaway netns
    lo = h.bg([PY, "-m", "http.server", "8091", "--bind", "127.0.0.1"])
    anyaddr = h.bg([PY, "-m", "http.server", "8092", "--bind", "0.0.0.0"])
    udp = h.bg([PY, "-c", "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                          "s.bind(('0.0.0.0',8093)); time.sleep(300)"])
    http_ok(h, "http://127.0.0.1:8091/")
    http_ok(h, "http://127.0.0.1:8092/")
    wait_until(lambda: ":8093 " in h.sh("ss -uln").out, desc="UDP listener on 8093")
    before = snapshot(hx)

    failures = []

    def refused_run(args, must=(), label=None):
        for mode in (("-d",), ("--rm",)):
            r = hx.hutch("run", *mode, "--name", "x", *args, "--", "sleep", "300", check=False)
            lines = r.err.strip().splitlines()
            what = f"{label or ' '.join(args)} {mode[0]}: rc={r.rc} out={r.out!r} err={r.err!r}"
            if r.rc == 0 and mode == ("-d",):
                hx.inspect(r.out.strip())  # (for the leak check)
            if r.rc != 125 or len(lines) != 1:
                failures.append("want exit 125 and one stderr line: " + what)
            elif not all(re.search(m, lines[0]) for m in must):
                failures.append(f"stderr must match {must}: " + what)

    # published by another container: the message names it
    holder = [r"already published by container web", web[:12]]
    refused_run(["-p", "8080:81"], holder)
    refused_run(["-p", "127.0.0.1:8080:81"], holder)
    refused_run(["-p", "8079-8081:80-82"], holder)
    refused_run(["-p", "5353:53/udp"], [r"already published by container web"])
    # the same port twice in one command
    refused_run(["-p", "8070:80", "-p", "8070:81"], [r"8070"])
    # a host process holds the port: the message names it
    refused_run(["-p", "8091:80"], [rf"pid {lo.pid}\b", r"python3"])
    refused_run(["-p", "8092:80"], [rf"pid {anyaddr.pid}\b", r"python3"])
    refused_run(["-p", "127.0.0.1:8092:80"], [rf"pid {anyaddr.pid}\b", r"python3"])
    refused_run(["-p", "8093:53/udp"], [rf"pid {udp.pid}\b", r"python3"])
    # invalid specs
    for spec in BAD_SPECS:
        refused_run(["-p", spec], [r"publish|port|protocol|address|range"])
    # modes with no network of their own to publish into
    refused_run(["--net", "host", "-p", "8060:80"], [r"host"])
    refused_run(["--net", "none", "-p", "8060:80"], [r"none"])
    refused_run(["--net", "container:web", "-p", "8060:80"], [r"container"])
    assert not failures, "\n".join(failures)
    after = snapshot(hx)
    for k in before:
        assert after[k] == before[k], f"{k} changed by refused runs:\nbefore {before[k]}\nafter  {after[k]}"

    # a TCP listener does not block the same port over UDP, and vice versa
    hx.run_d("--name", "u", "-p", "8091:53/udp", "-p", "8093:80", *srv("u", "tcp:80", "udp:53"))
    http_ok(h, "http://127.0.0.1:8093/")


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_runs_for_one_port_one_wins(h, backend):
    hx = Fw(h, backend)
    results = [None] * 4

    def go(i):
        results[i] = hx.hutch("run", "-d", "--name", f"c{i}", "-p", "8077:80", *srv(f"c{i}", "tcp:80"), check=False)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [r for r in results if r.rc == 0]
    lost = [r for r in results if r.rc != 0]
    for r in won:
        hx.inspect(r.out.strip())
    assert len(won) == 1, results
    assert all(r.rc == 125 and "already published by container c" in r.err for r in lost), lost
    assert len(hx.hutch("ps", "-aq").out.split()) == 1
    cid = won[0].out.strip()
    assert [r[4] for r in db_rows(h, "ports", missing_ok=True)] == [cid]
    http_ok(h, "http://127.0.0.1:8077/")


# ---------------------------------------------------------------------------------------------
# removal, however the container ends


@pytest.mark.parametrize("backend", BACKENDS)
def test_rules_go_with_the_container(h, backend):
    hx = Fw(h, backend)
    out = h.outside()
    P = 8085
    url = f"http://{HOST_OUT_IP}:{P}/"

    # exits by itself (a server that answers one request, then ends)
    a = hx.run_d("--name", "a", "-p", f"{P}:80", *srv("a", "once:80"))
    assert f"hutch:{a}" in rules(h, backend)
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    hx.wait_exited("a")
    assert_no_rules_of(h, backend, a)

    # kill (the port is free again: a new container takes it)
    b = hx.run_d("--name", "b", "-p", f"{P}:80", *srv("b", "tcp:80"))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    hx.hutch("kill", "b")
    hx.wait_exited("b")
    assert_no_rules_of(h, backend, b)
    refused(out, url)

    # rm -f
    c = hx.run_d("--name", "c", "-p", f"{P}:80", *srv("c", "tcp:80"))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    hx.hutch("rm", "-f", "c")
    assert_no_rules_of(h, backend, c)
    refused(out, url)

    # stop
    s_ = hx.run_d("--name", "s", "-p", f"{P}:80", *srv("s", "tcp:80"))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    hx.hutch("stop", "-t", "5", "s", timeout=30)
    assert_no_rules_of(h, backend, s_)
    refused(out, url)

    # a crash: the shim (the container's monitor) and the container are SIGKILLed, nothing
    # cleans up by itself; the next hutch command repairs
    g = hx.run_d("--name", "g", "-p", f"{P}:80", *srv("g", "tcp:80"))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    pid = hx.inspect("g")["State"]["Pid"]
    os.kill(ppid_of(pid), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: h.leftover_processes() == [], desc="the killed processes to go")
    hx.wait_exited("g")
    assert_no_rules_of(h, backend, g)
    refused(out, url)

    # a foreground --rm run that ends by itself
    fg = h.bg(hx.argv("run", "--rm", "-p", f"{P}:80", *srv("fg", "once:80")))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    fg.wait(10)
    assert fg.returncode == 0, fg.output()
    # every container left is exited: no rule of any container remains
    text = rules(h, backend)
    assert owners(text) == set(), f"{backend}: rules left for {owners(text)}:\n{text}"
    if backend == "nftables":
        assert owners(hutch_nft_table(h)) == set()

    # and the port is free for a new container
    hx.run_d("--name", "e", "-p", f"{P}:80", *srv("e", "tcp:80"))
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    # exited containers keep no reservation either
    ports = db_rows(h, "ports", missing_ok=True)
    assert [r for r in ports if r[4] in (a, b, s_, g)] == [], ports


# ---------------------------------------------------------------------------------------------
# rebuilding rules


@pytest.mark.parametrize("backend", BACKENDS)
def test_reload_after_wipe(h, backend):
    hx = Fw(h, backend)
    out = h.outside()
    cid = hx.run_d("--name", "web", "-p", "8086:80", "-p", "5354:53/udp", *srv("web", "tcp:80", "udp:53"))
    url = f"http://{HOST_OUT_IP}:8086/"
    assert http_ok(h, url, ns=out) == OUTSIDE_IP
    sport = 40010
    wipes = ["nft flush ruleset"] if backend == "nftables" else ["iptables -t nat -F HUTCH", "iptables -t nat -F"]
    for wipe in wipes:
        h.sh(wipe)
        assert not dnat_of(h, backend, cid), wipe
        refused(out, url)
        # a datagram while the rules are missing: where connections are still tracked (the
        # iptables wipes leave the hooks), it leaves an un-NATed entry for this tuple behind
        assert udp_once(out, HOST_OUT_IP, 5354, sport).rc == 3
        r = hx.hutch("network", "reload")
        assert dnat_of(h, backend, cid), f"after {wipe} + reload ({r.out!r}):\n{rules(h, backend)}"
        assert http_ok(h, url, ns=out) == OUTSIDE_IP, wipe
        http_ok(h, "http://127.0.0.1:8086/")
        assert udp_ok(out, HOST_OUT_IP, 5354, sport, "web ") == f"web {OUTSIDE_IP}", wipe
        sport += 1


# ---------------------------------------------------------------------------------------------
# switching backends


def test_backend_switch_moves_published_ports(h):
    nft, ipt = Fw(h, "nftables"), Fw(h, "iptables")
    out = h.outside()
    a = nft.run_d("--name", "a", "-p", "8087:80", *srv("a", "tcp:80"))
    assert http_ok(h, f"http://{HOST_OUT_IP}:8087/", ns=out) == OUTSIDE_IP
    assert f"hutch:{a}" in hutch_nft_table(h)
    assert f"hutch:{a}" not in h.sh("iptables-save").out

    # any command naming the other backend switches the host over
    ipt.hutch("ps")
    assert f"hutch:{a}" in h.sh("iptables-save").out, h.sh("iptables-save").out
    assert f"hutch:{a}" not in hutch_nft_table(h), hutch_nft_table(h)
    assert http_ok(h, f"http://{HOST_OUT_IP}:8087/", ns=out) == OUTSIDE_IP
    http_ok(h, "http://127.0.0.1:8087/")
    b = ipt.run_d("--name", "b", "-p", "8088:80", *srv("b", "tcp:80"))
    assert http_ok(h, f"http://{HOST_OUT_IP}:8088/", ns=out) == OUTSIDE_IP

    # and back
    nft.hutch("ps")
    table, saved = hutch_nft_table(h), h.sh("iptables-save").out
    assert f"hutch:{a}" in table and f"hutch:{b}" in table, table
    assert owners(saved) == set(), saved
    for p in (8087, 8088):
        assert http_ok(h, f"http://{HOST_OUT_IP}:{p}/", ns=out) == OUTSIDE_IP
        http_ok(h, f"http://127.0.0.1:{p}/")


# Issue 14 §5: whatever backend a call names, removing a container removes its rules from the
# backend that holds them, and after a switch only the active backend holds anything of hutch's.
@pytest.mark.parametrize("first,second", [(None, "iptables"), ("nftables", "iptables"), ("iptables", "nftables")])
def test_switching_backends_never_leaves_rules_behind(h, first, second):
    one, two, plain = Fw(h, first), Fw(h, second), Fw(h, None)
    w = one.run_d("--name", "w", "-p", "8080:8000", "--", "sleep", "600")
    wi = two.run_d("--name", "wi", "-p", "8085:8000", "--", "sleep", "600")
    table, saved = hutch_nft_table(h), h.sh("iptables-save").out
    if second == "iptables":
        # everything moved to iptables; nftables holds nothing of hutch's, not even its table
        assert table == "", table
        assert {w, wi} <= owners(saved), saved
    else:
        assert f"hutch:{w}" in table and f"hutch:{wi}" in table, table
        assert "HUTCH" not in saved, saved
    # the removal names no backend (the recorded one is used), or the other one (a switch back)
    for rm in (plain, one):
        rm.hutch("rm", "-f", "w", "wi")
        table, saved = hutch_nft_table(h), h.sh("iptables-save").out
        assert f"hutch:{w}" not in table and f"hutch:{wi}" not in table, table
        assert owners(saved) == set(), saved
        if rm is plain:
            w = one.run_d("--name", "w", "-p", "8080:8000", "--", "sleep", "600")
            wi = two.run_d("--name", "wi", "-p", "8085:8000", "--", "sleep", "600")


def test_an_exit_after_a_switch_does_not_switch_back(h):
    """A container started under one backend exits after the host switched to the other: its
    shim's cleanup uses the backend recorded now (not the one of the `run` that started it, nor
    HUTCH_FIREWALL inherited from it), so the switch stands and no rule is left anywhere."""
    nft, ipt = Fw(h, "nftables"), Fw(h, "iptables")
    w = nft.run_d("--name", "w", "-p", "8080:8000", "--", "sleep", "600")
    h.hutch("run", "-d", "--name", "e", "-p", "8081:8000", "--", "sleep", "600", env={"HUTCH_FIREWALL": "nftables"})
    wi = ipt.run_d("--name", "wi", "-p", "8085:8000", "--", "sleep", "600")
    for name in ("w", "e"):
        h.hutch("kill", name)
        h.hutch("wait", name)
    wait_until(lambda: h.hutch("ps", "-q", "--filter", "status=running").out.split() == [wi[:12]], desc="w and e to exit")
    # still iptables: wi's rule there, nothing of hutch's in nftables; w's and e's rules gone
    assert hutch_nft_table(h) == "", hutch_nft_table(h)
    saved = h.sh("iptables-save").out
    assert owners(saved) == {wi}, saved
    assert json.loads(h.hutch("inspect", "w").out)[0]["State"]["Status"] == "exited"
    h.hutch("rm", "-f", "w", "e", "wi")
