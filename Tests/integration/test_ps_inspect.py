"""ps [-a] [-q] and inspect's Docker-shaped JSON."""
import re

from harness import GATEWAY


def test_ps_running_vs_all(h):
    run_id = h.run_d("--name", "up", "--", "sleep", "300")
    h.hutch("run", "--name", "down", "--", "true")
    done_id = h.inspect("down")["Id"]
    assert h.ps_ids(all=False) == [run_id[:12]]
    assert sorted(h.ps_ids(all=True)) == sorted([run_id[:12], done_id[:12]])
    plain = h.hutch("ps").out
    assert re.search(r"\bup\b", plain) and not re.search(r"\bdown\b", plain), plain
    all_ = h.hutch("ps", "-a").out
    assert "up" in all_ and "down" in all_
    assert run_id[:12] in plain


def test_ps_q_format(h):
    ids = [h.run_d("--", "sleep", "300") for _ in range(3)]
    out = h.hutch("ps", "-q").out
    assert out.endswith("\n")
    lines = out.splitlines()
    assert all(re.fullmatch(r"[0-9a-f]{12}", l) for l in lines), out
    assert sorted(lines) == sorted(i[:12] for i in ids)


def test_ps_empty(h):
    assert h.hutch("ps", "-q").out == ""
    assert h.hutch("ps", "-aq").out == ""


def test_inspect_running_shape(h):
    cid = h.run_d("--name", "web", "--hostname", "wbox", "-e", "A=1", "--", "sleep", "300")
    arr = h.inspect("web"), h.hutch("inspect", "web").out
    c, raw = arr
    assert raw.lstrip().startswith("[")
    assert c["Id"] == cid and re.fullmatch(r"[0-9a-f]{64}", c["Id"])
    assert c["Name"] == "web"
    st = c["State"]
    assert st["Status"] == "running" and st["Running"] is True
    assert isinstance(st["Pid"], int) and st["Pid"] > 0
    assert isinstance(st["ExitCode"], int) and st["ExitCode"] == 0
    assert isinstance(st["StartedAt"], str) and st["StartedAt"][:2] == "20"
    assert "FinishedAt" in st
    cfg = c["Config"]
    assert cfg["Cmd"] == ["sleep", "300"]
    assert cfg["Hostname"] == "wbox"
    assert isinstance(cfg["Env"], list) and "A=1" in cfg["Env"]
    assert c["HostConfig"]["NetworkMode"] == "bridge"
    ns = c["NetworkSettings"]
    assert re.fullmatch(r"10\.87\.\d+\.\d+", ns["IPAddress"]), ns
    assert ns["Gateway"] == GATEWAY
    assert re.fullmatch(r"02:42(:[0-9a-f]{2}){4}", ns["MacAddress"]), ns
    assert isinstance(ns["SandboxKey"], str) and ns["SandboxKey"], ns
    assert "Ports" in ns and (ns["Ports"] is None or isinstance(ns["Ports"], dict))


def test_inspect_exited(h):
    h.hutch("run", "--name", "x", "--", "sh", "-c", "exit 9", check=False)
    st = h.inspect("x")["State"]
    assert st["Status"] == "exited" and st["Running"] is False
    assert st["ExitCode"] == 9
    assert st["Pid"] == 0
    assert isinstance(st["FinishedAt"], str) and st["FinishedAt"][:2] == "20"
    assert st["FinishedAt"] >= st["StartedAt"]


def test_inspect_many_and_by_prefix(h):
    a = h.run_d("--name", "a", "--", "sleep", "300")
    b = h.run_d("--name", "b", "--net", "none", "--", "sleep", "300")
    arr = h.inspect("a", b[:5])
    assert [c["Id"] for c in arr] == [a, b]
    assert arr[1]["HostConfig"]["NetworkMode"] == "none"
    assert h.inspect(a)["Name"] == "a"


def test_inspect_modes(h):
    h.run_d("--name", "base", "--", "sleep", "300")
    for net in ("host", "none", "container:base"):
        cid = h.run_d("--net", net, "--", "sleep", "300")
        assert h.inspect(cid)["HostConfig"]["NetworkMode"] == net


def test_inspect_unknown_mixed_with_known(h):
    h.run_d("--name", "a", "--", "sleep", "300")
    r = h.hutch("inspect", "a", "nosuch", check=False)
    assert r.rc == 125 and "hutch: " in r.err, r
