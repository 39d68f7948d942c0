"""Network modes: bridge (default), none, host, container:NAME."""
import ipaddress
import os
import re

import pytest

from harness import GATEWAY, PY, ns_inode, parts, run, wait_until


def mac_for(ip):
    return "02:42:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def parse_addrs(ip_o_addr):
    """`ip -o addr` output -> {ifname: [cidr, ...]} (IPv4 only)."""
    out = {}
    for line in ip_o_addr.splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] == "inet":
            out.setdefault(f[1], []).append(f[3])
    return out


def link_names(ip_o_link):
    return [l.split(":")[1].strip().split("@")[0] for l in ip_o_link.splitlines() if l.strip()]


def test_bridge_mode_default(h):
    r = h.hutch("run", "--rm", "--", "sh", "-c",
                "ip -o link; echo ===; ip -o addr; echo ===; ip route; echo ===; ip -o link show dev eth0")
    links, addrs, routes, mac = parts(r, 4, "===\n")
    assert sorted(link_names(links)) == ["eth0", "lo"], links
    lo = [l for l in links.splitlines() if ": lo:" in l][0]
    assert "UP" in lo.split("<")[1].split(">")[0].split(","), f"lo is not up: {lo}"
    eth0 = [l for l in links.splitlines() if ": eth0" in l][0]
    assert "UP" in eth0.split("<")[1].split(">")[0].split(","), f"eth0 is not up: {eth0}"
    a = parse_addrs(addrs)
    assert a.get("lo") == ["127.0.0.1/8"], addrs
    assert len(a.get("eth0", [])) == 1, addrs
    iface = ipaddress.ip_interface(a["eth0"][0])
    assert iface.network == ipaddress.ip_network("10.87.0.0/16"), addrs
    assert str(iface.ip) != GATEWAY
    assert re.search(rf"^default via {re.escape(GATEWAY)} dev eth0", routes, re.M), routes
    assert f"link/ether {mac_for(str(iface.ip))} " in mac, mac


def test_sysfs_shows_the_containers_interfaces(h):
    # /sys/class/net must describe the container's netns, not the machine's (Docker mounts a
    # fresh sysfs); tools read MACs and link state from there.
    r = h.hutch("run", "--rm", "--", "sh", "-c", "ls /sys/class/net; echo ===; ip -o link show dev eth0; echo ===; cat /sys/class/net/eth0/address")
    names, link, mac = parts(r, 3, "===\n")
    assert sorted(names.split()) == ["eth0", "lo"], names
    assert f"link/ether {mac.strip()} " in link


def test_bridge_host_side(h):
    cid = h.run_d("--", "sleep", "300")
    c = h.inspect(cid)
    ns = c["NetworkSettings"]
    assert ns["Gateway"] == GATEWAY
    assert ns["MacAddress"] == mac_for(ns["IPAddress"])
    # the bridge with the gateway address, the host end of the veth attached to it
    assert f"inet {GATEWAY}/16" in h.sh("ip -o -4 addr show dev hutch0").out
    veth = h.veth_name(cid)
    assert veth in h.links("veth"), h.sh("ip -o link").out
    assert "master hutch0" in h.sh(f"ip -o link show dev {veth}").out
    assert h.sh("cat /proc/sys/net/ipv4/ip_forward").out.strip() == "1"
    # the container's eth0 really has that address (exec sees the container's netns)
    assert f"inet {ns['IPAddress']}/16" in h.hutch("exec", cid, "ip", "-o", "-4", "addr", "show", "dev", "eth0").out


def test_bridge_masquerade_rule_installed_in_throwaway_netns(h):
    h.run_d("--", "sleep", "300")
    rules = h.sh("nft list ruleset 2>/dev/null; iptables-save 2>/dev/null", check=False).out
    assert "10.87.0.0/16" in rules and "masquerade" in rules.lower(), rules


def test_none_mode_only_lo(h):
    r = h.hutch("run", "--rm", "--net", "none", "--", "sh", "-c", "ip -o link; echo ===; ip -o addr; echo ===; ip route")
    links, addrs, routes = parts(r, 3, "===\n")
    assert link_names(links) == ["lo"], links
    assert routes.strip() == "", routes
    assert not h.links("veth"), "none mode created a veth"


def test_none_mode_lo_is_up(h):
    # Docker brings lo up in --network none (127.0.0.1 works)
    r = h.hutch("run", "--rm", "--network", "none", "--", "ip", "-o", "addr")
    assert parse_addrs(r.out) == {"lo": ["127.0.0.1/8"]}, r.out


def test_host_mode_sees_the_callers_netns(h):
    h.run(["ip", "link", "add", "hutchprobe0", "type", "bridge"])  # (no dummy driver on some kernels)
    r = h.hutch("run", "--rm", "--net", "host", "--", "sh", "-c", "ip -o link; echo ===; stat -L -c %i /proc/self/ns/net")
    links, ino = parts(r, 2, "===\n")
    assert "hutchprobe0" in link_names(links), links
    assert int(ino) == h.inode
    assert not h.links("veth"), "host mode created a veth"


def test_host_mode_under_ip_netns_exec(h):
    # `ip netns exec` mounts the namespace's own sysfs on /sys; mounting it again for a container
    # sharing that netns is EBUSY, which must not fail the run (the mounted one is the right one).
    argv = ["ip", "netns", "exec", h.name, h.hutch_bin, "--root", h.root, "run", "--rm", "--net", "host", "--",
            "sh", "-c", "ls /sys/class/net; echo ===; stat -L -c %i /proc/self/ns/net"]
    r = run(argv)
    assert r.rc == 0, r.err
    names, ino = parts(r, 2, "===\n")
    assert "lo" in names.split(), names
    assert int(ino) == h.inode


def test_host_mode_has_own_pid_namespace(h):
    r = h.hutch("run", "--rm", "--net", "host", "--", "sh", "-c", "echo $$")
    assert int(r.out) <= 2, r.out


def test_host_mode_namespaces(h):
    # issue 2: "every container gets new pid, uts, ipc and mount namespaces, and a new net
    # namespace unless the mode says otherwise" (host mode: only net is the caller's)
    cid = h.run_d("--net", "host", "--hostname", "hbox", "--", "sleep", "300")
    pid = h.inspect(cid)["State"]["Pid"]
    assert ns_inode(pid, "net") == h.inode
    for kind in ("pid", "ipc", "mnt", "uts"):
        assert ns_inode(pid, kind) != ns_inode(os.getpid(), kind), f"host mode shares the {kind} namespace"
    assert h.hutch("exec", cid, "hostname").out.strip() == "hbox"


def test_host_mode_inspect(h):
    cid = h.run_d("--net", "host", "--", "sleep", "300")
    c = h.inspect(cid)
    assert c["HostConfig"]["NetworkMode"] == "host"
    assert not c["NetworkSettings"]["IPAddress"]
    assert not h.links("veth")


@pytest.mark.parametrize("ref", ["name", "shortid"])
def test_container_mode_shares_netns(h, ref):
    cid = h.run_d("--name", "web", "--", PY, "-m", "http.server", "--bind", "127.0.0.1", "8000")
    target = "web" if ref == "name" else cid[:12]
    web = h.inspect("web")
    web_ino = int(h.hutch("exec", "web", "stat", "-L", "-c", "%i", "/proc/self/ns/net").out)
    # host-side view agrees
    assert os.stat(f"/proc/{web['State']['Pid']}/ns/net").st_ino == web_ino

    def fetch():
        r = h.hutch("run", "--rm", "--net", f"container:{target}", "--", "sh", "-c",
                    "stat -L -c %i /proc/self/ns/net; curl -sS --max-time 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/",
                    check=False)
        return r if r.out.strip().endswith("200") else None

    r = wait_until(fetch, desc="localhost:8000 in web's netns to answer 200")
    ino, code = parts(r, 2)
    assert int(ino) == web_ino
    assert code == "200"
    # joining did not add a veth for the joiner
    assert h.links("veth") == [h.veth_name(cid)]


def test_container_mode_inspect_and_eth0(h):
    h.run_d("--name", "web", "--", "sleep", "300")
    jid = h.run_d("--name", "side", "--net", "container:web", "--", "sleep", "300")
    c = h.inspect(jid)
    assert c["HostConfig"]["NetworkMode"] == "container:web"
    web_ip = h.ip_of("web")
    out = h.hutch("exec", "side", "ip", "-o", "-4", "addr", "show", "dev", "eth0").out
    assert f"inet {web_ip}/" in out
    # same net namespace as web, but a pid namespace of its own
    side_pid, web_pid = c["State"]["Pid"], h.inspect("web")["State"]["Pid"]
    assert ns_inode(side_pid, "net") == ns_inode(web_pid, "net")
    assert ns_inode(side_pid, "pid") != ns_inode(web_pid, "pid")


def test_subnet_overlapping_a_host_route_is_refused(h):
    # the throwaway host already uses part of 10.87.0.0/16: hutch must refuse, clearly, and create nothing
    h.run(["ip", "link", "add", "hutchprobe0", "type", "bridge"])
    h.run(["ip", "addr", "add", "10.87.3.1/24", "dev", "hutchprobe0"])
    h.run(["ip", "link", "set", "hutchprobe0", "up"])
    r = h.hutch("run", "--rm", "--", "true", check=False)
    assert r.rc == 125, r
    assert r.err.startswith("hutch: ") and "10.87" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert h.links("veth") == []
    assert h.ps_ids(all=True) == []
    assert "10.87.0.1" not in h.sh("ip -o -4 addr").out
    # modes that need no bridge still work
    assert h.hutch("run", "--rm", "--net", "none", "--", "true", check=False).rc == 0


def test_default_route_does_not_count_as_overlap(h):
    h.outside(default_route=True)
    h.hutch("run", "--rm", "--", "true")


def test_target_exit_deletes_its_veth_even_while_joined(h):
    # A joiner keeps the target's netns alive; the target's veth and lease must still go at its exit.
    web = h.run_d("--name", "web", "--", "sleep", "300")
    h.run_d("--name", "side", "--net", "container:web", "--", "sleep", "300")
    h.hutch("stop", "-t", "5", "web", timeout=30)
    h.wait_veth_gone(web, desc="web's veth to be deleted")
    assert h.inspect("side")["State"]["Running"] is True
    h.hutch("rm", "-f", "web")
    h.wait_no_veths()
