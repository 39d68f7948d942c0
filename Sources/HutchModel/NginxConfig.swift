import HutchOS

/// An upstream server: an endpoint's address and the target port.
public struct UpstreamEndpoint: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var ip: IPv4Address
    public var port: UInt16
    public init(ip: IPv4Address, port: UInt16) { self.ip = ip; self.port = port }
    public var description: String { "\(ip):\(port)" }
    public static func < (a: Self, b: Self) -> Bool { (a.ip, a.port) < (b.ip, b.port) }
}

/// The nginx.conf of an ingress: a pure function of its rules, the resolved endpoints of every
/// backend, the default backend, TLS and the worker user (golden-tested on the bytes).
///
/// The ideas are ingress-nginx's: one upstream block per service port listing the endpoints
/// (nginx balances round-robin and, on a connect error or timeout, retries the next endpoint;
/// `max_fails=0`, ingress-nginx's default: an endpoint is never taken out for a while after one
/// failure, which could leave a just-started one out while the others go);
/// one server block per host (exact names, `*.x` wildcards as a one-label regex, as Kubernetes
/// defines them), plus a default server for any host; locations `= /path` for Exact paths and
/// `= /p` + `/p/` for a Prefix `/p` (Kubernetes matches whole path elements); what matches no
/// rule goes to the default backend, or gets a 404. Every relative path is under nginx's prefix
/// (`-p`): the ingress's own folder.
public struct NginxConfig: Equatable, Sendable {
    public var ingress: String
    public var rules: [IngressRule]
    public var defaultBackend: IngressBackend?
    /// The endpoints of every backend; a backend missing here or with none answers 503.
    public var upstreams: [IngressBackend: [UpstreamEndpoint]]
    /// A default certificate for HTTPS on `httpsPort`: `tls.crt` and `tls.key` (in the prefix).
    public var tls: Bool
    /// Hosts with a certificate of their own, `tls-N.crt` and `tls-N.key` (N: the index here),
    /// chosen by SNI. Without a default certificate, a handshake for any other name is refused.
    public var tlsHosts: [String] = []
    /// The generation of the TLS files the configuration names.
    public var tlsGeneration = 0
    /// The upstreams are services' ClusterIPs (`--service-upstream`): a new connection for each
    /// request, so that the kernel's service balancing picks an endpoint per request (a kept
    /// connection would stay with the endpoint it was made to, even once that one is gone).
    public var serviceUpstream = false
    public var httpPort: UInt16 = IngressOptions.httpPort
    public var httpsPort: UInt16 = IngressOptions.httpsPort
    /// The unprivileged user and group of the worker processes.
    public var user: String
    public var group: String

    public init(ingress: String, rules: [IngressRule], defaultBackend: IngressBackend?,
                upstreams: [IngressBackend: [UpstreamEndpoint]], tls: Bool, tlsHosts: [String] = [],
                user: String, group: String) {
        self.ingress = ingress; self.rules = rules; self.defaultBackend = defaultBackend
        self.upstreams = upstreams; self.tls = tls; self.tlsHosts = tlsHosts; self.user = user; self.group = group
    }

    /// How many upstream servers nginx tries for one request (the next on a connect error or timeout).
    public static let upstreamTries = 3

    /// The files and folders the configuration names, relative to the prefix.
    public static let tempDirs = ["tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"]
    /// TLS files: the default certificate and key, and host i's. Each `ingress update` that
    /// changes certificates writes a new generation of them under new names, so that the files
    /// the configuration in place names stay as they are until the new configuration is in place
    /// (generation 0: the files `ingress create` writes).
    public static func certFile(_ generation: Int = 0) -> String { "tls\(suffix(generation)).crt" }
    public static func keyFile(_ generation: Int = 0) -> String { "tls\(suffix(generation)).key" }
    public static func hostCertFile(_ i: Int, _ generation: Int = 0) -> String { "tls-\(i)\(suffix(generation)).crt" }
    public static func hostKeyFile(_ i: Int, _ generation: Int = 0) -> String { "tls-\(i)\(suffix(generation)).key" }
    static func suffix(_ generation: Int) -> String { generation == 0 ? "" : ".g\(generation)" }
    /// Every TLS file of a generation, for `hosts` certificates of their own.
    public static func tlsFiles(tls: Bool, hosts: Int, generation: Int) -> [String] {
        (tls ? [certFile(generation), keyFile(generation)] : [])
            + (0..<hosts).flatMap { [hostCertFile($0, generation), hostKeyFile($0, generation)] }
    }
    /// Whether a file name of the folder is a TLS file of some generation.
    public static func isTLSFile(_ name: String) -> Bool {
        name.hasPrefix("tls") && (name.hasSuffix(".crt") || name.hasSuffix(".key"))
    }

    /// HTTPS is served: a default certificate, or one for a host at least.
    var https: Bool { tls || !tlsHosts.isEmpty }

    /// One location: its nginx match (`= /a`, `/a/`, `/`) and where it goes.
    struct Location: Equatable {
        var match: String
        var backend: IngressBackend?
        /// The path the match is on (sorting: longest first).
        var path: String
    }

    /// One server block: `server_name` (nil: the default server) and its locations.
    struct Server: Equatable {
        var name: String?
        var locations: [Location]
    }

    /// A host's locations: its own rules first (Exact before Prefix), then the any-host rules
    /// for what the host's own do not already take; a catch-all `/` for the default backend.
    static func locations(own: [IngressRule], anyHost: [IngressRule], defaultBackend: IngressBackend?) -> [Location] {
        var out: [Location] = []
        var taken = Set<String>()
        func add(_ match: String, _ path: String, _ b: IngressBackend?) {
            guard taken.insert(match).inserted else { return }
            out.append(Location(match: match, backend: b, path: path))
        }
        for group in [own, anyHost] {
            for r in group where r.pathType == .exact { add("= \(r.path)", r.path, r.backend) }
            for r in group where r.pathType == .prefix {
                if r.path == "/" { add("/", "/", r.backend); continue }
                add("= \(r.path)", r.path, r.backend)
                add("\(r.path)/", r.path + "/", r.backend)
            }
        }
        add("/", "/", defaultBackend)
        return out.sorted { ($0.path.utf8.count, $1.match) > ($1.path.utf8.count, $0.match) }
    }

    var servers: [Server] {
        let anyHost = rules.filter { $0.host == nil }
        var hosts: [String] = []
        for r in rules { if let h = r.host, !hosts.contains(h) { hosts.append(h) } }
        for h in tlsHosts where !hosts.contains(h) { hosts.append(h) }
        hosts.sort()
        var out = [Server(name: nil, locations: Self.locations(own: [], anyHost: anyHost, defaultBackend: defaultBackend))]
        for h in hosts {
            out.append(Server(name: h, locations: Self.locations(own: rules.filter { $0.host == h }, anyHost: anyHost,
                                                                 defaultBackend: defaultBackend)))
        }
        return out
    }

    /// `server_name`: the host, or for `*.example.com` a regex matching exactly one more label
    /// (nginx's own `*.example.com` would match any number).
    static func serverName(_ host: String) -> String {
        guard host.hasPrefix("*.") else { return host }
        let rest = host.dropFirst(2).replacingAll(".", with: "\\.")
        return "\"~^[^.]+\\.\(rest)$\""
    }

    public var rendered: String {
        var o = """
        # Generated by hutch for ingress \(ingress): do not edit (hutch ingress update rewrites it).
        daemon off;
        master_process on;
        worker_processes auto;
        user \(user) \(group);
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
            proxy_next_upstream_tries \(Self.upstreamTries);

        """
        if tls {
            o += """
                ssl_certificate \(Self.certFile(tlsGeneration));
                ssl_certificate_key \(Self.keyFile(tlsGeneration));

            """
        }
        if https { o += "    ssl_protocols TLSv1.2 TLSv1.3;\n" }
        var backends = Set(rules.map(\.backend))
        if let d = defaultBackend { backends.insert(d) }
        for b in backends.sorted() {
            guard let eps = upstreams[b], !eps.isEmpty else { continue }
            if serviceUpstream {
                // The ClusterIP once per try: a retry (a refused connection: an endpoint that is
                // gone or not listening yet) is a new connection, which the kernel balances anew.
                o += "\n    # \(b): the service's ClusterIP, once per try\n    upstream \(b.upstreamName) {\n"
                for e in eps.sorted() {
                    for _ in 0..<Self.upstreamTries { o += "        server \(e) max_fails=0;\n" }
                }
                o += "    }\n"
                continue
            }
            o += "\n    # \(b)\n    upstream \(b.upstreamName) {\n"
            for e in eps.sorted() { o += "        server \(e) max_fails=0;\n" }
            o += "        keepalive 32;\n    }\n"
        }
        for s in servers {
            o += "\n    server {\n"
            let flags = s.name == nil ? " default_server" : ""
            let own = s.name.flatMap { tlsHosts.firstIndex(of: $0) }
            o += "        listen \(httpPort)\(flags);\n"
            if tls || own != nil || (s.name == nil && https) { o += "        listen \(httpsPort) ssl\(flags);\n" }
            o += "        server_name \(s.name.map(Self.serverName) ?? "_");\n"
            if let i = own {
                o += "        ssl_certificate \(Self.hostCertFile(i, tlsGeneration));\n        ssl_certificate_key \(Self.hostKeyFile(i, tlsGeneration));\n"
            } else if s.name == nil && https && !tls {
                o += "        ssl_reject_handshake on;\n"
            }
            for l in s.locations {
                o += "\n        location \(l.match) {\n"
                if let b = l.backend {
                    if let eps = upstreams[b], !eps.isEmpty {
                        o += "            proxy_pass http://\(b.upstreamName);\n"
                    } else {
                        o += "            # \(b): no endpoints\n            return 503;\n"
                    }
                } else {
                    o += "            return 404;\n"
                }
                o += "        }\n"
            }
            o += "    }\n"
        }
        o += "}\n"
        return o
    }
}

extension Substring {
    func replacingAll(_ a: Character, with b: String) -> String {
        var s = ""
        for c in self { if c == a { s += b } else { s.append(c) } }
        return s
    }
}
