import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchRuntime

/// Ingress rules in `kubectl create ingress`'s grammar, the options' checks, and golden tests of
/// the rendered nginx.conf (the bytes `nginx -t` checks and nginx loads).
final class IngressRuleTests: XCTestCase {
    func rule(_ s: String) throws -> IngressRule { try IngressRule(parsing: s) }

    func testGrammar() throws {
        let r = try rule("shop.example/*=shop:80")
        XCTAssertEqual(r.host, "shop.example")
        XCTAssertEqual(r.path, "/")
        XCTAssertEqual(r.pathType, .prefix)
        XCTAssertEqual(r.backend, IngressBackend(service: "shop", port: 80))
        XCTAssertEqual(r.description, "shop.example/*=shop:80")

        let api = try rule("api.example/v1*=api:8080")
        XCTAssertEqual(api.path, "/v1")
        XCTAssertEqual(api.pathType, .prefix)
        // A trailing slash before the * means the same prefix (Kubernetes ignores it).
        XCTAssertEqual(try rule("api.example/v1/*=api:8080"), api)

        let probe = try rule("/healthz=probe:80")
        XCTAssertNil(probe.host)
        XCTAssertEqual(probe.path, "/healthz")
        XCTAssertEqual(probe.pathType, .exact)
        XCTAssertEqual(probe.description, "/healthz=probe:80")

        let root = try rule("/=web:80")
        XCTAssertEqual(root.path, "/")
        XCTAssertEqual(root.pathType, .exact)

        let wild = try rule("*.example.com/*=web:80")
        XCTAssertEqual(wild.host, "*.example.com")
        XCTAssertTrue(wild.isWildcard)
        // Host names are case-insensitive: kept in lowercase.
        XCTAssertEqual(try rule("Shop.Example/*=shop:80").host, "shop.example")
        XCTAssertEqual(try rule("/a-b_c.d~e/%20:@+!,=svc-1:65535").path, "/a-b_c.d~e/%20:@+!,")
    }

    func testStoredForm() throws {
        for s in ["shop.example/*=shop:80", "/healthz=probe:80", "*.example.com/v1*=api:8080"] {
            let r = try rule(s)
            XCTAssertEqual(IngressRule(stored: r.stored), r, s)
        }
    }

    /// Every malformed rule is one line naming the rule and what is wrong.
    func testBadRules() {
        let cases: [(String, String)] = [
            ("shop.example=shop:80", "no path"),
            ("shop.example/*", "no '=SERVICE:PORT'"),
            ("/x=shop", "has no ':PORT'"),
            ("/x=shop:80:90", "too many ':'"),
            ("/x=shop:http", "\"http\" is not a number"),
            ("/x=shop:", "the port is empty"),
            ("/x=shop:0", "out of range"),
            ("/x=shop:65536", "out of range"),
            ("/x=:80", "service name is empty"),
            ("/x=Shop:80", "\"Shop\" is not a DNS label"),
            ("/x=shop_1:80", "is not a DNS label"),
            ("/x=-shop:80", "is not a DNS label"),
            ("a_b.example/*=shop:80", "the host \"a_b.example\""),
            ("-a.example/*=shop:80", "starts or ends with '-'"),
            ("a..example/*=shop:80", "empty label"),
            ("foo.*.example/*=shop:80", "wildcard"),
            ("*/*=shop:80", "wildcard"),
            ("10.0.0.1/*=shop:80", "IP address"),
            (String(repeating: "a", count: 64) + ".example/*=shop:80", "longer than 63"),
            ("/a b=shop:80", "has characters other than"),
            ("/a;b=shop:80", "has characters other than"),
            ("/a{b}=shop:80", "has characters other than"),
            ("/a$b=shop:80", "has characters other than"),
            ("/a*b=shop:80", "not at its end"),
            ("/a//b=shop:80", "//"),
            ("/x=shop:80,tls", "--tls-cert"),
        ]
        for (spec, why) in cases {
            XCTAssertThrowsError(try rule(spec), spec) { e in
                let m = (e as? HutchError)?.message ?? ""
                XCTAssertTrue(m.hasPrefix("invalid --rule \"\(spec)\": "), "\(spec): \(m)")
                XCTAssertTrue(m.contains(why), "\(spec): \(m) does not say \(why)")
                XCTAssertFalse(m.contains("\n"), m)
            }
        }
    }

    func testDefaultBackend() throws {
        XCTAssertEqual(try IngressBackend(parsing: "web:80"), IngressBackend(service: "web", port: 80))
        for bad in ["web", "web:", "web:x", "Web:80", ":80", "web:80:1", "web:99999"] {
            XCTAssertThrowsError(try IngressBackend(parsing: bad), bad) { e in
                XCTAssertTrue((e as? HutchError)?.message.hasPrefix("invalid --default-backend \"\(bad)\"") ?? false, "\(e)")
            }
        }
    }

    func options(_ rules: [String], publish: [String] = ["8080:80"], tls: Bool = false) throws -> IngressOptions {
        var o = IngressOptions()
        o.name = "edge"
        o.rules = try rules.map { try IngressRule(parsing: $0) }
        o.publish = try publish.map { try PublishSpec.parse($0) }
        if tls { o.tlsCert = "/c.pem"; o.tlsKey = "/k.pem" }
        return o
    }

    func testOptions() throws {
        XCTAssertNoThrow(try options(["/*=web:80"]).validate())
        XCTAssertNoThrow(try options(["/*=web:80"], publish: ["80:80", "443:443"], tls: true).validate())
        let bad: [(IngressOptions, String)] = [
            (try options([]), "at least one --rule"),
            (try options(["/*=web:80"], publish: []), "needs -p/--publish"),
            (try options(["/*=web:80"], publish: ["8080:8080"]), "nginx listens on tcp port 80"),
            (try options(["/*=web:80"], publish: ["8443:443"]), "443 (HTTPS) needs --tls-cert"),
            (try options(["/*=web:80"], publish: ["8080:80/udp"]), "tcp port 80"),
            (try options(["/a=web:80", "/a=api:80"]), "repeats the host and path"),
            (try options(["x.example/a*=web:80", "x.example/a/*=api:80"]), "repeats the host and path"),
        ]
        for (o, why) in bad {
            XCTAssertThrowsError(try o.validate(), why) { e in
                XCTAssertTrue("\(e)".contains(why), "\(e) does not say \(why)")
            }
        }
        var named = try options(["/*=web:80"])
        named.name = "Edge"
        XCTAssertThrowsError(try named.validate())
        var half = try options(["/*=web:80"])
        half.tlsCert = "/c.pem"
        XCTAssertThrowsError(try half.validate()) { XCTAssertTrue("\($0)".contains("--tls-key")) }
        // Exact and Prefix on the same path are two rules.
        XCTAssertNoThrow(try options(["/a=web:80", "/a*=api:80"]).validate())
    }
}

final class NginxConfigTests: XCTestCase {
    func ep(_ s: String) -> UpstreamEndpoint {
        let p = s.split(separator: ":")
        return UpstreamEndpoint(ip: IPv4Address(String(p[0]))!, port: UInt16(p[1])!)
    }

    /// Every feature at once: hosts (exact and wildcard), Exact and Prefix paths, an Exact rule
    /// shadowing a Prefix's `= /v1`, a host's own rule shadowing an any-host one, a backend
    /// without endpoints (503), a default backend, TLS.
    func testGoldenFull() throws {
        let rules = try ["shop.example/*=shop:80", "api.example/v1*=api:8080", "api.example/v1=api-v1:8080", "/healthz=probe:80",
                         "*.apps.example/*=apps:80", "api.example/healthz=api:8080"].map { try IngressRule(parsing: $0) }
        let c = NginxConfig(ingress: "edge", rules: rules, defaultBackend: IngressBackend(service: "web", port: 80),
                            upstreams: [IngressBackend(service: "shop", port: 80): [ep("10.87.0.5:8000"), ep("10.87.0.3:8000")],
                                        IngressBackend(service: "api", port: 8080): [ep("10.87.0.7:9000")],
                                        IngressBackend(service: "apps", port: 80): [ep("10.87.0.9:80")],
                                        IngressBackend(service: "web", port: 80): [ep("10.87.0.2:80")]],
                            tls: true, user: "nobody", group: "nogroup")
        XCTAssertEqual(c.rendered, #"""
        # Generated by hutch for ingress edge: do not edit (hutch ingress update rewrites it).
        daemon off;
        master_process on;
        worker_processes auto;
        user nobody nogroup;
        pid nginx.pid;
        error_log stderr notice;
        worker_shutdown_timeout 30s;

        events {
            worker_connections 1024;
        }

        http {
            log_format hutch '$remote_addr - [$time_local] "$request" $status $body_bytes_sent '
                             '"$http_user_agent" host=$host upstream=$upstream_addr rt=$request_time';
            access_log /dev/stdout hutch;
            server_tokens off;
            default_type application/octet-stream;
            sendfile on;
            tcp_nodelay on;
            keepalive_timeout 75s;
            server_names_hash_bucket_size 256;
            client_body_temp_path tmp/body;
            proxy_temp_path tmp/proxy;
            fastcgi_temp_path tmp/fastcgi;
            uwsgi_temp_path tmp/uwsgi;
            scgi_temp_path tmp/scgi;

            # The client's Host header passed through (HTTP/1.0 clients without one: the server name).
            map $http_host $hutch_host {
                "" $host;
                default $http_host;
            }
            # Keep-alive to the upstreams, and WebSocket upgrades passed through.
            map $http_upgrade $hutch_connection {
                "" "";
                default upgrade;
            }

            proxy_http_version 1.1;
            proxy_set_header Host $hutch_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $hutch_connection;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_redirect off;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
            ssl_certificate tls.crt;
            ssl_certificate_key tls.key;
            ssl_protocols TLSv1.2 TLSv1.3;

            # api:8080
            upstream svc-api-8080 {
                server 10.87.0.7:9000 max_fails=0;
                keepalive 32;
            }

            # apps:80
            upstream svc-apps-80 {
                server 10.87.0.9:80 max_fails=0;
                keepalive 32;
            }

            # shop:80
            upstream svc-shop-80 {
                server 10.87.0.3:8000 max_fails=0;
                server 10.87.0.5:8000 max_fails=0;
                keepalive 32;
            }

            # web:80
            upstream svc-web-80 {
                server 10.87.0.2:80 max_fails=0;
                keepalive 32;
            }

            server {
                listen 80 default_server;
                listen 443 ssl default_server;
                server_name _;

                location = /healthz {
                    # probe:80: no endpoints
                    return 503;
                }

                location / {
                    proxy_pass http://svc-web-80;
                }
            }

            server {
                listen 80;
                listen 443 ssl;
                server_name "~^[^.]+\.apps\.example$";

                location = /healthz {
                    # probe:80: no endpoints
                    return 503;
                }

                location / {
                    proxy_pass http://svc-apps-80;
                }
            }

            server {
                listen 80;
                listen 443 ssl;
                server_name api.example;

                location = /healthz {
                    proxy_pass http://svc-api-8080;
                }

                location /v1/ {
                    proxy_pass http://svc-api-8080;
                }

                location = /v1 {
                    # api-v1:8080: no endpoints
                    return 503;
                }

                location / {
                    proxy_pass http://svc-web-80;
                }
            }

            server {
                listen 80;
                listen 443 ssl;
                server_name shop.example;

                location = /healthz {
                    # probe:80: no endpoints
                    return 503;
                }

                location / {
                    proxy_pass http://svc-shop-80;
                }
            }
        }
        """# + "\n")
    }

    /// Nothing to route: the default server answers 404.
    func testGoldenEmpty() {
        let c = NginxConfig(ingress: "empty", rules: [], defaultBackend: nil, upstreams: [:], tls: false, user: "nobody", group: "nogroup")
        XCTAssertEqual(c.rendered, #"""
        # Generated by hutch for ingress empty: do not edit (hutch ingress update rewrites it).
        daemon off;
        master_process on;
        worker_processes auto;
        user nobody nogroup;
        pid nginx.pid;
        error_log stderr notice;
        worker_shutdown_timeout 30s;

        events {
            worker_connections 1024;
        }

        http {
            log_format hutch '$remote_addr - [$time_local] "$request" $status $body_bytes_sent '
                             '"$http_user_agent" host=$host upstream=$upstream_addr rt=$request_time';
            access_log /dev/stdout hutch;
            server_tokens off;
            default_type application/octet-stream;
            sendfile on;
            tcp_nodelay on;
            keepalive_timeout 75s;
            server_names_hash_bucket_size 256;
            client_body_temp_path tmp/body;
            proxy_temp_path tmp/proxy;
            fastcgi_temp_path tmp/fastcgi;
            uwsgi_temp_path tmp/uwsgi;
            scgi_temp_path tmp/scgi;

            # The client's Host header passed through (HTTP/1.0 clients without one: the server name).
            map $http_host $hutch_host {
                "" $host;
                default $http_host;
            }
            # Keep-alive to the upstreams, and WebSocket upgrades passed through.
            map $http_upgrade $hutch_connection {
                "" "";
                default upgrade;
            }

            proxy_http_version 1.1;
            proxy_set_header Host $hutch_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $hutch_connection;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_redirect off;
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;

            server {
                listen 80 default_server;
                server_name _;

                location / {
                    return 404;
                }
            }
        }
        """# + "\n")
    }

    /// Locations: longest path first; a Prefix `/p` is `= /p` plus `/p/` (whole path elements).
    func testLocations() throws {
        let own = try ["h/a*=x:1", "h/a/b=y:1"].map { try IngressRule(parsing: $0) }
        let any = try ["/a=z:1", "/*=w:1"].map { try IngressRule(parsing: $0) }
        let l = NginxConfig.locations(own: own, anyHost: any, defaultBackend: nil)
        XCTAssertEqual(l.map(\.match), ["= /a/b", "/a/", "= /a", "/"])
        XCTAssertEqual(l.map { $0.backend?.service }, ["y", "x", "x", "w"])
    }

    /// Certificates per host (SNI), no default one: the default server refuses other names'
    /// handshakes; a host without a certificate of its own serves HTTP only.
    func testPerHostCertificates() throws {
        let rules = try ["a.example/*=a:80", "b.example/*=b:80", "c.example/*=c:80"].map { try IngressRule(parsing: $0) }
        let c = NginxConfig(ingress: "edge", rules: rules, defaultBackend: nil, upstreams: [:], tls: false,
                            tlsHosts: ["b.example", "*.d.example"], user: "nobody", group: "nogroup")
        let servers = c.rendered.components(separatedBy: "\n    server {\n").dropFirst().map { String($0.prefix(while: { $0 != "}" })) }
        XCTAssertEqual(servers, [
            "        listen 80 default_server;\n        listen 443 ssl default_server;\n        server_name _;\n        ssl_reject_handshake on;\n\n        location / {\n            return 404;\n        ",
            "        listen 80;\n        listen 443 ssl;\n        server_name \"~^[^.]+\\.d\\.example$\";\n        ssl_certificate tls-1.crt;\n        ssl_certificate_key tls-1.key;\n\n        location / {\n            return 404;\n        ",
            "        listen 80;\n        server_name a.example;\n\n        location / {\n            # a:80: no endpoints\n            return 503;\n        ",
            "        listen 80;\n        listen 443 ssl;\n        server_name b.example;\n        ssl_certificate tls-0.crt;\n        ssl_certificate_key tls-0.key;\n\n        location / {\n            # b:80: no endpoints\n            return 503;\n        ",
            "        listen 80;\n        server_name c.example;\n\n        location / {\n            # c:80: no endpoints\n            return 503;\n        ",
        ])
        XCTAssertTrue(c.rendered.contains("    ssl_protocols TLSv1.2 TLSv1.3;\n"))
        XCTAssertFalse(c.rendered.contains("ssl_certificate tls.crt"))
    }

    func testTLSFlag() throws {
        XCTAssertEqual(try IngressTLS(parsing: "Shop.example=/c.pem,/k.pem"), IngressTLS(host: "shop.example", cert: "/c.pem", key: "/k.pem"))
        XCTAssertEqual(try IngressTLS(parsing: "*.apps.example=c.pem,k.pem").host, "*.apps.example")
        for (bad, why) in [("shop.example", "no '='"), ("=c,k", "host is empty"), ("shop.example=c.pem", "a certificate and a key"),
                           ("shop.example=c.pem,", "a certificate and a key"), ("bad_host=c,k", "bad_host")] {
            XCTAssertThrowsError(try IngressTLS(parsing: bad), bad) { e in
                let m = "\(e)"
                XCTAssertTrue(m.hasPrefix("invalid --tls \"\(bad)\": ") && m.contains(why), m)
            }
        }
        var o = IngressOptions()
        o.name = "edge"
        o.rules = [try IngressRule(parsing: "/*=web:80")]
        o.publish = [try PublishSpec.parse("8443:443")]
        o.tlsHosts = [try IngressTLS(parsing: "a.example=c,k")]
        XCTAssertNoThrow(try o.validate())  // 443 with a host's certificate only
        o.tlsHosts.append(try IngressTLS(parsing: "A.example=d,e"))
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("two certificates")) }
    }

    /// A later generation of TLS files (ingress update) is named in every ssl_certificate line;
    /// generation 0 keeps create's names.
    func testTLSGenerations() throws {
        let rules = try ["a.example/*=a:80", "b.example/*=b:80"].map { try IngressRule(parsing: $0) }
        var c = NginxConfig(ingress: "edge", rules: rules, defaultBackend: nil, upstreams: [:], tls: true,
                            tlsHosts: ["b.example"], user: "nobody", group: "nogroup")
        XCTAssertTrue(c.rendered.contains("    ssl_certificate tls.crt;\n    ssl_certificate_key tls.key;\n"))
        XCTAssertTrue(c.rendered.contains("        ssl_certificate tls-0.crt;\n        ssl_certificate_key tls-0.key;\n"))
        c.tlsGeneration = 3
        let text = c.rendered
        XCTAssertTrue(text.contains("    ssl_certificate tls.g3.crt;\n    ssl_certificate_key tls.g3.key;\n"))
        XCTAssertTrue(text.contains("        ssl_certificate tls-0.g3.crt;\n        ssl_certificate_key tls-0.g3.key;\n"))
        XCTAssertFalse(text.contains("tls.crt") || text.contains("tls-0.crt"))
        XCTAssertEqual(NginxConfig.tlsFiles(tls: true, hosts: 1, generation: 2), ["tls.g2.crt", "tls.g2.key", "tls-0.g2.crt", "tls-0.g2.key"])
        XCTAssertEqual(NginxConfig.tlsFiles(tls: false, hosts: 0, generation: 0), [])
        XCTAssertTrue(NginxConfig.isTLSFile("tls-1.g4.key"))
        XCTAssertFalse(NginxConfig.isTLSFile("nginx.conf") || NginxConfig.isTLSFile("tls"))
    }

    /// --service-upstream: the ClusterIP once per try, no upstream keep-alive.
    func testServiceUpstream() throws {
        let rules = [try IngressRule(parsing: "/*=web:80")]
        let vip = UpstreamEndpoint(ip: IPv4Address("10.96.0.10")!, port: 80)
        var c = NginxConfig(ingress: "edge", rules: rules, defaultBackend: nil, upstreams: [IngressBackend(service: "web", port: 80): [vip]],
                            tls: false, user: "nobody", group: "nogroup")
        XCTAssertTrue(c.rendered.contains("        server 10.96.0.10:80 max_fails=0;\n        keepalive 32;\n"))
        c.serviceUpstream = true
        XCTAssertTrue(c.rendered.contains("""
                # web:80: the service's ClusterIP, once per try
                upstream svc-web-80 {
                    server 10.96.0.10:80 max_fails=0;
                    server 10.96.0.10:80 max_fails=0;
                    server 10.96.0.10:80 max_fails=0;
                }

            """), c.rendered)
        XCTAssertFalse(c.rendered.contains("keepalive 32;"))
        XCTAssertTrue(c.rendered.contains("proxy_next_upstream_tries 3;"))
    }

    func testUpdateOptions() throws {
        var u = IngressUpdate()
        XCTAssertThrowsError(try u.validate()) { XCTAssertTrue("\($0)".contains("--tls-cert with --tls-key")) }
        u.tlsCert = "/c.pem"
        XCTAssertThrowsError(try u.validate()) { XCTAssertTrue("\($0)".contains("--tls-key")) }
        u.tlsKey = "/k.pem"
        XCTAssertNoThrow(try u.validate())
        XCTAssertTrue(u.changesTLS)
        var hosts = IngressUpdate()
        hosts.tlsHosts = [try IngressTLS(parsing: "a.example=c,k")]
        XCTAssertNoThrow(try hosts.validate())
        hosts.tlsHosts.append(try IngressTLS(parsing: "a.example=d,e"))
        XCTAssertThrowsError(try hosts.validate()) { XCTAssertTrue("\($0)".contains("two certificates")) }
        var rulesOnly = IngressUpdate()
        rulesOnly.rules = [try IngressRule(parsing: "/*=web:80")]
        XCTAssertFalse(rulesOnly.changesTLS)
    }

    func testWildcardServerName() {
        XCTAssertEqual(NginxConfig.serverName("*.example.com"), #""~^[^.]+\.example\.com$""#)
        XCTAssertEqual(NginxConfig.serverName("example.com"), "example.com")
    }
}

final class IngressStoreTests: XCTestCase {
    func testRecordRoundTripAndLookups() throws {
        var template = Array("/tmp/hutch-unit-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try XCTUnwrap(p))
        defer { Sys.removeTree(root) }
        let store = try Store(root: root)
        let rules = try ["shop.example/*=shop:80", "*.apps.example/v1=api:8080", "/healthz=probe:80"].map { try IngressRule(parsing: $0) }
        let id = Sys.randomID()
        let r = IngressRecord(name: "edge", id: id, container: "", rules: rules, defaultBackend: IngressBackend(service: "web", port: 80),
                              tls: true, createdAt: "2026-12-07T00:00:00Z", ownerPid: 42, ownerStart: 7)
        try store.write { try r.insert($0) }
        XCTAssertEqual(try store.read { try IngressRecord.fetchOne($0, key: "edge") }, r)
        XCTAssertEqual(try store.read { try IngressRecord.find(String(id.prefix(6)), in: $0) }, r)
        XCTAssertNil(try store.read { try IngressRecord.find("nope", in: $0) })
        XCTAssertEqual(r.backends.map(\.description), ["api:8080", "probe:80", "shop:80", "web:80"])
        var next = r
        next.tlsGeneration = 2
        next.tlsHosts = ["a.example"]
        try store.write { try next.update($0) }
        XCTAssertEqual(try store.read { try IngressRecord.fetchOne($0, key: "edge") }, next)
    }
}
