"""Many containers: unique names, IPs, MACs and veths, also when started concurrently."""
import ipaddress
import re
import subprocess

from harness import GATEWAY, wait_until


def check_unique(h, ids):
    cs = h.inspect(*ids) if len(ids) > 1 else [h.inspect(ids[0])]
    ips = [c["NetworkSettings"]["IPAddress"] for c in cs]
    macs = [c["NetworkSettings"]["MacAddress"] for c in cs]
    assert len(set(ips)) == len(ids), ips
    assert len(set(macs)) == len(ids), macs
    assert GATEWAY not in ips
    for ip in ips:
        assert ipaddress.ip_address(ip) in ipaddress.ip_network("10.87.0.0/16")
    assert sorted(h.links("veth")) == sorted(h.veth_name(i) for i in ids)
    return ips


def test_many_sequential_unique_ips(h):
    ids = [h.run_d("--name", f"c{i}", "--", "sleep", "300") for i in range(10)]
    ips = check_unique(h, ids)
    # all of them answer from the host (the bridge forwards to every one)
    for cid, ip in zip(ids, ips):
        assert f"inet {ip}/" in h.hutch("exec", cid, "ip", "-o", "-4", "addr", "show", "dev", "eth0").out


def test_many_concurrent_unique_ips(h):
    n = 8
    h.hutch("ps", "-a")  # the store exists first: this test is about names and IPs (see first_use below)
    argvs = [h.argv([h.hutch_bin, "--root", h.root, "run", "-d", "--name", f"p{i}", "--", "sleep", "300"])
             for i in range(n)]
    procs = [subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              env=h.hutch_env()) for a in argvs]
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        results.append((p.returncode, out.decode(), err.decode()))
    failed = [r for r in results if r[0] != 0]
    assert not failed, f"concurrent `run -d` failed: {failed}"
    ids = [r[1].strip() for r in results]
    assert all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids), ids
    for i in ids:
        h.remember(i)
    check_unique(h, ids)


def test_concurrent_same_name_only_one_wins(h):
    h.hutch("ps", "-a")
    argv = h.argv([h.hutch_bin, "--root", h.root, "run", "-d", "--name", "same", "--", "sleep", "300"])
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              env=h.hutch_env()) for _ in range(4)]
    rcs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        rcs.append((p.returncode, err.decode().strip()))
    assert sorted(rc for rc, _ in rcs) == [0, 125, 125, 125], rcs
    h.remember("same")
    assert len(h.ps_ids(all=True)) == 1
    wait_until(lambda: len(h.links("veth")) == 1, desc="one veth left")


def test_concurrent_first_use_of_a_fresh_root(h):
    # Concurrent hutch processes on a brand-new state root must all see a usable store
    # (schema creation is part of the same transactional story as names and IPs).
    failures = []
    for rep in range(10):
        root = f"{h.root}/fresh{rep}"
        argv = h.argv([h.hutch_bin, "--root", root, "ps", "-a"])
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                  env=h.hutch_env()) for _ in range(8)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            if p.returncode != 0:
                failures.append((rep, p.returncode, err.decode().strip()))
    assert not failures, f"concurrent first use of a fresh --root failed: {failures}"
