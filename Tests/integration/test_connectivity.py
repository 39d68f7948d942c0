"""Packets: host -> container, container -> container, container -> host via the gateway,
and outbound MASQUERADE seen from a second namespace acting as the outside world."""
import ipaddress

from harness import GATEWAY, HOST_OUT_IP, OUTSIDE_IP, PY, WHOAMI, parts

SUBNET = ipaddress.ip_network("10.87.0.0/16")


def eth0_ip_cmd(then):
    """A shell snippet printing the container's own eth0 address, then running `then`."""
    return "ip -o -4 addr show dev eth0 | awk '{split($4,a,\"/\"); print a[1]}'; " + then


def test_host_to_container_http(h):
    cid = h.run_d("--name", "web", "--", PY, "-m", "http.server", "8000")
    ip = h.ip_of(cid)
    assert ipaddress.ip_address(ip) in SUBNET
    h.wait_http(f"http://{ip}:8000/")


def test_host_to_container_source_is_gateway(h):
    h.run_d("--name", "who", "--", PY, WHOAMI, "0.0.0.0", "8080")
    ip = h.ip_of("who")
    assert h.wait_http(f"http://{ip}:8080/").strip() == GATEWAY


def test_container_to_container_by_ip(h):
    h.run_d("--name", "a", "--", PY, WHOAMI, "0.0.0.0", "8080")
    a_ip = h.ip_of("a")
    h.wait_http(f"http://{a_ip}:8080/")
    r = h.hutch("run", "--rm", "--", "sh", "-c", eth0_ip_cmd(f"curl -sS --max-time 5 http://{a_ip}:8080/"))
    b_ip, seen = parts(r, 2)
    # a sees b's own address: no NAT between containers on the bridge
    assert seen == b_ip, r.out
    assert ipaddress.ip_address(b_ip) in SUBNET and b_ip != a_ip


def test_container_to_host_via_gateway(h):
    h.bg([PY, WHOAMI, "0.0.0.0", "9090"])
    h.wait_http("http://127.0.0.1:9090/")
    r = h.hutch("run", "--rm", "--", "sh", "-c", eth0_ip_cmd(f"curl -sS --max-time 5 http://{GATEWAY}:9090/"))
    own, seen = parts(r, 2)
    assert seen == own, r.out


def test_container_to_host_by_name_host_hutch_internal(h):
    h.bg([PY, WHOAMI, "0.0.0.0", "9090"])
    h.wait_http("http://127.0.0.1:9090/")
    r = h.hutch("run", "--rm", "--", "curl", "-sS", "--max-time", "5", "http://host.hutch.internal:9090/")
    assert ipaddress.ip_address(r.out.strip()) in SUBNET, r.out


def test_outbound_masquerade(h):
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    # the host itself reaches the outside world from 192.0.2.1
    assert h.wait_http(f"http://{OUTSIDE_IP}:9000/").strip() == HOST_OUT_IP
    r = h.hutch("run", "--rm", "--", "sh", "-c", eth0_ip_cmd(f"curl -sS --max-time 5 http://{OUTSIDE_IP}:9000/"))
    own, seen = parts(r, 2)
    assert ipaddress.ip_address(own) in SUBNET
    # the outside world sees the host's address, not the container's 10.87.x
    assert seen == HOST_OUT_IP, r.out


def test_outbound_masquerade_from_detached_container(h):
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    h.wait_http(f"http://{OUTSIDE_IP}:9000/")
    h.run_d("--name", "c", "--", "sleep", "300")
    r = h.hutch("exec", "c", "curl", "-sS", "--max-time", "5", f"http://{OUTSIDE_IP}:9000/")
    assert r.out.strip() == HOST_OUT_IP


def test_container_mode_joiner_reaches_outside_and_peers(h):
    h.run_d("--name", "a", "--", PY, WHOAMI, "0.0.0.0", "8080")
    h.run_d("--name", "b", "--", "sleep", "300")
    a_ip, b_ip = h.ip_of("a"), h.ip_of("b")
    h.wait_http(f"http://{a_ip}:8080/")
    r = h.hutch("run", "--rm", "--net", "container:b", "--", "curl", "-sS", "--max-time", "5", f"http://{a_ip}:8080/")
    assert r.out.strip() == b_ip


def test_outbound_masquerade_iptables_backend(h):
    # DESIGN: the Firewall protocol has an nftables and an iptables backend ($HUTCH_FIREWALL)
    out = h.outside(default_route=True)
    out.bg([PY, WHOAMI, "0.0.0.0", "9000"])
    h.wait_http(f"http://{OUTSIDE_IP}:9000/")
    r = h.hutch("run", "--rm", "--", "curl", "-sS", "--max-time", "5", f"http://{OUTSIDE_IP}:9000/",
                env={"HUTCH_FIREWALL": "iptables"})
    assert r.out.strip() == HOST_OUT_IP
    nat = h.sh("iptables-save -t nat").out
    assert "10.87.0.0/16" in nat and "MASQUERADE" in nat, nat
