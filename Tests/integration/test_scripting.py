"""Output for scripts (issue 14 §2): --format on every list and inspect command, ps/pod ls
--filter, labels, `exists`, --replace, --ignore, -P/--expose with a real connection from the
test's "outside" namespace, and bad input (one line, exit 125, nothing created).

Traffic stays inside the throwaway host namespace, its containers and the outside namespace.
"""
import json
import os
import re
import threading

import pytest

from harness import HOST_OUT_IP, PY, wait_until
from harness import Backend as Fw, rules

BACKENDS = ["nftables", "iptables"]

EPHEMERAL = range(32768, 61000)

# An HTTP server answering every GET with NAME (`python3 -c SRV NAME PORT...`).
SRV = r'''
import http.server, sys, threading
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = (name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", int(p)), H) for p in sys.argv[2:]]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
'''


def srv(name, *ports):
    return ["--", PY, "-c", SRV, name, *[str(p) for p in ports]]


def lines(r):
    return r.out.splitlines()


def bad(h, *args, mention=()):
    """A bad command: exit 125, exactly one `hutch: ` line on stderr naming `mention`, no stdout."""
    r = h.hutch(*args, check=False)
    assert r.rc == 125, f"hutch {args}: rc {r.rc}, stderr {r.err!r}"
    assert r.err.startswith("hutch: ") and r.err.count("\n") == 1 and r.err.endswith("\n"), r.err
    assert r.out == "", f"hutch {args} printed {r.out!r}"
    for m in mention:
        assert m in r.err, f"hutch {args}: {r.err!r} does not name {m!r}"
    return r.err


# ---------------------------------------------------------------------------------------------
# ps


def test_ps_format_forms(h):
    web = h.run_d("--name", "web", "-l", "app=web", "-l", "tier=front", "-p", "18200:80", "--", "sleep", "300")
    h.hutch("run", "--name", "done", "--net", "none", "--", "true")
    assert lines(h.hutch("ps", "--format", "{{.Names}}")) == ["web"]
    assert sorted(lines(h.hutch("ps", "-a", "--format", "{{.Names}}"))) == ["done", "web"]
    # literal text around fields, \t and \n escapes as Docker's CLI
    assert h.hutch("ps", "--format", r"id={{.ID}}\tstate={{.State}}\n").out == f"id={web[:12]}\tstate=running\n\n"
    assert lines(h.hutch("ps", "--no-trunc", "--format", "{{.ID}}")) == [web]
    # table: a header row from the field names, columns aligned
    t = lines(h.hutch("ps", "-a", "--format", r"table {{.ID}}\t{{.Names}}\t{{.Ports}}"))
    assert re.fullmatch(r"CONTAINER ID\s{3,}NAMES\s{3,}PORTS", t[0]), t
    assert len(t) == 3 and {l.split()[1] for l in t[1:]} == {"web", "done"}, t
    assert any(l.split()[0] == web[:12] and l.endswith("0.0.0.0:18200->80/tcp") for l in t[1:]), t
    # json: one object per line with Docker's field names
    rows = [json.loads(l) for l in lines(h.hutch("ps", "-a", "--format", "json"))]
    assert {r["Names"] for r in rows} == {"web", "done"}
    w = next(r for r in rows if r["Names"] == "web")
    assert set(w) == {"ID", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "Status", "Names", "Labels",
                      "Networks", "State"}
    assert w["ID"] == web[:12] and w["State"] == "running" and w["Status"].startswith("Up")
    assert w["Labels"] == "app=web,tier=front" and w["Networks"] == "bridge" and w["Command"] == '"sleep 300"'
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", w["CreatedAt"]), w
    assert json.loads(h.hutch("ps", "--format", "{{json .}}").out) == w
    # `table` alone is the usual table
    assert h.hutch("ps", "--format", "table").out == h.hutch("ps").out


def test_ps_filters(h):
    h.hutch("network", "create", "front", "--subnet", "10.90.7.0/24")
    web = h.run_d("--name", "web", "-l", "app=web", "-l", "tier=front", "--net", "front", "--", "sleep", "300")
    api = h.run_d("--name", "api", "-l", "app=api", "--", "sleep", "300")
    h.run_d("--name", "lonely", "--net", "none", "--", "sleep", "300")
    h.hutch("run", "--name", "old-web", "-l", "app=web", "--", "true")
    h.hutch("pod", "create", "--name", "pp")
    member = h.run_d("--pod", "pp", "--name", "member", "--", "sleep", "300")

    def names(*f, all=False):
        args = ["ps", "--format", "{{.Names}}"] + (["-a"] if all else [])
        for x in f:
            args += ["--filter", x]
        return sorted(lines(h.hutch(*args)))

    assert names("label=app=web") == ["web"]
    assert names("label=app=web", all=True) == ["old-web", "web"]
    assert names("label=app") == ["api", "web"]
    assert names("label=app", "label=tier=front") == ["web"]          # label filters: all of them
    assert names("label=app=web", "label=tier=back") == []
    assert names("name=web", all=True) == ["old-web", "web"]           # name: a substring
    assert names("name=web", "name=api") == ["api", "web"]             # same key twice: either
    assert names("name=^web$", all=True) == ["web"]                    # anchors, as scripts write them
    assert names("name=web", "status=exited") == ["old-web"]           # status shows stopped ones too
    assert names("status=exited") == ["old-web"]
    assert names("status=running", "label=app") == ["api", "web"]
    assert names(f"id={api[:6]}") == ["api"]
    assert names("network=front") == ["web"]
    assert names("network=none") == ["lonely"]
    assert "member" in names("pod=pp") and "web" not in names("pod=pp")
    pod_id = json.loads(h.hutch("pod", "inspect", "pp").out)[0]["Id"]
    assert names(f"pod={pod_id[:12]}") == names("pod=pp")
    # -q combines with filters
    assert h.hutch("ps", "-q", "--filter", "label=app=web").out.split() == [web[:12]]
    assert h.hutch("ps", "-q", "-f", "name=member").out.split() == [member[:12]]
    assert h.hutch("ps", "-aq", "--filter", "label=nothing").out == ""
    # a filter that matches nothing with a table: the header only
    assert lines(h.hutch("ps", "--filter", "name=zzz", "--format", "table {{.Names}}")) == ["NAMES"]
    # Unknown keys and bad values
    bad(h, "ps", "--filter", "bogus=1", mention=["bogus"])
    bad(h, "ps", "--filter", "status=sleeping", mention=["sleeping"])
    bad(h, "ps", "--filter", "name", mention=["name"])
    bad(h, "ps", "-q", "--filter", "label==x", mention=["label"])
    h.hutch("pod", "rm", "-f", "pp")


# ---------------------------------------------------------------------------------------------
# inspect


def test_inspect_format(h):
    cid = h.run_d("--name", "web", "-l", "app=web", "-l", "com.example.tier=front", "--", "sleep", "300")
    ip = h.ip_of("web")
    assert h.hutch("inspect", "-f", "{{.State.Status}}", "web").out == "running\n"
    assert h.hutch("inspect", "--format", "{{.Name}} {{.Id}} {{.NetworkSettings.IPAddress}}", "web").out == \
        f"web {cid} {ip}\n"
    cfg = json.loads(h.hutch("inspect", "-f", "{{json .Config}}", "web").out)
    assert cfg["Cmd"] == ["sleep", "300"] and cfg["Labels"] == {"app": "web", "com.example.tier": "front"}
    assert h.inspect("web")["Config"]["Labels"] == {"app": "web", "com.example.tier": "front"}
    assert h.hutch("inspect", "-f", '{{index .Config.Labels "com.example.tier"}}', "web").out == "front\n"
    assert h.hutch("inspect", "-f", '{{index .Config.Labels "missing"}}', "web").out == "\n"
    assert h.hutch("inspect", "-f", "{{.Config.Labels.app}}|{{.State.Running}}|{{.Config.Cmd}}", "web").out == \
        "web|true|[sleep 300]\n"
    # json is the usual array
    assert json.loads(h.hutch("inspect", "--format", "json", "web").out) == json.loads(h.hutch("inspect", "web").out)
    # one line per container
    h.run_d("--name", "two", "--net", "none", "--", "sleep", "300")
    assert lines(h.hutch("inspect", "-f", "{{.Name}}={{.HostConfig.NetworkMode}}", "web", "two")) == \
        ["web=bridge", "two=none"]
    assert h.hutch("inspect", "-f", "{{json .Config.Labels}}", "two").out == "{}\n"
    # unsupported constructs and unknown fields: one line, 125, never silent empty output
    bad(h, "inspect", "-f", "{{range .Config.Cmd}}{{.}}{{end}}", "web", mention=["range"])
    bad(h, "inspect", "-f", "{{if .State.Running}}up{{end}}", "web", mention=["if"])
    bad(h, "inspect", "-f", "{{.Bogus}}", "web", mention=[".Bogus"])
    bad(h, "inspect", "-f", "{{.State.Bogus}}", "web", mention=[".State.Bogus"])
    bad(h, "inspect", "-f", "{{.Name", "web", mention=["unclosed {{"])
    bad(h, "inspect", "-f", "{{upper .Name}}", "web", mention=["upper"])
    # a template error is found before any state is read: also for a missing container
    bad(h, "inspect", "-f", "{{.Name", "missing", mention=["{{"])


# ---------------------------------------------------------------------------------------------
# pods


def test_pod_labels_format_filter(h):
    lf = f"{h.tmp}/pod.labels"
    with open(lf, "w") as f:
        f.write("# the pod's labels\n\napp=shop\n  tier=back\nteam=a\n")
    h.hutch("pod", "create", "--name", "shop", "--label-file", lf, "-l", "team=b")
    h.hutch("pod", "create", "--name", "blog", "--net", "none", "-l", "app=blog")
    h.run_d("--pod", "shop", "--name", "shop-app", "--", "sleep", "300")
    info = json.loads(h.hutch("pod", "inspect", "shop").out)[0]
    assert info["Labels"] == {"app": "shop", "tier": "back", "team": "b"} == info["Config"]["Labels"]
    assert h.hutch("pod", "inspect", "-f", "{{.Name}} {{.State}} {{.Labels.app}}", "shop", "blog").out == \
        "shop Running shop\nblog Running blog\n"
    bad(h, "pod", "inspect", "-f", "{{.Nope}}", "shop", mention=[".Nope"])

    t = lines(h.hutch("pod", "ls", "--format", r"table {{.Name}}\t{{.NumberOfContainers}}\t{{.Labels}}"))
    assert re.fullmatch(r"NAME\s+# OF CONTAINERS\s+LABELS", t[0]), t
    rows = {l.split()[0]: l.split()[1:] for l in t[1:]}
    assert rows == {"shop": ["2", "app=shop,team=b,tier=back"], "blog": ["1", "app=blog"]}, t
    js = [json.loads(l) for l in lines(h.hutch("pod", "ls", "--format", "json"))]
    assert {p["Name"]: p["Status"] for p in js} == {"shop": "Running", "blog": "Running"}
    assert set(js[0]) == {"ID", "Name", "Status", "Created", "InfraID", "NumberOfContainers", "Labels", "Networks"}
    assert {p["Name"]: p["Networks"] for p in js} == {"shop": "bridge", "blog": ""}

    def pods(*f):
        args = ["pod", "ls", "--format", "{{.Name}}"]
        for x in f:
            args += ["--filter", x]
        return sorted(lines(h.hutch(*args)))

    assert pods("label=app=shop") == ["shop"]
    assert pods("label=app") == ["blog", "shop"]
    assert pods("name=bl") == ["blog"]
    assert pods("status=running") == ["blog", "shop"]
    assert pods("status=exited") == []
    assert pods("network=bridge") == ["shop"]
    shop_id = info["Id"]
    assert pods(f"id={shop_id[:8]}") == ["shop"]
    assert h.hutch("pod", "ls", "-q", "--filter", "label=app=blog").out.split() == \
        [json.loads(h.hutch("pod", "inspect", "blog").out)[0]["Id"][:12]]
    bad(h, "pod", "ls", "--filter", "pod=shop", mention=["pod"])
    bad(h, "pod", "ls", "--format", "{{.Bogus}}", mention=[".Bogus"])
    h.hutch("pod", "rm", "-f", "shop", "blog")


def test_run_label_file_and_override(h):
    lf = f"{h.tmp}/labels"
    with open(lf, "w") as f:
        f.write("app=web\n# comment\n\nflag\ntier=front\n")
    h.run_d("--name", "c", "--label-file", lf, "--label", "tier=back", "--", "sleep", "300")
    assert h.inspect("c")["Config"]["Labels"] == {"app": "web", "flag": "", "tier": "back"}
    assert lines(h.hutch("ps", "--filter", "label=flag", "--format", "{{.Names}}")) == ["c"]


# ---------------------------------------------------------------------------------------------
# network, port


def test_network_format_exists_ignore(h):
    nid = h.hutch("network", "create", "n1", "--subnet", "10.90.9.0/24").out.strip()
    assert h.hutch("network", "ls", "--format", "{{.Name}} {{.Subnet}} {{.Driver}}").out.splitlines() == \
        ["bridge 10.87.0.0/16 bridge", "n1 10.90.9.0/24 bridge"]
    t = lines(h.hutch("network", "ls", "--format", r"table {{.ID}}\t{{.Name}}"))
    assert re.fullmatch(r"NETWORK ID\s+NAME", t[0]) and t[2].split() == [nid[:12], "n1"], t
    assert json.loads(lines(h.hutch("network", "ls", "--format", "json"))[1])["Name"] == "n1"
    assert h.hutch("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{json .IPAM.Config}}", "n1").out == \
        'n1 bridge [{"Gateway":"10.90.9.1","Subnet":"10.90.9.0/24"}]\n'
    bad(h, "network", "inspect", "-f", "{{range .Containers}}x{{end}}", "n1", mention=["range"])
    bad(h, "network", "ls", "--format", "{{.Nope}}", mention=[".Nope"])
    # exists: exit 0 or 1, no output
    for args, rc in [(["network", "exists", "n1"], 0), (["network", "exists", "bridge"], 0),
                     (["network", "exists", nid[:12]], 0), (["network", "exists", "nope"], 1)]:
        r = h.hutch(*args, check=False)
        assert (r.rc, r.out, r.err) == (rc, "", ""), (args, r)
    # create --ignore: the same options are fine, other ones are not
    assert h.hutch("network", "create", "--ignore", "n1").out.strip() == nid
    assert h.hutch("network", "create", "--ignore", "n1", "--subnet", "10.90.9.0/24").out.strip() == nid
    bad(h, "network", "create", "--ignore", "n1", "--subnet", "10.90.10.0/24", mention=["n1", "--subnet"])
    bad(h, "network", "create", "--ignore", "--internal", "n1", mention=["internal"])
    bad(h, "network", "create", "n1", mention=["n1"])
    # rm --ignore
    r = h.hutch("network", "rm", "--ignore", "nope", "n1")
    assert r.out == "n1\n" and r.err == ""
    assert h.hutch("network", "rm", "-i", "n1").out == ""
    assert h.hutch("network", "exists", "n1", check=False).rc == 1


def test_port_format(h):
    h.run_d("--name", "w", "-p", "18210:80", "-p", "127.0.0.1:18211:81/udp", "--", "sleep", "300")
    assert sorted(lines(h.hutch("port", "w", "--format", "{{.IP}}:{{.PublicPort}}->{{.PrivatePort}}/{{.Type}}"))) == \
        ["0.0.0.0:18210->80/tcp", "127.0.0.1:18211->81/udp"]
    rows = sorted((json.loads(l) for l in lines(h.hutch("port", "w", "--format", "json"))), key=lambda r: r["PublicPort"])
    assert rows == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18210, "Type": "tcp"},
                    {"IP": "127.0.0.1", "PrivatePort": 81, "PublicPort": 18211, "Type": "udp"}]
    assert lines(h.hutch("port", "w", "80", "--format", "{{.PublicPort}}")) == ["18210"]
    t = lines(h.hutch("port", "w", "--format", r"table {{.PrivatePort}}\t{{.PublicPort}}"))
    assert re.fullmatch(r"CONTAINER PORT\s+HOST PORT", t[0]) and len(t) == 3, t
    bad(h, "port", "w", "--format", "{{.HostPort}}", mention=[".HostPort"])


# ---------------------------------------------------------------------------------------------
# exists, --ignore


def test_container_exists_and_aliases(h):
    cid = h.run_d("--name", "here", "--", "sleep", "300")
    h.hutch("run", "--name", "stopped", "--", "true")
    h.hutch("run", "--rm", "--name", "gone", "--", "true")
    for ref, rc in [("here", 0), (cid, 0), (cid[:8], 0), ("stopped", 0), ("gone", 1), ("nope", 1)]:
        r = h.hutch("container", "exists", ref, check=False)
        assert (r.rc, r.out, r.err) == (rc, "", ""), (ref, r)
    # the container noun's aliases of the usual commands
    assert h.hutch("container", "ls", "-q").out == h.hutch("ps", "-q").out
    assert h.hutch("container", "inspect", "-f", "{{.Name}}", "here").out == "here\n"
    assert h.hutch("container", "rm", "stopped").out == "stopped\n"
    assert h.hutch("container", "exists", "stopped", check=False).rc == 1
    # pods
    h.hutch("pod", "create", "--name", "p")
    for ref, rc in [("p", 0), ("nope", 1)]:
        r = h.hutch("pod", "exists", ref, check=False)
        assert (r.rc, r.out, r.err) == (rc, "", ""), (ref, r)
    h.hutch("pod", "rm", "-f", "p")
    assert h.hutch("pod", "exists", "p", check=False).rc == 1


def test_rm_ignore(h):
    h.hutch("run", "--name", "x", "--", "true")
    r = h.hutch("rm", "--ignore", "missing", "x", "also-missing")
    assert (r.out, r.err) == ("x\n", "")
    assert h.hutch("rm", "-i", "x").out == ""
    bad(h, "rm", "missing", mention=["missing"])
    h.hutch("pod", "create", "--name", "p")
    r = h.hutch("pod", "rm", "--ignore", "-f", "nope", "p")
    assert (r.out, r.err) == ("p\n", "")
    assert h.hutch("pod", "rm", "-i", "p").out == ""
    bad(h, "pod", "rm", "p", mention=["p"])


# ---------------------------------------------------------------------------------------------
# --replace


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_replace_keeps_the_name_taken_and_the_port(h, backend):
    fw = Fw(h, backend)
    out = h.outside()
    old = fw.run_d("--name", "w", "-l", "v=1", "-p", "18220:8000", *srv("one", 8000))
    assert h.wait_http(f"http://{HOST_OUT_IP}:18220/", ns=out).strip() == "one"
    old_pid = fw.inspect("w")["State"]["Pid"]

    # A third command that watches the name throughout: it must never see it free.
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(fw.hutch("container", "exists", "w", check=False).rc)

    t = threading.Thread(target=watch)
    t.start()
    try:
        ids = [old]
        for i in range(3):
            ids.append(fw.run_d("--replace", "--name", "w", "-l", f"v={i + 2}", "-p", "18220:8000", *srv(f"gen{i}", 8000)))
    finally:
        stop.set()
        t.join()
    assert seen and set(seen) == {0}, f"the name was seen free: {seen}"
    assert len(set(ids)) == 4
    c = fw.inspect("w")
    assert c["Id"] == ids[-1] and c["Config"]["Labels"] == {"v": "4"}
    assert fw.hutch("ps", "-aq").out.split() == [ids[-1][:12]]
    wait_until(lambda: not os.path.exists(f"/proc/{old_pid}"), desc="the old container's process to go")
    for i in ids[:-1]:
        h.wait_veth_gone(i)
        assert h.state_entries(i) == []
    assert h.wait_http(f"http://{HOST_OUT_IP}:18220/", ns=out).strip() == "gen2"
    # only the newest container's rules are left
    text = rules(h, backend)
    assert ids[-1] in text and not any(i in text for i in ids[:-1]), text
    # --replace of an exited container, and with no container of that name
    fw.hutch("run", "--name", "e", "--", "true")
    fw.hutch("run", "--replace", "--name", "e", "--", "true")
    fw.hutch("run", "--replace", "--name", "fresh", "--", "true")
    assert sorted(lines(fw.hutch("ps", "-a", "--format", "{{.Names}}"))) == ["e", "fresh", "w"]
    # without --replace the name is still refused
    bad(h, "--firewall", backend, "run", "--name", "w", "--", "true", mention=["w"])
    bad(h, "--firewall", backend, "run", "--replace", "--", "true", mention=["--name"])


def test_pod_replace(h):
    h.hutch("pod", "create", "--name", "p", "-l", "gen=1", "-p", "18230:8000")
    h.run_d("--pod", "p", "--name", "m", *srv("m1", 8000))
    first = json.loads(h.hutch("pod", "inspect", "p").out)[0]
    h.remember(first["InfraContainerID"])
    assert h.wait_http("http://127.0.0.1:18230/").strip() == "m1"
    new_id = h.hutch("pod", "create", "--replace", "--name", "p", "-l", "gen=2", "-p", "18230:8000").out.strip()
    info = json.loads(h.hutch("pod", "inspect", "p").out)[0]
    assert info["Id"] == new_id != first["Id"] and info["Labels"] == {"gen": "2"} and info["Containers"] == []
    assert lines(h.hutch("pod", "ls", "--format", "{{.Name}}")) == ["p"]
    # the old pod's members and infra container went with it
    assert h.hutch("container", "exists", "m", check=False).rc == 1
    assert h.hutch("container", "exists", first["InfraContainerID"], check=False).rc == 1
    h.run_d("--pod", "p", "--name", "m", *srv("m2", 8000))
    assert h.wait_http("http://127.0.0.1:18230/").strip() == "m2"
    h.hutch("pod", "rm", "-f", "p")


# ---------------------------------------------------------------------------------------------
# -P / --expose


@pytest.mark.parametrize("backend", BACKENDS)
def test_publish_all_reachable_from_outside(h, backend):
    fw = Fw(h, backend)
    out = h.outside()
    fw.run_d("--name", "w", "-P", "--expose", "8000", "--expose", "9000-9001/tcp", "--expose", "5353/udp",
            "-p", "18240:9001", *srv("w", 8000, 9000, 9001))
    got = {}
    for l in lines(fw.hutch("port", "w")):
        m = re.fullmatch(r"(\d+/(?:tcp|udp)) -> 0\.0\.0\.0:(\d+)", l)
        assert m, l
        got[m.group(1)] = int(m.group(2))
    assert set(got) == {"8000/tcp", "9000/tcp", "9001/tcp", "5353/udp"}, got
    assert got["9001/tcp"] == 18240                                   # -p wins over -P for its port
    assert all(got[k] in EPHEMERAL for k in ("8000/tcp", "9000/tcp", "5353/udp")), got
    assert len(set(got.values())) == 4
    ports = fw.inspect("w")["NetworkSettings"]["Ports"]
    assert int(ports["8000/tcp"][0]["HostPort"]) == got["8000/tcp"]
    for k in ("8000/tcp", "9000/tcp", "9001/tcp"):
        assert h.wait_http(f"http://{HOST_OUT_IP}:{got[k]}/", ns=out).strip() == "w"
    assert lines(fw.hutch("port", "w", "8000", "--format", "{{.PublicPort}}")) == [str(got["8000/tcp"])]
    # --expose alone publishes nothing; -P alone is no error
    fw.run_d("--name", "e", "--expose", "80", "--", "sleep", "300")
    assert fw.hutch("port", "e").out == ""
    fw.run_d("--name", "p", "-P", "--", "sleep", "300")
    assert fw.hutch("port", "p").out == ""


# ---------------------------------------------------------------------------------------------
# bad input: nothing created


def test_bad_scripting_input_creates_nothing(h):
    lf = f"{h.tmp}/bad.labels"
    with open(lf, "w") as f:
        f.write("ok=1\nbad key=2\n")
    cases = [
        (["run", "--name", "z", "-l", "=x", "--", "true"], ["--label"]),
        (["run", "--name", "z", "--label", "", "--", "true"], ["--label"]),
        (["run", "--name", "z", "--label", "a b=c", "--", "true"], ["a b"]),
        (["run", "--name", "z", "--label-file", lf, "--", "true"], [lf, "line 2"]),
        (["run", "--name", "z", "--label-file", "/nonexistent/labels", "--", "true"], ["/nonexistent/labels"]),
        (["run", "--name", "z", "-P", "--expose", "", "--", "true"], ["--expose"]),
        (["run", "--name", "z", "--expose", "http", "--", "true"], ["http"]),
        (["run", "--name", "z", "--expose", "80/sctp", "--", "true"], ["sctp"]),
        (["run", "--name", "z", "--expose", "70000", "--", "true"], ["70000"]),
        (["run", "--name", "z", "-P", "--expose", "80", "--net", "none", "--", "true"], ["none"]),
        (["pod", "create", "--name", "z", "-l", "=v"], ["--label"]),
        (["pod", "create", "--replace"], ["--name"]),
    ]
    for args, mention in cases:
        bad(h, *args, mention=mention)
        assert h.hutch("container", "exists", "z", check=False).rc == 1, args
        assert h.hutch("pod", "exists", "z", check=False).rc == 1, args
    assert h.hutch("ps", "-aq").out == "" and h.hutch("pod", "ls", "-q").out == ""
    assert h.state_entries() == []
