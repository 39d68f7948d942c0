"""Ingress (issue 17): a real nginx, in a hutch container of its own, routing HTTP by host and path to
Services (issue 15); requests come from the test's "outside" namespace through the ingress's
published port, so X-Forwarded-For must be that namespace's address.

Covered: host routing (exact and one-label wildcard hosts), Exact vs Prefix paths (whole path
elements, as Kubernetes defines them), any-host rules, the default backend and 404, forwarded
headers, balancing over a service's endpoints, endpoints replaced and the configuration reloaded
while requests run (zero failures), TLS against the given certificate, bad input (one line, 125,
nothing created), `ingress rm` and `gc` leaving nothing, the access log in `hutch logs`, and the
nginx container's privileges.
"""
import json
import os
import subprocess
import threading

import pytest

from harness import HOST_OUT_IP, OUTSIDE_IP, PY, db_rows, wait_until

# A backend: `python3 -c ECHO NAME PORT`; every GET answers JSON with its name, the path, the
# headers it got and the address the connection came from; except /slow, which answers SLOW_BODY
# once a /release came (/arrived: how many /slow requests came so far).
ECHO = r'''
import http.server, json, sys, threading
name = sys.argv[1]
arrived, release = [0], threading.Event()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/slow":
            arrived[0] += 1
            release.wait(30)
            b = bytes(range(251)) * 4000
        elif self.path == "/release":
            release.set()
            b = b"released"
        elif self.path == "/arrived":
            b = str(arrived[0]).encode()
        else:
            b = json.dumps({"name": name, "path": self.path, "client": self.client_address[0],
                            "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
'''
SLOW_BODY = bytes(range(251)) * 4000

# `python3 -c LOOP URL HOST STOPFILE`: GETs one after another (a new connection each) until
# STOPFILE exists; prints "ok N" and one "fail ..." line per failed request (not a 200 from a backend).
LOOP = r'''
import http.client, os, sys, time
url, host, stop = sys.argv[1], sys.argv[2], sys.argv[3]
addr, path = url.split("/", 1)
ip, port = addr.split(":")
ok = 0
while not os.path.exists(stop):
    try:
        c = http.client.HTTPConnection(ip, int(port), timeout=10)
        c.request("GET", "/" + path, headers={"Host": host})
        r = c.getresponse()
        body = r.read()
        c.close()
        if r.status == 200 and body.startswith(b"{"):
            ok += 1
        else:
            print("fail", r.status, body[:80], flush=True)
    except Exception as e:
        print("fail", repr(e), flush=True)
print("ok", ok, flush=True)
'''

PORT = 18080


def backend(h, name, app, port=8000):
    """A detached echo server `name` labelled app=APP on `port`."""
    return h.run_d("--name", name, "--label", f"app={app}", "--", PY, "-c", ECHO, name, str(port))


def service(h, name, app, port="80:8000"):
    h.hutch("service", "create", name, "--selector", f"app={app}", "--port", port)


def ingress(h, name, *args):
    r = h.hutch("ingress", "create", name, *args)
    assert r.out == name + "\n", r
    return inspect(h, name)


def inspect(h, name):
    data = json.loads(h.hutch("ingress", "inspect", name).out)
    assert isinstance(data, list) and len(data) == 1
    h.remember(data[0]["Container"]["Id"])  # nginx's processes join the harness's leak check
    return data[0]


def upstreams(h, name, backend_ref):
    return sorted(inspect(h, name)["Upstreams"].get(backend_ref, []))


def wait_upstreams(h, name, backend_ref, n):
    """Until the ingress resolves `backend_ref` to n endpoints."""
    return wait_until(lambda: (lambda u: u if len(u) == n else None)(upstreams(h, name, backend_ref)),
                      desc=f"{backend_ref} of ingress {name} to have {n} endpoints")


def wait_backend_serving(h, cid, port=8000):
    ip = h.inspect(cid)["NetworkSettings"]["IPAddress"]
    wait_until(lambda: h.run(["curl", "-s", "--max-time", "1", f"http://{ip}:{port}/"], check=False).rc == 0,
               desc=f"backend {ip}:{port} to serve")


def get(ns, path="/", host=None, port=PORT, scheme="http", extra=()):
    """A GET from namespace `ns` to the ingress's published port: (status, headers dict, body)."""
    argv = ["curl", "-sS", "--max-time", "5", "-D", "-", "-o", "-"]
    if host:
        argv += ["-H", f"Host: {host}"]
    argv += list(extra) + [f"{scheme}://{HOST_OUT_IP}:{port}{path}"]
    r = ns.run(argv, check=False, timeout=15)
    assert r.rc == 0, f"curl failed: {r}"
    head, _, body = r.out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def routed(ns, path="/", host=None, **kw):
    """The backend a request reached (its name), or the status when nginx answered itself."""
    status, headers, body = get(ns, path, host, **kw)
    if status == 200 and body.startswith("{"):
        return json.loads(body)["name"]
    return status


def wait_routed(ns, path, host, want):
    return wait_until(lambda: routed(ns, path, host) == want, desc=f"{host}{path} to reach {want}")


@pytest.fixture
def shop(h):
    """Services shop (2 endpoints), api, probe and web (1 each), all serving; the outside namespace."""
    for name, app in [("shop-1", "shop"), ("shop-2", "shop"), ("api-1", "api"), ("probe-1", "probe"), ("web-1", "web")]:
        backend(h, name, app)
    for s in ["shop", "api", "probe", "web"]:
        service(h, s, s)
    for c in ["shop-1", "shop-2", "api-1", "probe-1", "web-1"]:
        wait_backend_serving(h, c)
    return h.outside()


def test_host_and_path_routing(h, shop):
    out = shop
    ing = ingress(h, "edge", "-p", f"{PORT}:80",
                  "--rule", "shop.example/*=shop:80", "--rule", "api.example/v1*=api:80",
                  "--rule", "api.example/v1/exact=probe:80", "--rule", "/healthz=probe:80",
                  "--rule", "*.apps.example/*=web:80")
    assert [r["Rule"] for r in ing["Rules"]] == ["shop.example/*=shop:80", "api.example/v1*=api:80",
                                                 "api.example/v1/exact=probe:80", "/healthz=probe:80",
                                                 "*.apps.example/*=web:80"]
    assert len(ing["Upstreams"]["shop:80"]) == 2 and all(u.endswith(":8000") for u in ing["Upstreams"]["shop:80"])
    assert ing["Container"]["Name"] == "ingress-edge" and ing["Status"] == "Running"
    assert ing["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(PORT)}]}
    # Host routing: a host's Prefix / takes every path of that host.
    assert routed(out, "/", "shop.example") in ("shop-1", "shop-2")
    assert routed(out, "/cart/42", "shop.example") in ("shop-1", "shop-2")
    assert routed(out, "/", "SHOP.example") in ("shop-1", "shop-2")  # host names are case-insensitive
    # Prefix /v1 matches /v1 and /v1/..., not /v1x; an Exact rule beats it on its own path only.
    assert routed(out, "/v1", "api.example") == "api-1"
    assert routed(out, "/v1/users", "api.example") == "api-1"
    assert routed(out, "/v1/exact", "api.example") == "probe-1"
    assert routed(out, "/v1/exact/more", "api.example") == "api-1"
    assert routed(out, "/v1x", "api.example") == 404
    assert routed(out, "/", "api.example") == 404
    # Any-host rules: every host, and no host at all; Exact means exact.
    assert routed(out, "/healthz", "other.example") == "probe-1"
    assert routed(out, "/healthz", "api.example") == "probe-1"
    assert routed(out, "/healthz") == "probe-1"
    assert routed(out, "/healthz/more", "other.example") == 404
    # *.apps.example: exactly one more label.
    assert routed(out, "/", "a.apps.example") == "web-1"
    assert routed(out, "/x", "b-2.apps.example") == "web-1"
    assert routed(out, "/", "a.b.apps.example") == 404
    assert routed(out, "/", "apps.example") == 404
    # The path reaches the backend unchanged.
    _, _, body = get(out, "/cart/42?x=1", "shop.example")
    assert json.loads(body)["path"] == "/cart/42?x=1"


def test_default_backend_and_404_and_server_is_nginx(h, shop):
    out = shop
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "shop.example/*=shop:80")
    status, headers, body = get(out, "/", "nowhere.example")
    assert status == 404 and headers["server"] == "nginx" and "nginx" in body
    status, headers, _ = get(out, "/", "shop.example")
    assert status == 200 and headers["server"] == "nginx"
    h.hutch("ingress", "update", "edge", "--default-backend", "web:80")
    assert inspect(h, "edge")["DefaultBackend"] == "web:80"
    wait_routed(out, "/", "nowhere.example", "web-1")
    assert routed(out, "/anything") == "web-1"
    assert routed(out, "/", "shop.example") in ("shop-1", "shop-2")  # rules still win
    h.hutch("ingress", "update", "edge", "--no-default-backend")
    wait_routed(out, "/", "nowhere.example", 404)
    # An ingress made of a default backend only.
    h.hutch("ingress", "rm", "edge")
    ingress(h, "fallback", "-p", f"{PORT}:80", "--default-backend", "web:80")
    wait_routed(out, "/x", "any.example", "web-1")


def test_forwarded_headers_name_the_outside_client(h, shop):
    out = shop
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "shop.example/*=shop:80")
    nginx_ip = h.inspect("ingress-edge")["NetworkSettings"]["IPAddress"]
    # A client-supplied X-Forwarded-For is not trusted: nginx sets the address it saw.
    _, _, body = get(out, "/p", "shop.example:8443", extra=["-H", "X-Forwarded-For: 203.0.113.9"])
    seen = json.loads(body)
    hd = seen["headers"]
    assert hd["x-forwarded-for"] == OUTSIDE_IP
    assert hd["x-real-ip"] == OUTSIDE_IP
    assert hd["host"] == "shop.example:8443"  # passed through, port included
    assert hd["x-forwarded-host"] == "shop.example"
    assert hd["x-forwarded-proto"] == "http"
    assert seen["client"] == nginx_ip  # the connection itself comes from nginx
    # The access log is the container's output: `hutch logs` shows the outside client.
    logs = wait_until(lambda: (lambda t: t if f'{OUTSIDE_IP} - ' in t and '"GET /p HTTP/1.1" 200' in t else None)(
        h.hutch("logs", "ingress-edge").out), desc="the request in nginx's access log")
    assert "host=shop.example" in logs


def test_balancing_over_a_services_endpoints(h, shop):
    out = shop
    backend(h, "shop-3", "shop")
    wait_backend_serving(h, "shop-3")
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    wait_upstreams(h, "edge", "shop:80", 3)
    seen = [routed(out, "/", "x.example") for _ in range(30)]
    assert set(seen) == {"shop-1", "shop-2", "shop-3"}, seen


def loop(out, host, stop, path="/"):
    return out.bg([PY, "-c", LOOP, f"{HOST_OUT_IP}:{PORT}{path}", host, stop])


def finish(p, stop):
    open(stop, "w").close()
    p.wait(60)
    text = p.output()
    lines = text.splitlines()
    fails = [l for l in lines if l.startswith("fail")]
    oks = [int(l.split()[1]) for l in lines if l.startswith("ok ")]
    assert oks, f"the request loop printed no total: {text!r}"
    return oks[0], fails


def old_workers_gone(h, name):
    """Until no nginx worker of the ingress is still finishing requests on an older
    configuration (their process title says "is shutting down")."""
    master = inspect(h, name)["Container"]["Pid"]

    def settled():
        kids = open(f"/proc/{master}/task/{master}/children").read().split()
        titles = []
        for k in kids:
            try:
                titles.append(open(f"/proc/{k}/cmdline").read())
            except OSError:
                pass
        return not any("shutting down" in t for t in titles)
    wait_until(settled, desc=f"the old nginx workers of ingress {name} to finish")


def one_backend_ingress(h, name, app, svc, *args):
    """Backend `name` (label app=APP) behind service `svc`, serving, and ingress edge with `args`
    routing to it; the ingress's inspect."""
    backend(h, name, app)
    service(h, svc, app)
    wait_backend_serving(h, name)
    ing = ingress(h, "edge", "-p", f"{PORT}:80", *args)
    wait_upstreams(h, "edge", f"{svc}:80", 1)
    return ing


def test_endpoints_replaced_while_requests_run(h, shop):
    out = shop
    one_backend_ingress(h, "e-1", "edge-app", "app", "--rule", "app.example/*=app:80")
    stop = os.path.join(h.tmp, "stop")
    p = loop(out, "app.example", stop)
    try:
        wait_until(lambda: "fail" in p.output() or h.hutch("logs", "ingress-edge").out.count("app.example") >= 5,
                   desc="requests to flow")
        for old, new in [("e-1", "e-2"), ("e-2", "e-3"), ("e-3", "e-4")]:
            backend(h, new, "edge-app")
            wait_backend_serving(h, new)
            ip_new = h.inspect(new)["NetworkSettings"]["IPAddress"]
            wait_until(lambda: f"{ip_new}:8000" in upstreams(h, "edge", "app:80"), desc=f"{new} in the upstreams")
            ip_old = h.inspect(old)["NetworkSettings"]["IPAddress"]
            h.hutch("rm", "-f", old)
            wait_until(lambda: f"{ip_old}:8000" not in upstreams(h, "edge", "app:80"), desc=f"{old} out of the upstreams")
            # A rolling update's pace: the next endpoint goes once the requests that were under
            # way when this one went are done (a request that was about to connect to the one
            # just removed retries the next endpoint, which must still be there).
            old_workers_gone(h, "edge")
    finally:
        ok, fails = finish(p, stop)
    assert not fails, f"{len(fails)} failed requests (of {ok + len(fails)}): {fails[:5]}; nginx's log: " + \
        "\n".join(l for l in h.hutch("logs", "ingress-edge").out.splitlines() if " 200 " not in l)
    assert ok > 0
    assert routed(out, "/", "app.example") == "e-4"


def test_service_upstream_endpoints_replaced_without_a_reload(h, shop):
    """--service-upstream: nginx proxies to the service's ClusterIP (the kernel picks an endpoint
    per connection), so replacing every endpoint changes nothing in nginx: no reload, and the
    requests that run meanwhile all succeed. The new endpoints join before the request loop:
    hutch adds an endpoint when its container runs, not when it listens (there are no readiness
    probes), and a connection in between is refused; endpoints mode retries another endpoint
    then, service mode only the ClusterIP again (which picks anew, but may pick the same)."""
    out = shop
    ing = one_backend_ingress(h, "e-1", "edge-app", "app", "--service-upstream", "--rule", "app.example/*=app:80")
    cluster_ip = json.loads(h.hutch("service", "inspect", "app").out)[0]["ClusterIP"]
    assert ing["UpstreamMode"] == "service" and ing["Upstreams"] == {"app:80": [f"{cluster_ip}:80"]}, ing
    master = ing["Container"]["Pid"]
    workers = nginx_workers(master)
    conf = open(ing["ConfigFile"]).read()
    assert f"server {cluster_ip}:80 max_fails=0;" in conf and "keepalive 32;" not in conf

    def endpoints():
        return sorted(e["IP"] for e in json.loads(h.hutch("service", "inspect", "app").out)[0]["Endpoints"])
    for new in ["e-2", "e-3", "e-4"]:
        backend(h, new, "edge-app")
        wait_backend_serving(h, new)
    wait_until(lambda: len(endpoints()) == 4, desc="four endpoints")
    stop = os.path.join(h.tmp, "stop")
    p = loop(out, "app.example", stop)
    try:
        wait_until(lambda: "fail" in p.output() or h.hutch("logs", "ingress-edge").out.count("app.example") >= 5,
                   desc="requests to flow")
        for old in ["e-1", "e-2", "e-3"]:
            ip_old = h.inspect(old)["NetworkSettings"]["IPAddress"]
            h.hutch("rm", "-f", old)
            assert ip_old not in endpoints()
            n = h.hutch("logs", "ingress-edge").out.count("app.example")
            wait_until(lambda: h.hutch("logs", "ingress-edge").out.count("app.example") >= n + 20,
                       desc=f"requests to flow without {old}")
    finally:
        ok, fails = finish(p, stop)
    assert not fails, f"{len(fails)} failed requests (of {ok + len(fails)}): {fails[:5]}"
    assert ok > 0
    assert endpoints() == [h.inspect("e-4")["NetworkSettings"]["IPAddress"]]
    assert {routed(out, "/", "app.example") for _ in range(5)} == {"e-4"}
    # No reload through all of it: the same workers, the same configuration.
    assert nginx_workers(master) == workers
    assert open(ing["ConfigFile"]).read() == conf
    assert inspect(h, "edge")["Upstreams"] == {"app:80": [f"{cluster_ip}:80"]}
    # The default mode says so too.
    h.hutch("ingress", "rm", "edge")
    assert ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=app:80")["UpstreamMode"] == "endpoints"


def test_reloads_under_load_drop_nothing(h, shop):
    out = shop
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "shop.example/*=shop:80")
    stop = os.path.join(h.tmp, "stop")
    p = loop(out, "shop.example", stop)
    try:
        for i in range(20):
            h.hutch("ingress", "update", "edge", "--rule", "shop.example/*=shop:80", "--rule", f"/r{i}=web:80")
    finally:
        ok, fails = finish(p, stop)
    assert not fails, f"{len(fails)} failed requests (of {ok + len(fails)}): {fails[:5]}"
    assert routed(out, "/r19", "other.example") == "web-1"
    assert routed(out, "/r18", "other.example") == 404


# `python3 -c INFLIGHT IP:PORT HOST`: one keep-alive connection: GET / (prints "first STATUS
# CONNECTION"), then GET /slow on the same connection, then a JSON line about its answer.
INFLIGHT = r'''
import http.client, json, sys
ip, port = sys.argv[1].split(":")
c = http.client.HTTPConnection(ip, int(port), timeout=60)
c.request("GET", "/", headers={"Host": sys.argv[2]})
r = c.getresponse()
r.read()
print("first", r.status, r.getheader("Connection"), flush=True)
c.request("GET", "/slow", headers={"Host": sys.argv[2]})
r = c.getresponse()
body = r.read()
print(json.dumps({"status": r.status, "connection": r.getheader("Connection"), "length": len(body),
                  "body": body == bytes(range(251)) * 4000}), flush=True)
'''


def nginx_workers(master):
    """{pid: process title} of the nginx master's children."""
    out = {}
    for k in open(f"/proc/{master}/task/{master}/children").read().split():
        try:
            out[int(k)] = open(f"/proc/{k}/cmdline").read().replace("\0", " ").strip()
        except OSError:
            pass
    return out


def test_a_request_in_flight_on_a_keep_alive_connection_finishes_across_a_reload(h, shop):
    """nginx 1.22 on SIGHUP: the old worker stops accepting and closes its idle keep-alive
    connections, but one with a request under way finishes it (the whole body), answering with
    `Connection: close`, and only then exits."""
    out = shop
    one_backend_ingress(h, "slow-1", "slow", "slow", "--rule", "/*=slow:80")
    ip = h.inspect("slow-1")["NetworkSettings"]["IPAddress"]

    def at_backend(path):
        return h.run(["curl", "-sS", "--max-time", "5", f"http://{ip}:8000{path}"]).out
    master = inspect(h, "edge")["Container"]["Pid"]
    p = out.bg([PY, "-c", INFLIGHT, f"{HOST_OUT_IP}:{PORT}", "slow.example"])
    wait_until(lambda: at_backend("/arrived") == "1", desc="the slow request to reach the backend")
    assert p.output().splitlines()[0] == "first 200 keep-alive", p.output()
    before = nginx_workers(master)
    h.hutch("ingress", "update", "edge", "--rule", "/*=slow:80", "--rule", "/other=web:80")
    # The reload is done (new workers run) while the slow request is still waiting at the backend:
    # an old worker stays, shutting down, for it alone.
    after = nginx_workers(master)
    assert set(after) - set(before), (before, after)
    assert [pid for pid in before if "shutting down" in after.get(pid, "")], (before, after)
    assert at_backend("/arrived") == "1" and len(p.output().splitlines()) == 1, p.output()
    at_backend("/release")
    line = wait_until(lambda: (lambda ls: ls[1] if len(ls) > 1 else None)(p.output().splitlines()),
                      timeout=30, desc="the slow request's answer")
    assert json.loads(line) == {"status": 200, "connection": "close", "length": len(SLOW_BODY), "body": True}, line
    old_workers_gone(h, "edge")
    assert routed(out, "/other", "x.example") == "web-1"


# `python3 -c POOLED URL HOST STOPFILE THREADS RETRIES`: THREADS threads, each with a urllib3
# pool of one keep-alive connection, GET in a loop until STOPFILE exists; RETRIES is the urllib3
# Retry total (0: none). Like `requests`, urllib3 retries an idempotent request whose reused
# connection the server closed (RFC 9110 section 9.2.2). Prints "ok N retried R reused U" and one
# "fail ..." line per failed request.
POOLED = r'''
import os, sys, threading, urllib3
url, host, stop, threads, retries = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
lock = threading.Lock()
count = {"ok": 0, "retried": 0, "reused": 0}
def worker():
    pool = urllib3.PoolManager(maxsize=1, timeout=urllib3.Timeout(connect=5, read=10),
                               retries=urllib3.Retry(total=retries, backoff_factor=0) if retries else False)
    done = 0
    while not os.path.exists(stop):
        try:
            r = pool.request("GET", url, headers={"Host": host})
            if r.status == 200 and r.data.startswith(b"{"):
                with lock:
                    count["ok"] += 1
                    count["retried"] += len(r.retries.history) if r.retries else 0
                    count["reused"] += done > 0
            else:
                print("fail", r.status, r.data[:80], flush=True)
            done += 1
        except Exception as e:
            print("fail", repr(e)[:200], flush=True)
ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("ok {ok} retried {retried} reused {reused}".format(**count), flush=True)
'''


def test_a_keep_alive_client_that_retries_like_http_libraries_loses_nothing_to_reloads(h, shop):
    """A request sent on a keep-alive connection just as an old worker closes it fails; HTTP
    libraries retry such idempotent requests on a new connection, and so lose nothing."""
    out = shop
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "shop.example/*=shop:80")
    stop = os.path.join(h.tmp, "stop")
    p = out.bg([PY, "-c", POOLED, f"http://{HOST_OUT_IP}:{PORT}/", "shop.example", stop, "4", "3"])
    try:
        wait_until(lambda: "fail" in p.output() or h.hutch("logs", "ingress-edge").out.count("shop.example") >= 20,
                   desc="requests to flow")
        for i in range(10):
            h.hutch("ingress", "update", "edge", "--rule", "shop.example/*=shop:80", "--rule", f"/r{i}=web:80")
    finally:
        open(stop, "w").close()
        p.wait(60)
    text = p.output()
    fails = [l for l in text.splitlines() if l.startswith("fail")]
    total = [l.split() for l in text.splitlines() if l.startswith("ok ")]
    assert total, f"the client printed no total: {text!r}"
    ok, retried, reused = int(total[0][1]), int(total[0][3]), int(total[0][5])
    assert not fails, f"{len(fails)} failed requests (of {ok + len(fails)}, {retried} retried): {fails[:5]}"
    assert ok > 0 and reused > ok // 2, text  # keep-alive: most requests went on a reused connection
    assert routed(out, "/r9", "other.example") == "web-1"


def test_tls_with_the_given_certificate(h, shop):
    out = shop
    cert, key = os.path.join(h.tmp, "cert.pem"), os.path.join(h.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=shop.example",
                    "-addext", "subjectAltName=DNS:shop.example", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "-p", "18443:443", "--rule", "shop.example/*=shop:80",
                  "--tls-cert", cert, "--tls-key", key)
    assert ing["TLS"] and os.path.dirname(ing["TLS"]["Certificate"]) == os.path.dirname(ing["ConfigFile"])
    r = out.run(["curl", "-sS", "--max-time", "5", "--cacert", cert, "--resolve", f"shop.example:18443:{HOST_OUT_IP}",
                 "https://shop.example:18443/secure"], check=False)
    assert r.rc == 0, r
    seen = json.loads(r.out)
    assert seen["path"] == "/secure" and seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["x-forwarded-for"] == OUTSIDE_IP
    # Verified against that certificate: another CA's bundle fails the handshake.
    other = os.path.join(h.tmp, "other.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=shop.example",
                    "-keyout", os.path.join(h.tmp, "other.key"), "-out", other], check=True, capture_output=True)
    r = out.run(["curl", "-sS", "--max-time", "5", "--cacert", other, "--resolve", f"shop.example:18443:{HOST_OUT_IP}",
                 "https://shop.example:18443/"], check=False)
    assert r.rc == 60, r  # peer certificate cannot be authenticated with the given CA
    # Plain HTTP still served on port 80.
    assert routed(out, "/", "shop.example") in ("shop-1", "shop-2")


def test_a_certificate_per_host_by_sni(h, shop):
    out = shop
    files = {}
    for host in ("shop.example", "api.example"):
        cert, key = os.path.join(h.tmp, f"{host}.pem"), os.path.join(h.tmp, f"{host}.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                        "-addext", f"subjectAltName=DNS:{host}", "-keyout", key, "-out", cert], check=True, capture_output=True)
        files[host] = (cert, key)
    ing = ingress(h, "edge", "-p", "18443:443", "-p", f"{PORT}:80", "--rule", "shop.example/*=shop:80",
                  "--rule", "api.example/*=api:80", "--rule", "plain.example/*=web:80",
                  "--tls", "shop.example={},{}".format(*files["shop.example"]),
                  "--tls", "api.example={},{}".format(*files["api.example"]))
    assert ing["TLS"] is None and [t["Host"] for t in ing["TLSHosts"]] == ["shop.example", "api.example"]

    def https(host, cacert):
        return out.run(["curl", "-sS", "--max-time", "5", "--cacert", cacert, "--resolve", f"{host}:18443:{HOST_OUT_IP}",
                        f"https://{host}:18443/"], check=False)
    r = https("shop.example", files["shop.example"][0])
    assert r.rc == 0 and json.loads(r.out)["name"] in ("shop-1", "shop-2"), r
    r = https("api.example", files["api.example"][0])
    assert r.rc == 0 and json.loads(r.out)["name"] == "api-1", r
    # Each name gets its own certificate: api's CA does not vouch for shop's.
    assert https("shop.example", files["api.example"][0]).rc == 60
    # A name without a certificate: no default one, so the handshake is refused.
    r = out.run(["curl", "-sS", "-k", "--max-time", "5", "--resolve", f"plain.example:18443:{HOST_OUT_IP}",
                 "https://plain.example:18443/"], check=False)
    assert r.rc == 35, r  # TLS handshake failed
    assert routed(out, "/", "plain.example") == "web-1"  # HTTP still serves it


def self_signed(h, name, host):
    """A self-signed certificate for `host`: (cert file, key file)."""
    cert, key = os.path.join(h.tmp, f"{name}.pem"), os.path.join(h.tmp, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def served_certificate(ns, host, port=18443):
    """The certificate nginx presents for `host` (SNI), as PEM, seen by openssl s_client."""
    r = ns.run(["openssl", "s_client", "-connect", f"{HOST_OUT_IP}:{port}", "-servername", host],
               input="", check=False, timeout=15)
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    assert begin in r.out, r
    return r.out[r.out.index(begin):r.out.index(end) + len(end)]


def pem_of(path):
    text = open(path).read()
    return text[text.index("-----BEGIN CERTIFICATE-----"):text.index("-----END CERTIFICATE-----") + 25]


def test_certificates_change_on_a_running_ingress(h, shop):
    out = shop
    old, new, other = (self_signed(h, n, "shop.example") for n in ("old", "new", "other"))
    api = self_signed(h, "api", "api.example")
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "-p", "18443:443", "--rule", "shop.example/*=shop:80",
                  "--rule", "api.example/*=api:80", "--tls-cert", old[0], "--tls-key", old[1])
    folder = os.path.dirname(ing["ConfigFile"])
    assert served_certificate(out, "shop.example") == pem_of(old[0])

    def https(host, cacert):
        return out.run(["curl", "-sS", "--max-time", "5", "--cacert", cacert, "--resolve", f"{host}:18443:{HOST_OUT_IP}",
                        f"https://{host}:18443/"], check=False)
    # A new default certificate: served from then on; the old files are gone.
    assert h.hutch("ingress", "update", "edge", "--tls-cert", new[0], "--tls-key", new[1]).out == "edge\n"
    assert served_certificate(out, "shop.example") == pem_of(new[0])
    r = https("shop.example", new[0])
    assert r.rc == 0 and json.loads(r.out)["name"] in ("shop-1", "shop-2"), r
    assert https("shop.example", old[0]).rc == 60
    ing = inspect(h, "edge")
    assert open(ing["TLS"]["Certificate"]).read() == open(new[0]).read()
    assert sorted(f for f in os.listdir(folder) if f.startswith("tls")) == \
        sorted(os.path.basename(ing["TLS"][k]) for k in ("Certificate", "Key"))
    assert [x["Rule"] for x in ing["Rules"]] == ["shop.example/*=shop:80", "api.example/*=api:80"]  # rules kept

    # Rejected by nginx (a key that is not the certificate's), unreadable, not PEM: 125, one
    # line, and the certificate in use stays, files and all.
    files = sorted(os.listdir(folder))
    conf = open(ing["ConfigFile"]).read()
    not_pem = os.path.join(h.tmp, "not.pem")
    with open(not_pem, "w") as f:
        f.write("hello\n")
    for args, mentions in [
        (["--tls-cert", other[0], "--tls-key", new[1]], ["nginx rejected", "key"]),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", new[1]], ["/nonexistent.pem"]),
        (["--tls-cert", not_pem, "--tls-key", new[1]], ["not a PEM file"]),
        (["--tls", f"api.example={api[0]},{new[1]}"], ["nginx rejected"]),
        (["--tls-cert", new[0]], ["--tls-key"]),
    ]:
        r = h.hutch("ingress", "update", "edge", *args, check=False)
        assert r.rc == 125 and r.err.startswith("hutch: ") and r.err.count("\n") == 1, (args, r)
        assert all(m in r.err for m in mentions), (args, r.err)
        assert sorted(os.listdir(folder)) == files, args
        assert open(ing["ConfigFile"]).read() == conf
        assert inspect(h, "edge")["TLS"] == ing["TLS"]
    assert served_certificate(out, "shop.example") == pem_of(new[0])

    # Per-host certificates (SNI) added to a running ingress; the default one stays for the rest.
    h.hutch("ingress", "update", "edge", "--tls", "api.example={},{}".format(*api))
    ing = inspect(h, "edge")
    assert [t["Host"] for t in ing["TLSHosts"]] == ["api.example"]
    assert served_certificate(out, "api.example") == pem_of(api[0])
    r = https("api.example", api[0])
    assert r.rc == 0 and json.loads(r.out)["name"] == "api-1", r
    assert served_certificate(out, "shop.example") == pem_of(new[0])
    assert len([f for f in os.listdir(folder) if f.startswith("tls")]) == 4

    # An ingress that does not publish 443: a certificate would serve nothing.
    ingress(h, "plain", "-p", "18081:80", "--rule", "/*=web:80")
    r = h.hutch("ingress", "update", "plain", "--tls-cert", new[0], "--tls-key", new[1], check=False)
    assert r.rc == 125 and "443" in r.err and r.err.count("\n") == 1, r
    assert inspect(h, "plain")["TLS"] is None


def test_endpoints_on_a_user_defined_network(h):
    """Networks are isolated from each other: nginx joins the one its endpoints are on."""
    out = h.outside()
    h.hutch("network", "create", "backnet")
    h.run_d("--name", "n-1", "--network", "backnet", "--label", "app=n", "--", PY, "-c", ECHO, "n-1", "8000")
    service(h, "n", "n")
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "--network", "backnet", "--rule", "/*=n:80")
    assert h.inspect("ingress-edge")["HostConfig"]["NetworkMode"] == "backnet"
    assert ing["Upstreams"]["n:80"][0].startswith(h.inspect("n-1")["NetworkSettings"]["Networks"]["backnet"]["IPAddress"])
    wait_routed(out, "/", "x.example", "n-1")
    h.hutch("ingress", "rm", "edge")
    h.hutch("rm", "-f", "n-1")
    h.hutch("service", "rm", "n")
    h.hutch("network", "rm", "backnet")


def test_a_killed_nginx_comes_back_and_still_takes_updates(h, shop):
    """The nginx container runs with --restart always: `kill -9` of its master (a crash), and its
    shim starts it again in the same network namespace; later changes reach the new master."""
    out = shop
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    assert ing["Container"]["RestartPolicy"] == "always" and ing["Container"]["RestartCount"] == 0
    assert h.inspect("ingress-edge")["HostConfig"]["RestartPolicy"]["Name"] == "always"
    old = ing["Container"]["Pid"]
    os.kill(old, 9)
    wait_until(lambda: not os.path.exists(f"/proc/{old}"), desc="the killed nginx to go")
    # gc meanwhile (nginx dead or just restarted) leaves the ingress alone.
    g = h.hutch("gc")
    assert "ingress edge" not in g.out, g.out
    assert h.hutch("ingress", "exists", "edge").rc == 0
    cur = wait_until(lambda: (lambda c: c if c["Status"] == "Running" and c["Container"]["Pid"] not in (0, old) else None)(
        inspect(h, "edge")), desc="nginx to run again")
    assert cur["Container"]["RestartCount"] == 1 and cur["Container"]["Status"] == "running", cur
    assert h.hutch("ingress", "inspect", "--format", "{{.Status}} {{.Container.RestartCount}} {{.Container.Pid}}",
                   "edge").out == f"Running 1 {cur['Container']['Pid']}\n"
    wait_until(lambda: routed(out, "/", "x.example") in ("shop-1", "shop-2"), desc="the ingress to answer again")
    assert "edge Running" in h.hutch("ingress", "ls", "--format", "{{.Name}} {{.Status}}").out
    # A change now goes to the new master (a reload of the old pid would do nothing).
    master = cur["Container"]["Pid"]
    before = nginx_workers(master)
    h.hutch("ingress", "update", "edge", "--rule", "/*=shop:80", "--rule", "/new=web:80")
    assert set(nginx_workers(master)) - set(before)
    assert routed(out, "/new", "x.example") == "web-1"
    # Killed again and changed at once: the change reaches whichever master runs by the time the
    # command returns (the restarted one reads the new file, or gets the reload).
    os.kill(master, 9)
    h.hutch("ingress", "update", "edge", "--rule", "/*=shop:80", "--rule", "/new=web:80", "--rule", "/newer=api:80")
    assert routed(out, "/newer", "x.example") == "api-1"
    assert inspect(h, "edge")["Container"]["RestartCount"] == 2
    # The endpoints of a service change: reloaded too.
    backend(h, "shop-3", "shop")
    wait_upstreams(h, "edge", "shop:80", 3)
    wait_until(lambda: "shop-3" in {routed(out, "/", "x.example") for _ in range(9)}, desc="shop-3 to be routed to")
    # A user's stop is for good; start brings it back; rm removes it as any ingress.
    h.hutch("stop", "-t", "1", "ingress-edge")
    assert h.inspect("ingress-edge")["State"]["Status"] == "exited"
    assert "edge Exited" in h.hutch("ingress", "ls", "--format", "{{.Name}} {{.Status}}").out
    h.hutch("start", "ingress-edge")
    wait_until(lambda: routed(out, "/new", "x.example") == "web-1", desc="the ingress to answer after start")
    assert h.hutch("gc").out.strip() == "nothing to clean"
    assert h.hutch("ingress", "rm", "edge").out == "edge\n"
    assert h.hutch("ps", "-aq").out.count("\n") == 6  # the five backends and shop-3


def ingress_state(h):
    folder = os.path.join(h.root, "ingress")
    return {
        "ingresses": db_rows(h, "ingresses", missing_ok=True),
        "containers": sorted(r[1] for r in db_rows(h, "containers", missing_ok=True)),
        "ports": db_rows(h, "ports", missing_ok=True),
        "folders": sorted(os.listdir(folder)) if os.path.isdir(folder) else [],
        "published": [l for l in h.sh("nft list ruleset", check=False).out.splitlines() if str(PORT) in l],
    }


def test_bad_input_creates_nothing(h, shop):
    h.run_d("--name", "taken", "-p", "18095:80", "--", "sleep", "600")
    bad_pem = os.path.join(h.tmp, "bad.pem")
    with open(bad_pem, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    before = ingress_state(h)
    cases = [
        (["--rule", "/*=nosuch:80"], ["nosuch"]),
        (["--rule", "/*=shop:8080"], ["shop", "8080"]),
        (["--default-backend", "nosuch:80"], ["nosuch"]),
        (["--rule", "shop.example=shop:80"], ["--rule", "shop.example=shop:80"]),
        (["--rule", "/x"], ["--rule", "/x"]),
        (["--rule", "bad_host.example/*=shop:80"], ["bad_host.example"]),
        (["--rule", "/*=shop:http"], ["http", "not a number"]),
        (["--default-backend", "shop:eighty"], ["eighty"]),
        (["--rule", "/a b=shop:80"], ["/a b"]),
        (["-p", "18095:80"], ["18095"]),          # the host port is taken by `taken`
        (["-p", "18096:8080"], ["8080"]),         # nginx does not listen there
        (["--tls-cert", bad_pem], ["--tls-key"]),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key", "-p", "18443:443"], ["/nonexistent.pem"]),
        (["--tls-cert", bad_pem, "--tls-key", bad_pem, "-p", "18443:443"], ["nginx rejected", "certificate"]),
        (["--tls", "shop.example=/nonexistent.pem,/nonexistent.key", "-p", "18443:443"], ["/nonexistent.pem"]),
        (["--tls", "bad_host=a,b"], ["--tls", "bad_host"]),
        (["--network", "nosuchnet"], ["nosuchnet"]),
    ]
    failures = []
    for extra, mentions in cases:
        args = ["ingress", "create", "edge"] + (["-p", f"{PORT}:80"] if "-p" not in extra else []) + \
               (["--rule", "/*=shop:80"] if "--rule" not in extra and "--default-backend" not in extra else []) + extra
        r = h.hutch(*args, check=False)
        problems = []
        if r.rc != 125:
            problems.append(f"rc {r.rc}")
        if not (r.err.startswith("hutch: ") and r.err.count("\n") == 1):
            problems.append("stderr is not one line")
        problems += [f"does not name {m!r}" for m in mentions if m not in r.err]
        after = ingress_state(h)
        if after != before:
            problems.append(f"state changed: {[k for k in before if before[k] != after[k]]}")
            before = after
        if problems:
            failures.append(f"{args}: {problems}: {r.err!r}")
    assert not failures, "\n".join(failures)
    assert h.hutch("ingress", "exists", "edge", check=False).rc == 1
    # A name in use, and an update naming a service that does not exist: the old rules stay.
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    r = h.hutch("ingress", "create", "edge", "-p", "18097:80", "--rule", "/*=shop:80", check=False)
    assert r.rc == 125 and "edge" in r.err and "in use" in r.err
    conf = open(inspect(h, "edge")["ConfigFile"]).read()
    r = h.hutch("ingress", "update", "edge", "--rule", "/*=nosuch:80", check=False)
    assert r.rc == 125 and "nosuch" in r.err and r.err.count("\n") == 1
    assert open(inspect(h, "edge")["ConfigFile"]).read() == conf
    assert [x["Rule"] for x in inspect(h, "edge")["Rules"]] == ["/*=shop:80"]
    assert routed(shop, "/") in ("shop-1", "shop-2")


def test_rm_leaves_no_container_rule_or_file(h, shop):
    before = ingress_state(h)
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    folder = os.path.dirname(ing["ConfigFile"])
    assert os.path.isdir(folder)
    assert str(PORT) in h.sh("nft list ruleset").out
    pid = ing["Container"]["Pid"]
    assert h.hutch("ingress", "ls", "--format", "{{.Name}} {{.Status}} {{.Ports}}").out == \
        f"edge Running 0.0.0.0:{PORT}->80/tcp\n"
    assert h.hutch("ingress", "ls", "-q").out == "edge\n"
    assert h.hutch("ingress", "rm", "edge").out == "edge\n"
    assert ingress_state(h) == before
    assert not os.path.exists(folder)
    assert str(PORT) not in h.sh("nft list ruleset").out
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), desc="nginx to exit")
    assert h.hutch("ingress", "exists", "edge", check=False).rc == 1
    assert h.hutch("ingress", "ls", "-q").out == ""
    r = h.hutch("ingress", "rm", "edge", check=False)
    assert r.rc == 125 and "no such ingress: edge" in r.err
    assert h.hutch("ingress", "rm", "-i", "edge").rc == 0


def test_gc_removes_an_ingress_whose_container_vanished(h, shop):
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    h.hutch("rm", "-f", "ingress-edge")
    assert "Missing" in h.hutch("ingress", "ls").out
    r = h.hutch("gc")
    assert "ingress edge" in r.out and "removed" in r.out
    assert h.hutch("ingress", "ls", "-q").out == ""
    assert not os.path.exists(os.path.dirname(ing["ConfigFile"]))


def test_nginx_runs_with_least_privilege(h, shop):
    ing = ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    master = ing["Container"]["Pid"]
    status = open(f"/proc/{master}/status").read()
    caps = int(next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1], 16)
    assert caps == (1 << 10) | (1 << 6) | (1 << 7), hex(caps)  # NET_BIND_SERVICE, SETGID, SETUID
    children = [int(p) for p in open(f"/proc/{master}/task/{master}/children").read().split()]
    assert children, "no nginx workers"
    for w in children:
        st = open(f"/proc/{w}/status").read()
        uid = next(l for l in st.splitlines() if l.startswith("Uid:")).split()[1:]
        assert set(uid) == {"65534"}, uid  # nobody
        assert "worker process" in open(f"/proc/{w}/cmdline").read()
    # A read-only root; its own folder (on /etc/nginx) is what it can write.
    c = h.inspect("ingress-edge")
    assert c["HostConfig"]["ReadonlyRootfs"] is True
    assert any(m["Destination"] == "/etc/nginx" and m["Source"] == os.path.dirname(ing["ConfigFile"])
               for m in c["Mounts"])


# Fault.steps of `ingress create` and of a configuration change (test_hardening checks that every
# step is walked somewhere).
INGRESS_STEPS = ["ingress.after-record", "ingress.after-config", "ingress.after-container", "ingress.after-rename"]


@pytest.mark.parametrize("step", INGRESS_STEPS[:3])
def test_interrupted_create_is_undone_by_gc(h, shop, step):
    before = ingress_state(h)
    r = h.hutch("ingress", "create", "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80", check=False,
                env={"HUTCH_FAULT": step})
    assert r.rc in (137, -9), f"HUTCH_FAULT={step}: want the self-SIGKILL, got {r}"
    g = h.hutch("gc")
    assert "ingress edge" in g.out and "interrupted; undone" in g.out, g.out
    assert h.hutch("ingress", "ls", "-q").out == ""
    assert h.hutch("container", "exists", "ingress-edge", check=False).rc == 1
    assert ingress_state(h) == before
    # the name and the port are free again
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    assert routed(shop, "/") in ("shop-1", "shop-2")


def test_interrupted_create_is_undone_by_the_next_command(h, shop):
    r = h.hutch("ingress", "create", "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80", check=False,
                env={"HUTCH_FAULT": "ingress.after-container"})
    assert r.rc in (137, -9), r
    assert h.hutch("ingress", "ls", "-q").out == ""  # ls reconciles
    assert h.hutch("container", "exists", "ingress-edge", check=False).rc == 1
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")


def test_a_change_cut_off_before_the_reload_is_applied_by_gc(h, shop):
    ingress(h, "edge", "-p", f"{PORT}:80", "--rule", "/*=shop:80")
    r = h.hutch("ingress", "update", "edge", "--rule", "/*=web:80", check=False, env={"HUTCH_FAULT": "ingress.after-rename"})
    assert r.rc in (137, -9), r
    # In place but not loaded: nginx still routes by the old rules.
    assert [x["Rule"] for x in inspect(h, "edge")["Rules"]] == ["/*=web:80"]
    assert routed(shop, "/") in ("shop-1", "shop-2")
    g = h.hutch("gc")
    assert "ingress edge" in g.out and "reloaded" in g.out, g.out
    assert routed(shop, "/") == "web-1"
    assert h.hutch("gc").out.strip() == "nothing to clean"
