import HutchOS

/// `SERVICE:PORT`: a Service and one of its ports (the service's port, not the target port), the
/// backend of an ingress rule or of `--default-backend`.
public struct IngressBackend: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var service: String
    public var port: UInt16

    public init(service: String, port: UInt16) { self.service = service; self.port = port }

    /// Parses `SERVICE:PORT`; `flag` names the option in the error line.
    public init(parsing spec: String, flag: String = "--default-backend") throws {
        func bad(_ why: String) -> HutchError {
            HutchError("invalid \(flag) \"\(spec)\": \(why) (use SERVICE:PORT, e.g. web:80)")
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw bad(parts.count < 2 ? "no ':PORT'" : "too many ':'") }
        try self.init(service: String(parts[0]), portText: parts[1], bad: bad)
    }

    init(service: String, portText: Substring, bad: (String) -> HutchError) throws {
        guard !service.isEmpty else { throw bad("the service name is empty") }
        guard Self.isServiceName(service) else {
            throw bad("the service name \"\(service)\" is not a DNS label (lowercase letters, digits and '-', at most 63)")
        }
        guard !portText.isEmpty else { throw bad("the port is empty") }
        guard portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw bad("the port \"\(portText)\" is not a number (named ports are not supported)")
        }
        guard portText.count <= 5, let n = Int(portText), n >= 1, n <= 65535 else {
            throw bad("the port \(portText) is out of range (1-65535)")
        }
        self.service = service
        self.port = UInt16(n)
    }

    public var description: String { "\(service):\(port)" }

    /// The nginx upstream block of this backend: `svc-NAME-PORT` (names and ports are validated,
    /// so the name needs no quoting).
    public var upstreamName: String { "svc-\(service)-\(port)" }

    public static func < (a: Self, b: Self) -> Bool { (a.service, a.port) < (b.service, b.port) }

    /// An RFC 1123 label as Kubernetes names Services: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
    public static func isServiceName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count <= 63 else { return false }
        func ok(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
        return ok(u.first!) && ok(u.last!) && u.allSatisfy { ok($0) || $0 == 45 }
    }
}

/// One ingress rule, in `kubectl create ingress --rule`'s grammar: `[HOST]/PATH=SERVICE:PORT`.
/// A path ending in `*` is a Prefix match (on whole path elements, as Kubernetes defines it:
/// `/v1*` matches `/v1` and `/v1/users`, not `/v1x`), any other path an Exact one. No host: any
/// host. `*.example.com` matches exactly one more DNS label (`a.example.com`, not
/// `a.b.example.com` nor `example.com`).
public struct IngressRule: Hashable, Sendable, CustomStringConvertible {
    public enum PathType: String, Sendable { case exact = "Exact", prefix = "Prefix" }

    /// nil: any host. Lowercase.
    public var host: String?
    /// Starts with `/`; for a Prefix, without the `*` and without a trailing `/` (except `/` itself).
    public var path: String
    public var pathType: PathType
    public var backend: IngressBackend

    public init(host: String?, path: String, pathType: PathType, backend: IngressBackend) {
        self.host = host; self.path = path; self.pathType = pathType; self.backend = backend
    }

    /// Parses one `--rule`; any problem is one line naming the rule and what is wrong.
    public init(parsing spec: String) throws {
        func bad(_ why: String) -> HutchError {
            HutchError("invalid --rule \"\(spec)\": \(why) (use [HOST]/PATH=SERVICE:PORT, e.g. shop.example/*=shop:80)")
        }
        guard let eq = spec.lastIndex(of: "=") else { throw bad("no '=SERVICE:PORT'") }
        let left = spec[..<eq], right = spec[spec.index(after: eq)...]
        if right.contains(",") { throw bad("options after the backend (such as ,tls) are not supported; use --tls-cert and --tls-key, or --tls HOST=CERT,KEY") }
        let parts = right.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw bad(parts.count < 2 ? "the backend \"\(right)\" has no ':PORT'" : "the backend \"\(right)\" has too many ':'") }
        backend = try IngressBackend(service: String(parts[0]), portText: parts[1], bad: bad)

        guard let slash = left.firstIndex(of: "/") else { throw bad("no path: a rule's path starts with '/' (e.g. /* for everything)") }
        let hostText = String(left[..<slash])
        var p = String(left[slash...])
        if hostText.isEmpty {
            host = nil
        } else {
            let h = hostText.lowercased()
            if let why = Self.hostProblem(h) { throw bad("the host \"\(hostText)\" \(why)") }
            host = h
        }
        if p.hasSuffix("*") {
            p.removeLast()
            pathType = .prefix
            while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        } else {
            pathType = .exact
        }
        if let why = Self.pathProblem(p) { throw bad("the path \"\(left[slash...])\" \(why)") }
        path = p
    }

    /// `shop.example/*=shop:80`, as given (normalised).
    public var description: String {
        let star = pathType == .prefix ? "*" : ""
        return "\(host ?? "")\(path)\(star)=\(backend)"
    }

    /// Why `h` (lowercase) is not a Kubernetes ingress host, or nil: a DNS-1123 subdomain (labels
    /// of `[a-z0-9-]`, not starting or ending with '-', at most 63 each, 253 in all), optionally
    /// with a leading `*.` wildcard label; not an IP address.
    static func hostProblem(_ h: String) -> String? {
        var name = Substring(h)
        if name.hasPrefix("*.") { name = name.dropFirst(2) }
        if name.contains("*") { return "is not a valid host: a wildcard is only allowed as the whole first label (*.example.com)" }
        guard !name.isEmpty, h.utf8.count <= 253 else { return "is not a valid DNS name (at most 253 characters)" }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for l in labels {
            let u = Array(l.utf8)
            guard !u.isEmpty else { return "is not a valid DNS name: it has an empty label" }
            guard u.count <= 63 else { return "is not a valid DNS name: a label is longer than 63 characters" }
            func alnum(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 48 && c <= 57) }
            guard u.allSatisfy({ alnum($0) || $0 == 45 }) else {
                return "is not a valid DNS name: only letters, digits, '-' and '.' are allowed"
            }
            guard alnum(u.first!), alnum(u.last!) else { return "is not a valid DNS name: a label starts or ends with '-'" }
        }
        if IPv4Address(String(name)) != nil { return "is an IP address: a rule's host must be a DNS name" }
        return nil
    }

    /// Characters a path may hold: RFC 3986 unreserved, '/', '%' and a few sub-delims that mean
    /// nothing to nginx's configuration syntax (no quotes, ';', '{', '}', '$', '#', spaces).
    static func pathProblem(_ p: String) -> String? {
        guard p.hasPrefix("/") else { return "does not start with '/'" }
        guard p.utf8.count <= 1024 else { return "is longer than 1024 characters" }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%:@+!,".utf8)
        if p.contains("*") { return "has a '*' that is not at its end (only a trailing * means a prefix)" }
        guard p.utf8.allSatisfy(allowed.contains) else {
            return "has characters other than letters, digits and - . _ ~ / % : @ + ! ,"
        }
        if p.contains("//") { return "has an empty path element ('//')" }
        return nil
    }

    /// Wildcard host (`*.example.com`)?
    public var isWildcard: Bool { host?.hasPrefix("*.") ?? false }

    /// As stored: `HOST PATHTYPE PATH SERVICE PORT` (space-separated; no field holds a space).
    public var stored: String { "\(host ?? "*") \(pathType.rawValue) \(path) \(backend.service) \(backend.port)" }
    public init?(stored s: String) {
        let f = s.split(separator: " ").map(String.init)
        guard f.count == 5, let t = PathType(rawValue: f[1]), let port = UInt16(f[4]) else { return nil }
        self.init(host: f[0] == "*" ? nil : f[0], path: f[2], pathType: t, backend: IngressBackend(service: f[3], port: port))
    }
}

/// `--tls HOST=CERT,KEY`: a certificate and key (PEM files) for one host (or `*.x` wildcard),
/// chosen by SNI; hosts without one use `--tls-cert/--tls-key`, if given.
public struct IngressTLS: Equatable, Sendable {
    public var host: String
    public var cert: String
    public var key: String

    public init(host: String, cert: String, key: String) { self.host = host; self.cert = cert; self.key = key }

    /// The TLS options of `ingress create` and `update` together: `--tls-cert` with `--tls-key`,
    /// and one `--tls` per host.
    static func check(cert: String?, key: String?, hosts: [IngressTLS]) throws {
        if (cert == nil) != (key == nil) {
            throw HutchError("--tls-cert and --tls-key go together: give both (PEM files) or neither")
        }
        var seen = Set<String>()
        for t in hosts where !seen.insert(t.host).inserted {
            throw HutchError("invalid --tls \"\(t.host)=...\": the host \(t.host) has two certificates; give one")
        }
    }

    public init(parsing spec: String) throws {
        func bad(_ why: String) -> HutchError { HutchError("invalid --tls \"\(spec)\": \(why) (use HOST=CERT,KEY, e.g. shop.example=shop.pem,shop.key)") }
        guard let eq = spec.firstIndex(of: "=") else { throw bad("no '='") }
        let h = spec[..<eq].lowercased()
        guard !h.isEmpty else { throw bad("the host is empty") }
        if let why = IngressRule.hostProblem(h) { throw bad("the host \"\(spec[..<eq])\" \(why)") }
        let files = spec[spec.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false)
        guard files.count == 2, !files[0].isEmpty, !files[1].isEmpty else { throw bad("give a certificate and a key file, separated by ','") }
        self.init(host: h, cert: String(files[0]), key: String(files[1]))
    }
}

/// Checks a rule list as a whole: no two rules with the same host, path and path type.
public enum IngressRules {
    public static func checkDistinct(_ rules: [IngressRule]) throws {
        var seen: [String: IngressRule] = [:]
        for r in rules {
            let key = "\(r.host ?? "") \(r.pathType.rawValue) \(r.path)"
            if let first = seen[key] {
                throw HutchError("invalid --rule \"\(r)\": it repeats the host and path of --rule \"\(first)\"; give each host and path one backend")
            }
            seen[key] = r
        }
    }
}

/// What `hutch ingress create` was asked to do.
public struct IngressOptions: CheckedOptions {
    public var name = ""
    public var publish: [PublishSpec.Parsed] = []
    public var rules: [IngressRule] = []
    public var defaultBackend: IngressBackend?
    public var tlsCert: String?
    public var tlsKey: String?
    /// `--tls HOST=CERT,KEY`, per host.
    public var tlsHosts: [IngressTLS] = []
    /// `--network`: the bridge network nginx joins (networks are isolated from each other: the
    /// one its services' endpoints are on).
    public var network = "bridge"
    /// `--service-upstream` (ingress-nginx's annotation): nginx proxies to each service's
    /// ClusterIP instead of its endpoints, so a change of endpoints needs no reload.
    public var serviceUpstream = false
    public init() {}

    /// The container ports nginx listens on.
    public static let httpPort: UInt16 = 80
    public static let httpsPort: UInt16 = 443

    /// HTTPS on port 443: a default certificate, or one for a host at least.
    public var tls: Bool { tlsCert != nil || !tlsHosts.isEmpty }

    public func validate() throws {
        guard IngressBackend.isServiceName(name) else {
            throw HutchError("invalid ingress name \"\(name)\": use lowercase letters, digits and '-' (a DNS label, at most 63 characters)")
        }
        guard Validate.isName(network) else { throw HutchError("invalid --network \"\(network)\": give the name of a bridge network") }
        guard !rules.isEmpty || defaultBackend != nil else {
            throw HutchError("an ingress needs at least one --rule [HOST]/PATH=SERVICE:PORT or a --default-backend SERVICE:PORT")
        }
        try IngressRules.checkDistinct(rules)
        try IngressTLS.check(cert: tlsCert, key: tlsKey, hosts: tlsHosts)
        guard !publish.isEmpty else {
            throw HutchError("an ingress needs -p/--publish: e.g. -p 80:80" + (tls ? " -p 443:443" : "") + " (nginx listens on the container's port 80" + (tls ? " and 443)" : ")"))
        }
        for spec in publish {
            for m in spec.mappings {
                let ok = m.containerPort == Self.httpPort || (tls && m.containerPort == Self.httpsPort)
                guard ok, m.proto == .tcp else {
                    throw HutchError("invalid --publish \(m.containerPort)/\(m.proto.rawValue) for an ingress: nginx listens on tcp port 80 (HTTP)"
                                     + (tls ? " and 443 (HTTPS)" : "; port 443 (HTTPS) needs --tls-cert and --tls-key (or --tls HOST=CERT,KEY)")
                                     + ", e.g. -p 8080:80")
                }
            }
        }
    }
}

/// What `hutch ingress update` was asked to change.
public struct IngressUpdate: CheckedOptions {
    public var rules: [IngressRule] = []
    public var defaultBackend: IngressBackend?
    /// `--no-default-backend`: drop the default backend (404 for what matches no rule).
    public var clearDefaultBackend = false
    /// `--tls-cert/--tls-key`: a new default certificate.
    public var tlsCert: String?
    public var tlsKey: String?
    /// `--tls HOST=CERT,KEY`: replaces every per-host certificate (as `--rule` every rule).
    public var tlsHosts: [IngressTLS] = []
    public init() {}

    /// Whether certificates change.
    public var changesTLS: Bool { tlsCert != nil || !tlsHosts.isEmpty }

    public func validate() throws {
        if clearDefaultBackend && defaultBackend != nil {
            throw HutchError("--default-backend and --no-default-backend cannot go together")
        }
        guard !rules.isEmpty || defaultBackend != nil || clearDefaultBackend || changesTLS || tlsKey != nil else {
            throw HutchError("ingress update needs --rule (replaces every rule), --default-backend, --no-default-backend, "
                             + "--tls-cert with --tls-key, or --tls HOST=CERT,KEY")
        }
        try IngressRules.checkDistinct(rules)
        try IngressTLS.check(cert: tlsCert, key: tlsKey, hosts: tlsHosts)
    }
}

/// An ingress: its rules, default backend, TLS, and the nginx container that serves them.
public struct IngressRecord: Sendable, Equatable {
    public var name: String
    public var id: String
    /// The nginx container's id ("" until it is started).
    public var container: String
    public var rules: [IngressRule]
    public var defaultBackend: IngressBackend?
    /// A default certificate (`tls.crt`, `tls.key`).
    public var tls: Bool
    /// Hosts with a certificate of their own (`tls-N.crt`, `tls-N.key`: N is the index here).
    public var tlsHosts: [String] = []
    /// The generation of the TLS files in use (`NginxConfig.certFile(_:)`): 0 from create, one
    /// more for each `ingress update` that changes certificates.
    public var tlsGeneration = 0
    /// `--service-upstream`: the upstreams are the services' ClusterIPs, not their endpoints.
    public var serviceUpstream = false
    public var createdAt: String
    /// While `ingress create` runs: the creating CLI (pid + start time); 0 once complete.
    public var ownerPid: Int32 = 0
    public var ownerStart: UInt64 = 0

    public init(name: String, id: String, container: String, rules: [IngressRule], defaultBackend: IngressBackend?,
                tls: Bool, createdAt: String, ownerPid: Int32 = 0, ownerStart: UInt64 = 0) {
        self.name = name; self.id = id; self.container = container; self.rules = rules
        self.defaultBackend = defaultBackend; self.tls = tls; self.createdAt = createdAt
        self.ownerPid = ownerPid; self.ownerStart = ownerStart
    }

    public var shortId: String { String(id.prefix(12)) }

    /// The nginx container's name.
    public static func containerName(_ ingress: String) -> String { "ingress-" + ingress }

    /// Every backend the ingress routes to (rules and default), each once, sorted.
    public var backends: [IngressBackend] {
        Array(Set(rules.map(\.backend) + (defaultBackend.map { [$0] } ?? []))).sorted()
    }
}

extension ListOutput {
    /// `hutch ingress ls --format`.
    public static let ingresses = ListOutput(fields: [
        ("ID", "INGRESS ID"), ("Name", "NAME"), ("Status", "STATUS"), ("Ports", "PORTS"), ("Rules", "RULES"),
        ("DefaultBackend", "DEFAULT BACKEND"), ("Container", "CONTAINER"), ("Created", "CREATED"),
    ])
}

/// An ingress's JSON: `ingress inspect` (and a row of `ingress ls --format`).
public enum IngressJSON {
    public static func ports(_ ports: [PortMapping]) -> String {
        ports.map { "\($0.hostIPString):\($0.hostPort)->\($0.containerPort)/\($0.proto.rawValue)" }.joined(separator: ", ")
    }

    public static func row(_ r: IngressRecord, status: String, ports: [PortMapping]) -> JSON {
        .object([
            "ID": .string(r.shortId), "Name": .string(r.name), "Status": .string(status),
            "Ports": .string(Self.ports(ports)), "Rules": .string(r.rules.map(\.description).joined(separator: ",")),
            "DefaultBackend": .string(r.defaultBackend?.description ?? ""), "Container": .string(String(r.container.prefix(12))),
            "Created": .string(ListRows.ago(r.createdAt)),
        ])
    }

    /// `inspect`: the rules, default backend, resolved upstreams, published ports (Docker's
    /// shape), the nginx container, TLS and the configuration file.
    public static func inspect(_ r: IngressRecord, status: String, container: ContainerRecord?, ports: [PortMapping],
                               upstreams: [IngressBackend: [UpstreamEndpoint]], folder: String) -> JSON {
        var ups: [String: JSON] = [:]
        for b in r.backends { ups[b.description] = .array((upstreams[b] ?? []).sorted().map { .string($0.description) }) }
        let rules: [JSON] = r.rules.map { rule in
            .object(["Rule": .string(rule.description), "Host": .string(rule.host ?? ""), "Path": .string(rule.path),
                     "PathType": .string(rule.pathType.rawValue), "Service": .string(rule.backend.service),
                     "Port": .int(Int64(rule.backend.port))])
        }
        let running = container?.status == .running, restarting = running && container!.restarting
        let c: JSON = .object([
            "Id": .string(r.container), "Name": .string(container?.name ?? IngressRecord.containerName(r.name)),
            "Status": .string(restarting ? "restarting" : container?.status.rawValue ?? "missing"),
            "Pid": .int(Int64(running && !restarting ? container!.pid : 0)),
            "RestartPolicy": .string(container?.restartPolicy.description ?? ""),
            "RestartCount": .int(Int64(container?.restartCount ?? 0)),
        ])
        return .object([
            "Id": .string(r.id), "Name": .string(r.name), "Created": .string(r.createdAt), "Status": .string(status),
            "Rules": .array(rules), "DefaultBackend": r.defaultBackend.map { .string($0.description) } ?? .null,
            "Upstreams": .object(ups), "Ports": ContainerJSON.dockerPorts(ports), "Container": c,
            "TLS": r.tls ? .object(["Certificate": .string(folder + "/" + NginxConfig.certFile(r.tlsGeneration)),
                                    "Key": .string(folder + "/" + NginxConfig.keyFile(r.tlsGeneration))]) : .null,
            "TLSHosts": .array(r.tlsHosts.enumerated().map { i, h in
                .object(["Host": .string(h), "Certificate": .string(folder + "/" + NginxConfig.hostCertFile(i, r.tlsGeneration)),
                         "Key": .string(folder + "/" + NginxConfig.hostKeyFile(i, r.tlsGeneration))])
            }),
            "ConfigFile": .string(folder + "/nginx.conf"),
            "UpstreamMode": .string(r.serviceUpstream ? "service" : "endpoints"),
        ])
    }
}
