"""User-defined networks (issue 5): `hutch network create/ls/inspect/rm/prune`, `run --net NAME
--ip --network-alias`, `pod create --net NAME`: one bridge and subnet per network, isolation
between networks on both firewall backends, names on user-defined networks (not on `bridge`),
`--internal`, and nothing left behind by `network rm`.

Everything happens inside the harness's throwaway host namespace: the 10.9x.0.0/24 subnets used
here exist only there (and 192.0.2.0/24 towards the "outside" namespace the test made).

Tests that exercise the firewall take the backend as a parameter and pass `--firewall BACKEND`
on every hutch call (through `Fw`), so the backend recorded in the state root never switches
in the middle of a test. Pods are removed before the harness's own cleanup, which only does
`rm -f $(ps -aq)` (refused, rightly, for a pod's infra container).
"""
import ipaddress
import json
import re

import pytest

from harness import HOST_OUT_IP, OUTSIDE_IP, PY, WHOAMI, parts, wait_until
from harness import HEX64, Backend as Fw, db_rows, hutch_nft_table, rules

BACKENDS = ["nftables", "iptables"]
DEFAULT_SUBNET = ipaddress.ip_network("10.87.0.0/16")
POOL = ipaddress.ip_network("10.90.0.0/15")  # where automatic subnets start (10.90.0.0/24 up)
PORT = 8080
# curl exit codes for "no answer": 7 (refused / unreachable), 28 (timed out: dropped)
BLOCKED = (7, 28)


# ---------------------------------------------------------------------------------------------
# helpers


def net_create(hx, name, *opts):
    r = hx.hutch("network", "create", *opts, name)
    nid = r.out.strip()
    assert HEX64.fullmatch(nid), f"network create printed {r.out!r}, want a 64-hex id (stderr {r.err!r})"
    return nid


def net_inspect(hx, name):
    r = hx.hutch("network", "inspect", name)
    try:
        data = json.loads(r.out)
    except ValueError as e:
        raise AssertionError(f"network inspect printed invalid JSON ({e}): {r.out!r}")
    assert isinstance(data, list) and len(data) == 1, f"want a JSON array of one network: {r.out!r}"
    return data[0]


def subnet_of(hx, name):
    cfg = net_inspect(hx, name)["IPAM"]["Config"]
    assert len(cfg) == 1, cfg
    return ipaddress.ip_network(cfg[0]["Subnet"]), ipaddress.ip_address(cfg[0]["Gateway"])


def bridge_of(hx, name):
    return net_inspect(hx, name)["Options"]["com.docker.network.bridge.name"]


def net_names(hx):
    return hx.hutch("network", "ls", "-q").out.split()


def links(h):
    return set(h.links())


def serve(hx, name, net=None, *opts):
    """A detached whoami server on PORT (on network net, default bridge if None); waits until the
    host gets an answer from its address; returns its address."""
    netopt = ("--net", net) if net else ()
    hx.run_d("--name", name, *netopt, *opts, "--", PY, WHOAMI, "0.0.0.0", str(PORT))
    ip = hx.ip_of(name)
    hx.h.wait_http(f"http://{ip}:{PORT}/")
    return ip


def fetch(hx, net, url, *opts):
    """`curl URL` from a fresh foreground container on net (None: the default bridge); prints the
    container's own eth0 address first. Result (rc is curl's)."""
    netopt = ("--net", net) if net else ()
    script = ("ip -o -4 addr show dev eth0 | awk '{split($4,a,\"/\"); print a[1]}'; "
              f"exec curl -sS --connect-timeout 3 --max-time 5 {url}")
    return hx.hutch("run", "--rm", *netopt, *opts, "--", "sh", "-c", script, check=False, timeout=30)


def reaches(hx, net, ip):
    """A fresh container on net fetches whoami at ip: asserts success and that the server saw the
    client's own address (no NAT inside a network); returns the client's address."""
    r = fetch(hx, net, f"http://{ip}:{PORT}/")
    assert r.rc == 0, f"{net or 'bridge'} -> {ip}: rc={r.rc} out={r.out!r} err={r.err!r}"
    own, seen = parts(r, 2)
    assert seen == own, r.out
    return own


def blocked(hx, net, ip):
    r = fetch(hx, net, f"http://{ip}:{PORT}/")
    assert r.rc in BLOCKED, (f"{net or 'bridge'} -> {ip} should be dropped by the firewall, got "
                             f"rc={r.rc} out={r.out!r} err={r.err!r}")


def matrix(hx, expect):
    """expect: [(client network or None, server ip, should_reach)]. Tries every pair, then fails
    with the whole table of unexpected outcomes (so one run shows all of them)."""
    wrong = []
    for net, ip, want in expect:
        r = fetch(hx, net, f"http://{ip}:{PORT}/")
        got = r.rc == 0
        if got and want:
            own, seen = parts(r, 2)
            if seen != own:
                wrong.append(f"{net or 'bridge'} -> {ip}: the server saw {seen}, not the client's {own}")
        elif want and not got:
            wrong.append(f"{net or 'bridge'} -> {ip}: should connect, got rc={r.rc} {r.err.strip()!r}")
        elif got and not want:
            wrong.append(f"{net or 'bridge'} -> {ip}: should be dropped by the firewall, but connected")
        elif r.rc not in BLOCKED:
            wrong.append(f"{net or 'bridge'} -> {ip}: want a dropped connection (curl 7/28), got rc={r.rc} {r.err.strip()!r}")
    assert not wrong, "\n".join(wrong)


def getent(hx, ctr, name):
    """`hutch exec CTR getent hosts NAME`: (rc, first address or None, all names on that line)."""
    r = hx.hutch("exec", ctr, "getent", "hosts", name, check=False, timeout=30)
    if r.rc != 0:
        return r.rc, None, []
    f = r.out.split()
    return r.rc, f[0], f[1:]


def resolves_to(hx, ctr, name, ip):
    rc, got, names = getent(hx, ctr, name)
    assert rc == 0 and got == ip, f"in {ctr}: getent hosts {name} -> rc={rc} {got} {names}, want {ip}"


def wait_unresolvable(hx, ctr, name):
    # bounded: the members' hosts files are rewritten when a member goes
    wait_until(lambda: getent(hx, ctr, name)[0] != 0, timeout=20, desc=f"{name} to stop resolving in {ctr}")


def leases(h, net):
    """Rows of the state store's leases table for network net (none if the table is absent)."""
    return db_rows(h, "leases", missing_ok=True, network=net)


# ---------------------------------------------------------------------------------------------
# create / ls / inspect / rm


def test_create_and_remove(h):
    hx = Fw(h)
    assert net_names(hx)[:1] == ["bridge"], "the default network is listed like any other"
    nid = net_create(hx, "front")
    bridge = "hb-" + nid[:11]
    assert bridge in links(h), f"bridge {bridge} not created at once: {sorted(links(h))}"
    subnet, gw = subnet_of(hx, "front")
    addrs = h.sh(f"ip -o -4 addr show dev {bridge}").out
    assert f"{gw}/{subnet.prefixlen}" in addrs, addrs
    assert bridge_of(hx, "front") == bridge
    assert "front" in net_names(hx)
    table = hx.hutch("network", "ls").out
    row = [l for l in table.splitlines() if re.search(r"\sfront\s", l)]
    assert len(row) == 1 and str(subnet) in row[0] and nid[:12] in row[0], table
    # by id prefix too
    assert net_inspect(hx, nid[:12])["Name"] == "front"

    # custom bridge name
    net_create(hx, "back", "--bridge", "hbtestback")
    assert "hbtestback" in links(h)
    assert bridge_of(hx, "back") == "hbtestback"

    r = hx.hutch("network", "rm", "front", "back")
    assert r.out.split() == ["front", "back"], r.out
    left = links(h)
    assert bridge not in left and "hbtestback" not in left, sorted(left)
    assert net_names(hx) == ["bridge"]
    r = hx.hutch("network", "inspect", "front", check=False)
    assert r.rc == 125 and "front" in r.err, r
    r = hx.hutch("network", "rm", "front", check=False)
    assert r.rc == 125, r


def test_automatic_subnets_are_distinct_and_skip_host_routes(h):
    hx = Fw(h)
    net_create(hx, "a1")
    net_create(hx, "a2")
    s1, g1 = subnet_of(hx, "a1")
    s2, g2 = subnet_of(hx, "a2")
    for s, g in ((s1, g1), (s2, g2)):
        assert s.prefixlen == 24 and s.subnet_of(POOL), s
        assert not s.overlaps(DEFAULT_SUBNET), s
        assert g == next(s.hosts()), (s, g)  # default gateway: the first address
    assert not s1.overlaps(s2), (s1, s2)

    # a host route over the next candidate (a /23, so it also covers the one after) is avoided
    taken = [s1, s2]
    candidate = next(c for c in ipaddress.ip_network("10.90.0.0/16").subnets(new_prefix=24)
                     if not any(c.overlaps(t) for t in taken))
    route = candidate.supernet(new_prefix=23)
    assert not any(route.overlaps(t) for t in taken), (route, taken)
    h.outside()  # a link to route through, in our own namespaces
    h.run(["ip", "route", "add", str(route), "via", OUTSIDE_IP])
    net_create(hx, "a3")
    s3, _ = subnet_of(hx, "a3")
    assert s3.prefixlen == 24 and not s3.overlaps(route), f"{s3} overlaps the host route {route}"
    assert not any(s3.overlaps(t) for t in taken), (s3, taken)
    # and an explicit --subnet over that route is refused
    r = hx.hutch("network", "create", "--subnet", str(candidate), "a4", check=False)
    assert r.rc == 125 and "a4" not in net_names(hx), r
    hx.hutch("network", "rm", "a1", "a2", "a3")


def test_explicit_subnet_and_gateway(h):
    hx = Fw(h)
    net_create(hx, "ex", "--subnet", "10.93.4.0/24", "--gateway", "10.93.4.254")
    s, g = subnet_of(hx, "ex")
    assert (str(s), str(g)) == ("10.93.4.0/24", "10.93.4.254")
    bridge = bridge_of(hx, "ex")
    assert "10.93.4.254/24" in h.sh(f"ip -o -4 addr show dev {bridge}").out
    # a container gets an address of that subnet (not the gateway) and routes via the gateway
    hx.run_d("--net", "ex", "--name", "c", "--", "sleep", "300")
    ip = ipaddress.ip_address(hx.ip_of("c"))
    assert ip in s and ip != g, ip
    assert hx.inspect("c")["NetworkSettings"]["Gateway"] == "10.93.4.254"
    route = hx.hutch("exec", "c", "ip", "route").out
    assert "10.93.4.254" in route, route
    # only --subnet: the gateway is the first address; a larger prefix works too
    net_create(hx, "ex2", "--subnet", "10.93.8.0/22")
    s2, g2 = subnet_of(hx, "ex2")
    assert (str(s2), str(g2)) == ("10.93.8.0/22", "10.93.8.1")


ERROR_CASES = [
    # (id, args of `network create`)
    ("cidr-prefix-33", ["--subnet", "10.91.0.0/33", "bad"]),
    ("cidr-no-prefix", ["--subnet", "10.91.0.0", "bad"]),
    ("cidr-octet-300", ["--subnet", "300.1.1.0/24", "bad"]),
    ("cidr-garbage", ["--subnet", "ten/24", "bad"]),
    ("cidr-too-small", ["--subnet", "10.91.0.0/31", "bad"]),
    ("overlap-inside", ["--subnet", "10.92.0.128/25", "bad"]),
    ("overlap-superset", ["--subnet", "10.92.0.0/16", "bad"]),
    ("overlap-default-bridge", ["--subnet", "10.87.5.0/24", "bad"]),
    ("duplicate-name", ["taken"]),
    ("duplicate-name-with-subnet", ["--subnet", "10.94.0.0/24", "taken"]),
    ("reserved-bridge", ["bridge"]),
    ("reserved-host", ["host"]),
    ("reserved-none", ["none"]),
    ("gateway-outside", ["--subnet", "10.94.0.0/24", "--gateway", "10.95.0.1", "bad"]),
    ("gateway-network-address", ["--subnet", "10.94.0.0/24", "--gateway", "10.94.0.0", "bad"]),
    ("gateway-broadcast", ["--subnet", "10.94.0.0/24", "--gateway", "10.94.0.255", "bad"]),
    ("gateway-garbage", ["--subnet", "10.94.0.0/24", "--gateway", "gw", "bad"]),
    ("bad-name", ["-bad"]),
]


def test_create_errors_exit_125_and_create_nothing(h):
    hx = Fw(h)
    net_create(hx, "taken", "--subnet", "10.92.0.0/24")
    before_names, before_links = net_names(hx), links(h)
    before_rules = hutch_nft_table(h)
    failures = []
    for case, args in ERROR_CASES:
        r = hx.hutch("network", "create", *args, check=False)
        if r.rc != 125 or not r.err.strip():
            failures.append(f"{case}: `network create {' '.join(args)}` rc={r.rc} out={r.out!r} err={r.err!r}")
        if net_names(hx) != before_names or links(h) != before_links:
            failures.append(f"{case}: something was created: networks {net_names(hx)} links {sorted(links(h))}")
            for n in set(net_names(hx)) - set(before_names):
                hx.hutch("network", "rm", n, check=False)
    assert not failures, "\n".join(failures)
    assert hutch_nft_table(h) == before_rules
    s, _ = subnet_of(hx, "taken")
    assert str(s) == "10.92.0.0/24"


def test_rm_default_bridge_refused(h):
    hx = Fw(h)
    r = hx.hutch("network", "rm", "bridge", check=False)
    assert r.rc == 125 and "bridge" in r.err, r
    assert "bridge" in net_names(hx)
    # as part of a list (Docker: the others are removed, the status is still an error)
    net_create(hx, "solo")
    r = hx.hutch("network", "rm", "bridge", "solo", check=False)
    assert r.rc == 125 and r.out.split() == ["solo"], r
    assert net_names(hx) == ["bridge"]
    # prune never removes it
    net_create(hx, "solo")
    assert hx.hutch("network", "prune").out.split() == ["solo"]
    assert net_names(hx) == ["bridge"]


def test_rm_in_use_names_the_users(h):
    hx = Fw(h)
    net_create(hx, "busy")
    bridge = bridge_of(hx, "busy")
    hx.run_d("--net", "busy", "--name", "worker1", "--", "sleep", "300")
    hx.run_d("--net", "busy", "--name", "worker2", "--", "sleep", "300")
    r = hx.hutch("network", "rm", "busy", check=False)
    assert r.rc == 125, r
    assert "worker1" in r.err and "worker2" in r.err, r.err
    assert "busy" in net_names(hx) and bridge in links(h)
    assert hx.inspect("worker1")["State"]["Running"] is True
    r = hx.hutch("network", "prune")
    assert "busy" not in r.out.split(), r.out
    assert "busy" in net_names(hx)

    # a stopped (not removed) container does not hold the network
    hx.hutch("rm", "-f", "worker1")
    hx.hutch("stop", "-t", "1", "worker2")
    hx.hutch("network", "rm", "busy")
    assert "busy" not in net_names(hx) and bridge not in links(h)
    hx.hutch("rm", "-f", "worker2")


def test_rm_in_use_by_pod_names_the_pod(h):
    hx = Fw(h)
    net_create(hx, "podnet")
    r = hx.hutch("pod", "create", "--net", "podnet", "--name", "pd")
    infra = json.loads(hx.hutch("pod", "inspect", "pd").out)[0].get("InfraContainerID")
    if infra:
        h.remember(infra)
    r = hx.hutch("network", "rm", "podnet", check=False)
    assert r.rc == 125 and "pd" in r.err, r
    assert "podnet" in net_names(hx)
    hx.hutch("pod", "rm", "-f", "pd")
    hx.hutch("network", "rm", "podnet")


# ---------------------------------------------------------------------------------------------
# static addresses


def test_static_ip(h):
    hx = Fw(h)
    net_create(hx, "st", "--subnet", "10.94.0.0/24")
    cid = hx.run_d("--net", "st", "--ip", "10.94.0.2", "--name", "fixed", "--", PY, WHOAMI, "0.0.0.0", str(PORT))
    assert hx.ip_of("fixed") == "10.94.0.2"
    own = hx.hutch("exec", "fixed", "ip", "-o", "-4", "addr", "show", "dev", "eth0").out
    assert "10.94.0.2/24" in own, own
    assert net_inspect(hx, "st")["Containers"][cid]["IPv4Address"] == "10.94.0.2/24"
    h.wait_http(f"http://10.94.0.2:{PORT}/")
    # automatic allocation skips the static address (10.94.0.2 would be the first free one)
    hx.run_d("--net", "st", "--name", "auto", "--", "sleep", "300")
    auto = ipaddress.ip_address(hx.ip_of("auto"))
    assert auto in ipaddress.ip_network("10.94.0.0/24") and str(auto) not in ("10.94.0.1", "10.94.0.2"), auto
    assert reaches(hx, "st", "10.94.0.2")


STATIC_IP_ERRORS = [
    ("outside-subnet", ["--net", "st", "--ip", "10.95.0.5"]),
    ("gateway", ["--net", "st", "--ip", "10.94.0.1"]),
    ("network-address", ["--net", "st", "--ip", "10.94.0.0"]),
    ("broadcast", ["--net", "st", "--ip", "10.94.0.255"]),
    ("in-use", ["--net", "st", "--ip", "10.94.0.9"]),
    ("garbage", ["--net", "st", "--ip", "ten"]),
    ("default-bridge-implicit", ["--ip", "10.87.0.50"]),
    ("default-bridge-explicit", ["--net", "bridge", "--ip", "10.87.0.50"]),
]


def test_static_ip_errors_exit_125_and_create_nothing(h):
    hx = Fw(h)
    net_create(hx, "st", "--subnet", "10.94.0.0/24")
    hx.run_d("--net", "st", "--ip", "10.94.0.9", "--name", "holder", "--", "sleep", "300")
    before_ps, before_links, before_leases = hx.hutch("ps", "-aq").out.split(), links(h), leases(h, "st")
    failures = []
    for case, args in STATIC_IP_ERRORS:
        for mode in (("-d",), ("--rm",)):
            r = hx.hutch("run", *mode, *args, "--", "sleep", "300", check=False)
            if r.rc != 125 or not r.err.strip():
                failures.append(f"{case} {mode}: rc={r.rc} out={r.out!r} err={r.err!r}")
            if r.rc == 0 and mode == ("-d",):
                h.remember(r.out.strip())
    assert not failures, "\n".join(failures)
    assert hx.hutch("ps", "-aq").out.split() == before_ps
    assert links(h) == before_links
    assert leases(h, "st") == before_leases
    # once the holder is gone its address is free again
    hx.hutch("rm", "-f", "holder")
    hx.run_d("--net", "st", "--ip", "10.94.0.9", "--name", "again", "--", "sleep", "300")
    assert hx.ip_of("again") == "10.94.0.9"


# ---------------------------------------------------------------------------------------------
# isolation, outbound, published ports


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolation_between_user_networks(h, backend):
    hx = Fw(h, backend)
    net_create(hx, "red")
    net_create(hx, "blue")
    red_ip = serve(hx, "r", "red")
    blue_ip = serve(hx, "b", "blue")
    # members of a network reach each other, but not across networks, in either direction
    matrix(hx, [("red", red_ip, True), ("blue", blue_ip, True), ("red", blue_ip, False), ("blue", red_ip, False)])
    # the rules are the chosen backend's
    bridges = [bridge_of(hx, n) for n in ("red", "blue")]
    text = rules(h, backend)
    for b in bridges:
        assert b in text, f"{backend}: no rule for {b}:\n{text}"
    if backend == "iptables":
        assert not any(b in hutch_nft_table(h) for b in bridges), hutch_nft_table(h)
    else:
        assert not any(b in h.sh("iptables-save").out for b in bridges)


@pytest.mark.parametrize("backend", BACKENDS)
def test_isolation_between_user_network_and_default_bridge(h, backend):
    hx = Fw(h, backend)
    net_create(hx, "green")
    green_ip = serve(hx, "g", "green")
    dflt_ip = serve(hx, "d", None)
    assert ipaddress.ip_address(dflt_ip) in DEFAULT_SUBNET
    matrix(hx, [(None, dflt_ip, True), ("green", green_ip, True), (None, green_ip, False), ("green", dflt_ip, False)])


@pytest.mark.parametrize("backend", BACKENDS)
def test_outbound_from_user_network(h, backend):
    hx = Fw(h, backend)
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    assert h.wait_http(f"http://{OUTSIDE_IP}:9000/").strip() == HOST_OUT_IP
    net_create(hx, "wan")
    subnet, _ = subnet_of(hx, "wan")
    r = fetch(hx, "wan", f"http://{OUTSIDE_IP}:9000/")
    assert r.rc == 0, r
    own, seen = parts(r, 2)
    assert ipaddress.ip_address(own) in subnet, r.out
    assert seen == HOST_OUT_IP, f"the outside world must see the host's address (MASQUERADE): {r.out!r}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_port_on_user_network(h, backend):
    hx = Fw(h, backend)
    out = h.outside(default_route=True)
    net_create(hx, "pub")
    r = hx.hutch("run", "-d", "--net", "pub", "--name", "web", "-p", f"18080:{PORT}", "--",
                 PY, WHOAMI, "0.0.0.0", str(PORT), check=False)
    assert r.rc == 0, r
    hx.inspect("web")
    web_ip = hx.ip_of("web")
    h.wait_http(f"http://{web_ip}:{PORT}/")
    # from the outside world, through the host's address: the client's address is kept
    assert h.wait_http(f"http://{HOST_OUT_IP}:18080/", ns=out).strip() == OUTSIDE_IP
    # from the host itself
    h.wait_http("http://127.0.0.1:18080/")
    # from a container on another network: the published port (DNAT) passes, the address does not
    net_create(hx, "other")
    for net in ("other", None):
        r = fetch(hx, net, f"http://{HOST_OUT_IP}:18080/")
        assert r.rc == 0, f"{net or 'bridge'} -> published port: {r}"
        blocked(hx, net, web_ip)


# ---------------------------------------------------------------------------------------------
# names


def test_resolution_by_name_and_alias(h):
    hx = Fw(h)
    net_create(hx, "app")
    a_ip = serve(hx, "a", "app", "--network-alias", "alpha", "--network-alias", "first")
    hx.run_d("--net", "app", "--name", "b", "--hostname", "bee", "--", "sleep", "300")
    b_ip = hx.ip_of("b")
    # the later container resolves the earlier one, by name and by alias ...
    for n in ("a", "alpha", "first"):
        resolves_to(hx, "b", n, a_ip)
    # ... and the earlier one the later one, by name and hostname
    for n in ("b", "bee"):
        resolves_to(hx, "a", n, b_ip)
    # a name is usable as an address: b reaches a by alias, a sees b's own address
    r = hx.hutch("exec", "b", "curl", "-sS", "--max-time", "5", f"http://alpha:{PORT}/")
    assert r.out.strip() == b_ip
    # a foreground container started now resolves both, and they resolve it while it runs
    r = hx.hutch("run", "--rm", "--net", "app", "--", "sh", "-c",
                 "getent hosts a | cut -d' ' -f1; getent hosts bee | cut -d' ' -f1")
    assert r.out.split() == [a_ip, b_ip], r.out
    hx.run_d("--net", "app", "--name", "c", "--network-alias", "gamma", "--", "sleep", "300")
    c_ip = hx.ip_of("c")
    for n in ("c", "gamma"):
        resolves_to(hx, "a", n, c_ip)
        resolves_to(hx, "b", n, c_ip)
    # a removed container stops resolving (for the others; they still resolve each other)
    hx.hutch("rm", "-f", "c")
    wait_unresolvable(hx, "a", "c")
    wait_unresolvable(hx, "b", "gamma")
    resolves_to(hx, "a", "b", b_ip)
    resolves_to(hx, "b", "alpha", a_ip)
    # so does a stopped one
    hx.hutch("stop", "-t", "1", "b")
    wait_unresolvable(hx, "a", "bee")
    # a container on another network does not see this network's names
    net_create(hx, "elsewhere")
    r = hx.hutch("run", "--rm", "--net", "elsewhere", "--", "getent", "hosts", "alpha", check=False, timeout=30)
    assert r.rc != 0 and a_ip not in r.out, r


def test_pod_resolves_by_pod_name(h):
    hx = Fw(h)
    net_create(hx, "podnet")
    hx.hutch("pod", "create", "--net", "podnet", "--name", "pd")
    hx.run_d("--pod", "pd", "--name", "in-pod", "--", PY, WHOAMI, "0.0.0.0", str(PORT))
    hx.run_d("--net", "podnet", "--name", "peer", "--", "sleep", "300")
    rc, pod_ip, _ = getent(hx, "peer", "pd")
    assert rc == 0 and ipaddress.ip_address(pod_ip) in subnet_of(hx, "podnet")[0], (rc, pod_ip)
    r = hx.hutch("exec", "peer", "sh", "-c",
                 f"for i in $(seq 50); do curl -sS --max-time 2 http://pd:{PORT}/ && exit 0; sleep 0.1; done; exit 1")
    assert r.out.strip() == hx.ip_of("peer"), r.out
    # and the pod's members resolve the peer
    resolves_to(hx, "in-pod", "peer", hx.ip_of("peer"))
    hx.hutch("pod", "rm", "-f", "pd")
    wait_unresolvable(hx, "peer", "pd")


def test_default_bridge_has_no_name_resolution(h):
    hx = Fw(h)
    d1_ip = serve(hx, "d1")
    hx.run_d("--name", "d2", "--", "sleep", "300")
    d2_ip = hx.ip_of("d2")
    for ctr, other, ip in (("d1", "d2", d2_ip), ("d2", "d1", d1_ip)):
        hosts = hx.hutch("exec", ctr, "cat", "/etc/hosts").out
        assert ip not in hosts and other not in hosts.split(), hosts
        rc, got, _ = getent(hx, ctr, other)
        assert rc != 0, f"{other} resolved to {got} in {ctr} on the default bridge"
    # by address they do reach each other
    r = hx.hutch("exec", "d2", "curl", "-sS", "--max-time", "5", f"http://{d1_ip}:{PORT}/")
    assert r.out.strip() == d2_ip
    # --network-alias needs a user-defined network (Docker: "network-scoped alias is supported
    # only for containers in user defined networks")
    r = hx.hutch("run", "-d", "--name", "d3", "--network-alias", "x", "--", "sleep", "300", check=False)
    assert r.rc == 125, f"--network-alias on the default bridge: {r}"


# ---------------------------------------------------------------------------------------------
# --internal


@pytest.mark.parametrize("backend", BACKENDS)
def test_internal_network(h, backend):
    hx = Fw(h, backend)
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    h.wait_http(f"http://{OUTSIDE_IP}:9000/")
    net_create(hx, "vault", "--internal")
    assert net_inspect(hx, "vault")["Internal"] is True
    subnet, _ = subnet_of(hx, "vault")
    ip = serve(hx, "s", "vault")
    # members reach each other
    reaches(hx, "vault", ip)
    # no outbound
    r = fetch(hx, "vault", f"http://{OUTSIDE_IP}:9000/")
    assert r.rc in BLOCKED, f"an --internal network reached the outside world: {r}"
    # no MASQUERADE for its subnet
    text = rules(h, backend)
    masq = [l for l in text.splitlines() if "masquerade" in l.lower() and (str(subnet) in l or "vault" in l)]
    assert not masq, masq
    # not reachable from other networks either
    net_create(hx, "open")
    blocked(hx, "open", ip)
    blocked(hx, None, ip)
    # while a normal network next to it still goes out
    assert reaches_outside(hx, "open")


def reaches_outside(hx, net):
    r = fetch(hx, net, f"http://{OUTSIDE_IP}:9000/")
    assert r.rc == 0, r
    return parts(r, 2)[1] == HOST_OUT_IP


def test_internal_network_has_no_default_route(h):
    """The issue: "--internal networks get no outbound route" (`network create --help`: "no route
    out"); Docker's containers on an internal network have only the subnet's route."""
    hx = Fw(h)
    net_create(hx, "vault", "--internal")
    r = hx.hutch("run", "--rm", "--net", "vault", "--", "ip", "route")
    assert "default" not in r.out, f"a container on an --internal network has a default route:\n{r.out}"
    assert str(subnet_of(hx, "vault")[0]) in r.out, r.out


# ---------------------------------------------------------------------------------------------
# inspect, ls, prune


def test_network_inspect_json_shape(h):
    hx = Fw(h)
    nid = net_create(hx, "shape", "--subnet", "10.96.0.0/24", "--gateway", "10.96.0.254", "--internal",
                     "--bridge", "hbshape")
    empty = net_inspect(hx, "shape")
    assert empty["Containers"] == {}, empty
    cid = hx.run_d("--net", "shape", "--ip", "10.96.0.10", "--name", "member", "--", "sleep", "300")
    r = hx.hutch("network", "inspect", "shape", "bridge")
    both = json.loads(r.out)
    assert isinstance(both, list) and [n["Name"] for n in both] == ["shape", "bridge"], r.out
    n = both[0]
    assert n["Name"] == "shape"
    assert n["Id"] == nid
    assert n["Driver"] == "bridge"
    assert n["Internal"] is True
    assert n["IPAM"]["Config"] == [{"Subnet": "10.96.0.0/24", "Gateway": "10.96.0.254"}], n["IPAM"]
    c = hx.inspect(cid)
    assert set(n["Containers"]) == {cid}, n["Containers"]
    m = n["Containers"][cid]
    assert m["Name"] == "member"
    assert m["IPv4Address"] == "10.96.0.10/24"
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", m["MacAddress"]), m
    assert m["MacAddress"] == c["NetworkSettings"]["MacAddress"]
    mac_inside = hx.hutch("exec", "member", "cat", "/sys/class/net/eth0/address").out.strip()
    assert m["MacAddress"] == mac_inside
    assert c["HostConfig"]["NetworkMode"] == "shape"
    d = both[1]
    assert d["Internal"] is False and d["Driver"] == "bridge"
    assert d["IPAM"]["Config"][0]["Subnet"] == str(DEFAULT_SUBNET)
    # members that are gone are not listed
    hx.hutch("rm", "-f", cid)
    assert net_inspect(hx, "shape")["Containers"] == {}
    r = hx.hutch("network", "inspect", "nosuch", check=False)
    assert r.rc == 125, r


def test_network_prune(h):
    hx = Fw(h)
    for n in ("p1", "p2", "p3"):
        net_create(hx, n)
    b1, b2, b3 = (bridge_of(hx, n) for n in ("p1", "p2", "p3"))
    hx.run_d("--net", "p2", "--name", "keep", "--", "sleep", "300")
    r = hx.hutch("network", "prune")
    assert sorted(r.out.split()) == ["p1", "p3"], r.out
    assert net_names(hx) == ["bridge", "p2"]
    left = links(h)
    assert b1 not in left and b3 not in left and b2 in left, sorted(left)
    hx.hutch("rm", "-f", "keep")
    r = hx.hutch("network", "prune")
    assert r.out.split() == ["p2"], r.out
    assert net_names(hx) == ["bridge"] and b2 not in links(h)
    assert hx.hutch("network", "prune").out.split() == []


# ---------------------------------------------------------------------------------------------
# no leftovers


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_leftovers_after_network_rm(h, backend):
    hx = Fw(h, backend)
    h.outside(default_route=True)
    net_create(hx, "gone", "--subnet", "10.97.3.0/24")
    net_create(hx, "stays", "--subnet", "10.97.4.0/24")
    bridge, keep = bridge_of(hx, "gone"), bridge_of(hx, "stays")
    hx.run_d("--net", "gone", "--name", "c1", "--ip", "10.97.3.7", "--", "sleep", "300")
    hx.run_d("--net", "gone", "--name", "c2", "-p", "18081:80", "--", "sleep", "300")
    hx.run_d("--net", "stays", "--name", "s1", "--", "sleep", "300")
    before = rules(h, backend)
    assert bridge in before and keep in before, before
    assert leases(h, "gone"), "no lease recorded for c1 (did the store's layout change?)"
    hx.hutch("rm", "-f", "c1", "c2")
    hx.hutch("network", "rm", "gone")
    assert bridge not in links(h)
    assert "10.97.3.0/24" not in h.sh("ip route").out
    for text in (h.sh("nft list ruleset").out, h.sh("iptables-save").out):
        bad = [l for l in text.splitlines() if bridge in l or "10.97.3." in l or re.search(r"\bgone\b", l)]
        assert not bad, "rules of the removed network left behind:\n" + "\n".join(bad)
    assert leases(h, "gone") == []
    assert "gone" not in net_names(hx)
    # the other network is untouched
    after = rules(h, backend)
    assert keep in after
    assert hx.inspect("s1")["State"]["Running"] is True
    # the name and the subnet can be used again
    net_create(hx, "gone", "--subnet", "10.97.3.0/24")
    hx.hutch("network", "rm", "gone")


@pytest.mark.parametrize("first,second", [("nftables", "iptables"), ("iptables", "nftables")])
def test_switching_backend_moves_network_rules(h, first, second):
    hx1, hx2 = Fw(h, first), Fw(h, second)
    net_create(hx1, "red")
    net_create(hx1, "blue")
    red_ip = serve(hx1, "r", "red")
    bridges = [bridge_of(hx1, n) for n in ("red", "blue")]
    assert all(b in rules(h, first) for b in bridges)
    hx2.hutch("network", "ls")  # any command with the other backend switches
    in_iptables = h.sh("iptables-save").out
    in_nft = hutch_nft_table(h)
    now, old = (in_iptables, in_nft) if second == "iptables" else (in_nft, in_iptables)
    assert all(b in now for b in bridges), f"{second} lacks the networks' rules:\n{now}"
    assert not any(b in old for b in bridges), f"{first} still has the networks' rules:\n{old}"
    # isolation still holds, and members still reach each other
    matrix(hx2, [("blue", red_ip, False), ("red", red_ip, True)])


# ---------------------------------------------------------------------------------------------
# another feature's rules in hutch's base chains


# What "another feature" (a later hutch feature, or another program) adds inside hutch's rules: a
# chain of its own with a rule, jumped to from hutch's base chains, plus (nftables) a rule right in
# a base chain. Network and port changes must leave all of it alone (base chains are never flushed).
FOREIGN_NFT = """add chain ip hutch services
add rule ip hutch services ip daddr 10.96.0.10 counter comment "another feature"
add rule ip hutch prerouting jump services
add rule ip hutch output jump services
add rule ip hutch forward ip daddr 10.96.0.10 counter comment "another feature in a base chain"
"""
FOREIGN_IPT = """*nat
:OTHER-SVC - [0:0]
-A OTHER-SVC -d 10.96.0.10/32 -m comment --comment "another feature" -j RETURN
-A HUTCH-PREROUTING -j OTHER-SVC
-A HUTCH-OUTPUT -j OTHER-SVC
COMMIT
*filter
:OTHER-FWD - [0:0]
-A OTHER-FWD -d 10.96.0.10/32 -m comment --comment "another feature" -j RETURN
-A HUTCH-FORWARD -j OTHER-FWD
COMMIT
"""


def foreign_rules(h, backend):
    if backend == "nftables":
        text = "".join(h.sh(f"nft list chain ip hutch {c}").out
                       for c in ("services", "prerouting", "output", "forward"))
        # (the foreign chain's jumps, not hutch's own services-* jumps)
        return sorted(l.strip() for l in text.splitlines() if "another feature" in l or l.strip() == "jump services")
    return sorted(l for l in h.sh("iptables-save").out.splitlines()
                  if "another feature" in l or "-j OTHER-" in l or l.startswith(":OTHER-"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_and_port_changes_leave_another_features_rules_alone(h, backend):
    hx = Fw(h, backend)
    net_create(hx, "first", "--subnet", "10.97.5.0/24")  # creates hutch's base chains
    if backend == "nftables":
        h.sh("nft -f -", input=FOREIGN_NFT)
    else:
        h.sh("iptables-restore -w 10 --noflush", input=FOREIGN_IPT)
    before = foreign_rules(h, backend)
    assert len(before) == (4 if backend == "nftables" else 7), before

    net_create(hx, "second", "--subnet", "10.97.6.0/24")
    hx.hutch("run", "--rm", "-p", "18093:80", "--", "true")
    hx.run_d("--net", "second", "--name", "p1", "-p", "18094:80", "-p", "18095:53/udp", "--", "sleep", "300")
    hx.hutch("rm", "-f", "p1")
    hx.hutch("network", "rm", "second")
    net_create(hx, "third", "--internal", "--subnet", "10.97.7.0/24")
    hx.hutch("network", "rm", "third")
    hx.hutch("network", "rm", "first")
    assert foreign_rules(h, backend) == before, "another feature's chain, rule or jump was lost"

    # hutch's own jumps are there once each (added only when missing)
    if backend == "nftables":
        pre = h.sh("nft list chain ip hutch prerouting").out
        assert pre.count("jump ports-dnat") == 1, pre
        post = h.sh("nft list chain ip hutch postrouting").out
        assert post.count("jump networks-postrouting") == 1 and post.count("jump ports-postrouting") == 1, post
    else:
        nat = h.sh("iptables-save -t nat").out
        assert nat.count("-A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH") == 1, nat
        assert nat.count("-A POSTROUTING -j HUTCH-POSTROUTING") == 1, nat
