import HutchOS

/// A Kubernetes-style Service: a stable virtual IP (ClusterIP) with ports, load-balanced by the
/// kernel over the endpoints its selector picks; optionally a NodePort on every host address.
/// The record says nothing about where endpoints live: endpoints are a separate list
/// (`ServiceEndpoint`), so endpoints on other nodes fit the same model.
public struct ServiceRecord: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case clusterIP = "ClusterIP", nodePort = "NodePort" }
    public enum Affinity: String, Sendable, CaseIterable { case none = "None", clientIP = "ClientIP" }
    public enum TrafficPolicy: String, Sendable, CaseIterable { case cluster = "Cluster", local = "Local" }

    public var name: String
    public var id: String
    public var type: Kind
    public var clusterIP: IPv4Address
    public var selector: ServiceSelector
    public var ports: [ServicePort]
    public var sessionAffinity: Affinity
    /// Seconds a client keeps its endpoint with ClientIP affinity.
    public var affinityTimeout: Int
    public var externalTrafficPolicy: TrafficPolicy
    public var labels: Labels
    public var createdAt: String

    public init(name: String, id: String, type: Kind, clusterIP: IPv4Address, selector: ServiceSelector, ports: [ServicePort],
                sessionAffinity: Affinity = .none, affinityTimeout: Int = ServiceOptions.defaultAffinityTimeout,
                externalTrafficPolicy: TrafficPolicy = .cluster, labels: Labels = Labels(), createdAt: String = "") {
        self.name = name; self.id = id; self.type = type; self.clusterIP = clusterIP; self.selector = selector
        self.ports = ports; self.sessionAffinity = sessionAffinity; self.affinityTimeout = affinityTimeout
        self.externalTrafficPolicy = externalTrafficPolicy; self.labels = labels; self.createdAt = createdAt
    }

    public var shortId: String { String(id.prefix(12)) }

    /// The names every container resolves to the ClusterIP.
    public var dnsNames: [String] { Self.dnsNames(name) }

    /// Kubernetes' environment variables for containers started after the service:
    /// `WEB_API_SERVICE_HOST=10.96.0.10`, `WEB_API_SERVICE_PORT=80` (the first port).
    public var environment: [String] { Self.environment(name: name, clusterIP: clusterIP, port: ports.first?.port) }

    public static func environment(name: String, clusterIP: IPv4Address, port: UInt16?) -> [String] {
        let prefix = String(name.uppercased().map { $0 == "-" ? "_" : $0 })
        var env = ["\(prefix)_SERVICE_HOST=\(clusterIP)"]
        if let p = port { env.append("\(prefix)_SERVICE_PORT=\(p)") }
        return env
    }

    public static func dnsNames(_ name: String) -> [String] { [name, "\(name).default.svc.cluster.local"] }

    /// The owner tag of the service's node-port reservations and rules: `service:NAME`.
    public var owner: String { ServiceRecord.ownerPrefix + name }
    public static let ownerPrefix = "service:"
}

/// One port of a service: `PORT[:TARGETPORT][/tcp|udp]`, plus the node port once allocated.
public struct ServicePort: Sendable, Hashable, CustomStringConvertible {
    public var port: UInt16
    public var targetPort: UInt16
    public var proto: PortMapping.Proto
    /// 0: none (ClusterIP), or not yet picked.
    public var nodePort: UInt16

    public init(port: UInt16, targetPort: UInt16, proto: PortMapping.Proto, nodePort: UInt16 = 0) {
        self.port = port; self.targetPort = targetPort; self.proto = proto; self.nodePort = nodePort
    }

    /// `80:8000/tcp`, as given on the command line (without the node port).
    public var description: String { "\(port):\(targetPort)/\(proto.rawValue)" }

    /// Parses `--port PORT[:TARGETPORT][/tcp|udp]`.
    public static func parse(_ spec: String) throws -> ServicePort {
        func bad(_ why: String) -> HutchError { HutchError("invalid --port \"\(spec)\": \(why) (use PORT[:TARGETPORT][/tcp|udp], e.g. 80:8000)") }
        let (body, given, suffix) = PortMapping.Proto.split(Substring(spec))
        guard let proto = given else { throw bad("unknown protocol \"\(suffix)\"") }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw bad("too many ':'") }
        let port = try PublishSpec.port(parts[0], bad)
        let target = parts.count == 2 ? try PublishSpec.port(parts[1], bad) : port
        return ServicePort(port: port, targetPort: target, proto: proto)
    }

    /// As stored: `80:8000/tcp:30080`.
    public var stored: String { "\(description):\(nodePort)" }
    public init?(stored s: String) {
        let halves = s.split(separator: "/")
        guard halves.count == 2 else { return nil }
        let a = halves[0].split(separator: ":"), b = halves[1].split(separator: ":")
        guard a.count == 2, b.count == 2, let p = UInt16(a[0]), let t = UInt16(a[1]),
              let pr = PortMapping.Proto(rawValue: String(b[0])), let np = UInt16(b[1]) else { return nil }
        self.init(port: p, targetPort: t, proto: pr, nodePort: np)
    }
}

/// An equality selector, `K=V[,K=V]`: every key must be present with that value.
public struct ServiceSelector: Sendable, Equatable {
    public private(set) var items: [String: String]

    public init(_ items: [String: String]) { self.items = items }

    /// Parses `--selector app=web,tier=front` (repeatable: the pairs add up). Empty or malformed
    /// pairs are errors: a selector that matched everything by mistake would send traffic anywhere.
    public static func parse(_ specs: [String]) throws -> ServiceSelector {
        var items: [String: String] = [:]
        for spec in specs {
            func bad(_ why: String) -> HutchError { HutchError("invalid --selector \"\(spec)\": \(why) (use KEY=VALUE[,KEY=VALUE], e.g. app=web)") }
            guard !spec.isEmpty else { throw bad("it is empty") }
            for pair in spec.split(separator: ",", omittingEmptySubsequences: false) {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2 else { throw bad("\"\(pair)\" has no '='") }
                let k = String(kv[0]), v = String(kv[1])
                guard !k.isEmpty else { throw bad("a key is empty") }
                guard (k + v).unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 && $0 != "," }) else {
                    throw bad("\"\(pair)\" contains whitespace or control characters")
                }
                if let old = items[k], old != v { throw bad("the key \(k) is given twice with different values") }
                items[k] = v
            }
        }
        guard !items.isEmpty else { throw HutchError("a service needs --selector KEY=VALUE: it picks the containers that serve it") }
        return ServiceSelector(items)
    }

    public var entries: [String] { items.keys.sorted().map { "\($0)=\(items[$0]!)" } }
    public var joined: String { entries.joined(separator: ",") }
    public init(stored: [String]) {
        var items: [String: String] = [:]
        for e in stored {
            let kv = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2 { items[String(kv[0])] = String(kv[1]) }
        }
        self.items = items
    }

    public func matches(_ labels: Labels) -> Bool { labels.matches(items) }
}

/// One endpoint of a service: an address that serves its target ports, and who holds it.
/// `node` is empty for this host (a later, multi-node hutch fills it in).
public struct ServiceEndpoint: Sendable, Hashable, Comparable {
    public var ip: IPv4Address
    /// The container (or pod) name.
    public var container: String
    /// The container's id (a pod's infra container for a pod).
    public var containerId: String
    public var node: String

    public init(ip: IPv4Address, container: String, containerId: String, node: String = "") {
        self.ip = ip; self.container = container; self.containerId = containerId; self.node = node
    }
    public static func < (a: Self, b: Self) -> Bool { a.ip < b.ip }
    public var isLocal: Bool { node.isEmpty }
}

/// `service create`'s options, checked before the store is opened.
public struct ServiceOptions: CheckedOptions {
    public static let defaultAffinityTimeout = 10800
    public static let nodePortRange: ClosedRange<UInt16> = 30000...32767

    public var name: String
    public var selector = ServiceSelector([:])
    public var ports: [ServicePort] = []
    public var type: ServiceRecord.Kind = .clusterIP
    public var nodePort: UInt16?
    public var clusterIP: IPv4Address?
    public var sessionAffinity: ServiceRecord.Affinity = .none
    public var affinityTimeout: Int?
    public var externalTrafficPolicy: ServiceRecord.TrafficPolicy?
    public var labels = Labels()

    public init(name: String) { self.name = name }

    public func validate() throws {
        try ServiceOptions.validateName(name)
        if selector.items.isEmpty { throw HutchError("a service needs --selector KEY=VALUE: it picks the containers that serve it") }
        if ports.isEmpty { throw HutchError("a service needs at least one --port PORT[:TARGETPORT][/tcp|udp], e.g. --port 80:8000") }
        var seen = Set<String>()
        for p in ports where !seen.insert("\(p.port)/\(p.proto.rawValue)").inserted {
            throw HutchError("--port \(p.port)/\(p.proto.rawValue) is given twice")
        }
        if let n = nodePort {
            guard type == .nodePort else { throw HutchError("--node-port needs --type NodePort") }
            guard Self.nodePortRange.contains(n) else {
                throw HutchError("invalid --node-port \(n): it must be in \(Self.nodePortRange.lowerBound)-\(Self.nodePortRange.upperBound)")
            }
            if ports.count > 1 { throw HutchError("--node-port applies to a single --port: give one --port, or leave --node-port out to pick free ones") }
        }
        if externalTrafficPolicy != nil && type != .nodePort {
            throw HutchError("--external-traffic-policy needs --type NodePort")
        }
        if let t = affinityTimeout {
            guard sessionAffinity == .clientIP else { throw HutchError("--session-affinity-timeout needs --session-affinity ClientIP") }
            guard t >= 1 && t <= 86400 else { throw HutchError("invalid --session-affinity-timeout \(t): use 1-86400 seconds") }
        }
    }

    /// Kubernetes' service names (RFC 1035 labels): lowercase letters, digits and '-', starting
    /// with a letter, ending with a letter or digit, at most 63 characters.
    public static func validateName(_ n: String) throws {
        let ok = !n.isEmpty && n.utf8.count <= 63
            && n.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 })
            && (n.utf8.first.map { $0 >= 97 && $0 <= 122 } ?? false) && n.utf8.last != 45
        guard ok else {
            throw HutchError("invalid service name \"\(n)\": use lowercase letters, digits and '-', starting with a letter, at most 63 characters (e.g. web-api)")
        }
    }

    public static func parseType(_ s: String) throws -> ServiceRecord.Kind {
        guard let k = ServiceRecord.Kind.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
            throw HutchError("invalid --type \"\(s)\": use ClusterIP or NodePort")
        }
        return k
    }
    public static func parseAffinity(_ s: String) throws -> ServiceRecord.Affinity {
        guard let k = ServiceRecord.Affinity.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
            throw HutchError("invalid --session-affinity \"\(s)\": use None or ClientIP")
        }
        return k
    }
    public static func parsePolicy(_ s: String) throws -> ServiceRecord.TrafficPolicy {
        guard let k = ServiceRecord.TrafficPolicy.allCases.first(where: { $0.rawValue.lowercased() == s.lowercased() }) else {
            throw HutchError("invalid --external-traffic-policy \"\(s)\": use Cluster or Local")
        }
        return k
    }
}

/// `service inspect`'s JSON (Kubernetes' field names, flattened as the issue asks).
public enum ServiceJSON {
    public static func render(_ s: ServiceRecord, endpoints: [ServiceEndpoint]) -> JSON {
        var sel: [String: JSON] = [:]
        for (k, v) in s.selector.items { sel[k] = .string(v) }
        var labels: [String: JSON] = [:]
        for (k, v) in s.labels.items { labels[k] = .string(v) }
        return .object([
            "Name": .string(s.name), "Id": .string(s.id), "Type": .string(s.type.rawValue),
            "ClusterIP": .string(s.clusterIP.description), "Selector": .object(sel), "Labels": .object(labels),
            "Ports": .array(s.ports.map { p in
                .object(["Port": .int(Int64(p.port)), "TargetPort": .int(Int64(p.targetPort)),
                         "Protocol": .string(p.proto.rawValue.uppercased()),
                         "NodePort": p.nodePort == 0 ? .null : .int(Int64(p.nodePort))])
            }),
            "SessionAffinity": .string(s.sessionAffinity.rawValue),
            "SessionAffinityTimeout": s.sessionAffinity == .clientIP ? .int(Int64(s.affinityTimeout)) : .null,
            "ExternalTrafficPolicy": s.type == .nodePort ? .string(s.externalTrafficPolicy.rawValue) : .null,
            "Endpoints": .array(endpoints.sorted().map { e in
                .object(["IP": .string(e.ip.description), "Container": .string(e.container), "Node": .string(e.node)])
            }),
            "Created": .string(s.createdAt),
        ])
    }

    /// One `service ls` row for `--format`.
    public static func row(_ s: ServiceRecord, endpoints: Int) -> JSON {
        .object([
            "ID": .string(s.shortId), "Name": .string(s.name), "Type": .string(s.type.rawValue),
            "ClusterIP": .string(s.clusterIP.description), "Ports": .string(portsColumn(s)),
            "Selector": .string(s.selector.joined), "Endpoints": .string(String(endpoints)),
            "Labels": .string(s.labels.joined), "CreatedAt": .string(ListRows.createdAt(s.createdAt)),
        ])
    }

    /// `80/TCP` or `80:30080/TCP`, as kubectl shows ports.
    public static func portsColumn(_ s: ServiceRecord) -> String {
        s.ports.map { $0.nodePort == 0 ? "\($0.port)/\($0.proto.rawValue.uppercased())" : "\($0.port):\($0.nodePort)/\($0.proto.rawValue.uppercased())" }
            .joined(separator: ",")
    }
}

extension ListRows {
    public static let services = ListOutput(fields: [
        ("ID", "SERVICE ID"), ("Name", "NAME"), ("Type", "TYPE"), ("ClusterIP", "CLUSTER-IP"), ("Ports", "PORT(S)"),
        ("Selector", "SELECTOR"), ("Endpoints", "ENDPOINTS"), ("Labels", "LABELS"), ("CreatedAt", "CREATED AT"),
    ])
}
