import HutchModel
import HutchOS

extension ServiceRecord: SQLKeyedRecord {
    public static let table = "services"
    public static let primaryKey = "name"
    public init(row r: Row) throws {
        self.init(name: r.string("name"), id: r.string("id"),
                  type: ServiceRecord.Kind(rawValue: r.string("type")) ?? .clusterIP,
                  clusterIP: try r.address("clusterIP"), selector: ServiceSelector(stored: r.strings("selector")),
                  ports: r.strings("ports").compactMap(ServicePort.init(stored:)),
                  sessionAffinity: ServiceRecord.Affinity(rawValue: r.string("sessionAffinity")) ?? .none,
                  affinityTimeout: Int(r.integer("affinityTimeout") ?? Int64(ServiceOptions.defaultAffinityTimeout)),
                  externalTrafficPolicy: ServiceRecord.TrafficPolicy(rawValue: r.string("externalTrafficPolicy")) ?? .cluster,
                  labels: Labels(stored: r.strings("labels")), createdAt: r.string("createdAt"))
    }
    public var columns: [(String, any SQLArgument)] {
        [("name", name), ("id", id), ("type", type.rawValue), ("clusterIP", clusterIP),
         ("selector", JSON.strings(selector.entries).render()), ("ports", JSON.strings(ports.map(\.stored)).render()),
         ("sessionAffinity", sessionAffinity.rawValue), ("affinityTimeout", affinityTimeout),
         ("externalTrafficPolicy", externalTrafficPolicy.rawValue), ("labels", JSON.strings(labels.entries).render()),
         ("createdAt", createdAt)]
    }
}

/// One endpoint of one service as the firewall holds it now: the store is the record of what
/// was written, so a change computes its diff without reading the ruleset back.
struct EndpointRow: SQLRecord {
    static let table = "service_endpoints"
    var service: String
    var endpoint: ServiceEndpoint
    init(service: String, endpoint: ServiceEndpoint) { self.service = service; self.endpoint = endpoint }
    init(row r: Row) throws {
        service = r.string("service")
        endpoint = ServiceEndpoint(ip: try r.address("ip"), container: r.string("container"),
                                   containerId: r.string("containerId"), node: r.string("node"))
    }
    var columns: [(String, any SQLArgument)] {
        [("service", service), ("ip", endpoint.ip), ("container", endpoint.container),
         ("containerId", endpoint.containerId), ("node", endpoint.node)]
    }
}

/// Services in the store: records, their selector index, their endpoints, the ClusterIPs and
/// node ports they hold. Node ports are rows of `ports` (owner `service:NAME`), so a NodePort
/// and a `-p` publish can never take the same host port.
public enum ServiceStore {
    public static let defaultRange = CIDRv4("10.96.0.0/16")!

    /// The service range of this state root: recorded with the first service (from
    /// HUTCH_SERVICE_RANGE, else 10.96.0.0/16) and fixed from then on.
    public static func range(in db: Database, record: Bool) throws -> CIDRv4 {
        let recorded = try Store.meta(["serviceRange"], in: db)["serviceRange"].flatMap { CIDRv4($0) }
        let asked: CIDRv4?
        if let env = Environment.get("HUTCH_SERVICE_RANGE") {
            guard let c = CIDRv4(env), c.isNetworkAddress, c.prefix >= 8, c.prefix <= 28 else {
                throw HutchError("invalid HUTCH_SERVICE_RANGE \"\(env)\": use an IPv4 network in CIDR form between /8 and /28, such as 10.96.0.0/16")
            }
            asked = c
        } else { asked = nil }
        if let r = recorded {
            if let a = asked, a != r {
                throw HutchError("the service range of this state root is \(r) (set once, with its first service); HUTCH_SERVICE_RANGE=\(a) cannot change it")
            }
            return r
        }
        let r = asked ?? defaultRange
        if record { try Store.setMeta("serviceRange", r.description, in: db) }
        return r
    }

    public static func count(in db: Database) throws -> Int {
        try db.int(sql: "SELECT COUNT(*) FROM services") ?? 0
    }

    public static func all(in db: Database) throws -> [ServiceRecord] {
        try ServiceRecord.fetchAll(db, order: "name")
    }

    /// A number the store raises on every change to the services table (triggers, migration
    /// 10): equal versions mean equal services, so what is rendered from them can be cached.
    public static func version(in db: Database) throws -> Int {
        try db.int(sql: "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'servicesVersion'") ?? 0
    }

    /// `ServiceRecord.environment` of every service, by name, built by SQLite: a run
    /// at 1,000 services reads 2,000 variables, and building them as Swift strings from decoded
    /// rows cost more than the rest of the run's store work (bench/README, services). The unit
    /// test `testStoreRendersServiceEnvironmentAndHostsLikeTheModel` keeps it equal to the model's.
    public static func environment(in db: Database) throws -> [String] {
        try db.strings(sql: """
            SELECT e FROM (
              SELECT name, 0 AS k, upper(replace(name, '-', '_')) || '_SERVICE_HOST=' || clusterIP AS e FROM services
              UNION ALL
              SELECT name, 1, upper(replace(name, '-', '_')) || '_SERVICE_PORT=' || substr(p, 1, instr(p, ':') - 1)
                FROM (SELECT name, json_extract(ports, '$[0]') AS p FROM services) WHERE instr(p, ':') > 1
            ) ORDER BY name, k
            """)
    }

    /// `HostsFile.serviceLines` of every service (address, tab, `ServiceRecord.dnsNames`), one
    /// line each by name, built by SQLite (see `environment`).
    public static func hostsLines(in db: Database) throws -> String {
        try db.strings(sql: """
            SELECT clusterIP || char(9) || name || ' ' || name || '.default.svc.cluster.local' || char(10)
              FROM services ORDER BY name
            """).joined()
    }

    public static func find(_ name: String, in db: Database) throws -> ServiceRecord? {
        try ServiceRecord.fetchOne(db, key: name)
    }

    public static func endpoints(of service: String, in db: Database) throws -> [ServiceEndpoint] {
        try EndpointRow.fetchAll(db, where: "service = ?", arguments: [service], order: "ip").map(\.endpoint)
    }

    /// Every service's endpoints, by service name.
    public static func allEndpoints(in db: Database) throws -> [String: [ServiceEndpoint]] {
        var out: [String: [ServiceEndpoint]] = [:]
        for r in try EndpointRow.fetchAll(db) { out[r.service, default: []].append(r.endpoint) }
        return out
    }

    public static func setEndpoints(_ eps: [ServiceEndpoint], of service: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM service_endpoints WHERE service = ?", arguments: [service])
        for e in eps { try EndpointRow(service: service, endpoint: e).insert(db) }
    }

    /// Whether `ip` is an endpoint of any service (hairpin masquerade stays while it is).
    public static func isEndpoint(_ ip: IPv4Address, in db: Database) throws -> Bool {
        try (db.int(sql: "SELECT COUNT(*) FROM service_endpoints WHERE ip = ? AND node = ''", arguments: [ip]) ?? 0) > 0
    }

    /// The services whose selector uses one of these `key=value` pairs, or that hold an
    /// endpoint of container `id`: the only ones a change of that container can touch.
    public static func candidates(pairs: [String], containerId: String, in db: Database) throws -> [ServiceRecord] {
        var names = Set(try db.strings(sql: "SELECT DISTINCT service FROM service_endpoints WHERE containerId = ?", arguments: [containerId]))
        if !pairs.isEmpty {
            let marks = pairs.map { _ in "?" }.joined(separator: ", ")
            names.formUnion(try db.strings(sql: "SELECT DISTINCT service FROM service_selectors WHERE pair IN (\(marks))", arguments: pairs))
        }
        return try names.sorted().compactMap { try ServiceRecord.fetchOne(db, key: $0) }
    }

    /// The endpoint a container offers and the labels that select it: a running container with
    /// its own address on a bridge network (a pod: its infra container, with the pod's labels).
    /// nil for anything else or a container that is gone. Reads only the columns it needs (a
    /// record's environment can hold thousands of service variables).
    public static func offer(containerId id: String, in db: Database) throws -> (ServiceEndpoint, Labels)? {
        var pods: [String: PodRecord?] = [:]
        return try offers(where: "id = ?", arguments: [id], pods: &pods, in: db).first
    }

    static let offerColumns = "SELECT id, name, ipAddress, labels, isInfra, pod FROM containers"
        + " WHERE status = 'running' AND NOT restarting AND ipAddress IS NOT NULL AND joinedId IS NULL AND network IS NOT NULL"

    static func offers(where condition: String?, arguments: [any SQLArgument], pods: inout [String: PodRecord?],
                       in db: Database) throws -> [(ServiceEndpoint, Labels)] {
        var out: [(ServiceEndpoint, Labels)] = []
        for r in try db.rows(sql: offerColumns + (condition.map { " AND " + $0 } ?? ""), arguments: arguments) {
            var labels = Labels(stored: r.strings("labels"))
            var name = r.string("name")
            if r.bool("isInfra"), let p = r.text("pod") {
                if pods[p] == nil { pods[p] = try PodRecord.fetchOne(db, key: p) }
                if let pod = pods[p] ?? nil {
                    for (k, v) in pod.labels.items { try? labels.add("\(k)=\(v)") }
                    name = pod.name
                }
            }
            out.append((ServiceEndpoint(ip: try r.address("ipAddress"), container: name, containerId: r.string("id")), labels))
        }
        return out
    }

    /// The endpoints a selector picks among this host's running containers (only the columns it
    /// needs are read: a record's environment can hold thousands of service variables).
    public static func selectEndpoints(_ selector: ServiceSelector, in db: Database) throws -> [ServiceEndpoint] {
        var pods: [String: PodRecord?] = [:]
        return try offers(where: nil, arguments: [], pods: &pods, in: db).filter { selector.matches($0.1) }.map(\.0).sorted()
    }

    /// The ids of the running containers, and those being created, whose /etc/hosts hutch
    /// generated for them.
    public static func idsWithOwnHosts(in db: Database) throws -> [String] {
        try db.strings(sql: "SELECT id FROM containers WHERE status IN ('running', 'created') AND joinedId IS NULL AND networkMode != 'host'")
    }

    /// The running containers whose /etc/hosts hutch generated for them (not joined, not host mode).
    public static func containersWithOwnHosts(in db: Database) throws -> [ContainerRecord] {
        try ContainerRecord.fetchAll(db, where: "status = 'running' AND joinedId IS NULL AND networkMode != 'host'")
    }

    /// A free ClusterIP in the range (or the one asked for, checked): neither the range's first
    /// nor its last address. One primary-key lookup per candidate, from a random start.
    public static func allocateClusterIP(in db: Database, range: CIDRv4, requested: IPv4Address?) throws -> IPv4Address {
        func taken(_ a: IPv4Address) throws -> String? {
            try db.strings(sql: "SELECT name FROM services WHERE clusterIP = ?", arguments: [a]).first
        }
        let first = range.network.value + 1, last = range.broadcast.value - 1
        if let a = requested {
            guard range.contains(a), a.value >= first, a.value <= last else {
                throw HutchError("invalid --cluster-ip \(a): it is outside the service range \(range) (usable: \(IPv4Address(first))-\(IPv4Address(last)))")
            }
            if let s = try taken(a) { throw HutchError("--cluster-ip \(a) is already the address of service \(s): pick another or leave it out") }
            return a
        }
        let span = Int(last - first) + 1
        let start = Int.random(in: 0..<span)
        for i in 0..<span {
            let a = IPv4Address(first + UInt32((start + i) % span))
            if try taken(a) == nil { return a }
        }
        throw HutchError("no free address in the service range \(range): remove a service")
    }

    /// Reserves the node ports of a NodePort service (the one asked for, or free ones from
    /// 30000-32767) as host ports owned by `service:NAME`; returns the ports with them set.
    public static func reserveNodePorts(in db: Database, service: String, ports: [ServicePort], requested: UInt16?,
                                        isFreeOnHost: (PortMapping) -> Bool) throws -> [ServicePort] {
        var out: [ServicePort] = []
        let range = ServiceOptions.nodePortRange
        for var p in ports {
            var m = PortMapping(hostIP: nil, hostPort: 0, containerPort: p.port, proto: p.proto)
            if let n = requested {
                m.hostPort = n
                if let h = try PortReservations.holder(in: db, m) {
                    throw HutchError("node port \(n)/\(p.proto.rawValue) is already taken by \(h): pick another --node-port or leave it out")
                }
                guard isFreeOnHost(m) else {
                    throw HutchError("node port \(n)/\(p.proto.rawValue) is in use by a process on the host: pick another --node-port or leave it out")
                }
            } else {
                let span = Int(range.upperBound - range.lowerBound) + 1
                let start = Int.random(in: 0..<span)
                var found = false
                for i in 0..<span {
                    m.hostPort = UInt16(Int(range.lowerBound) + (start + i) % span)
                    if try PortReservations.holder(in: db, m) == nil, !out.contains(where: { $0.nodePort == m.hostPort && $0.proto == p.proto }),
                       isFreeOnHost(m) { found = true; break }
                }
                guard found else { throw HutchError("no free node port for \(p.port)/\(p.proto.rawValue) in \(range.lowerBound)-\(range.upperBound)") }
            }
            p.nodePort = m.hostPort
            try PortRecord(proto: p.proto.rawValue, hostIP: "0.0.0.0", hostPort: Int(p.nodePort),
                           containerPort: Int(p.port), owner: ServiceRecord.ownerPrefix + service).insert(db)
            out.append(p)
        }
        return out
    }

    public static func insert(_ s: ServiceRecord, in db: Database) throws {
        try s.insert(db)
        for pair in s.selector.entries {
            try db.execute(sql: "INSERT INTO service_selectors (service, pair) VALUES (?, ?)", arguments: [s.name, pair])
        }
    }

    /// Deletes a service's record, selector index, endpoints and node ports.
    public static func delete(_ name: String, in db: Database) throws {
        _ = try ServiceRecord.deleteOne(db, key: name)
        try db.execute(sql: "DELETE FROM service_selectors WHERE service = ?", arguments: [name])
        try db.execute(sql: "DELETE FROM service_endpoints WHERE service = ?", arguments: [name])
        try PortReservations.release(in: db, owner: ServiceRecord.ownerPrefix + name)
    }
}
