#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

/// Services: records in the store, endpoints that follow every container change, and the
/// firewall's services feature. Every change computes what the firewall holds now from the
/// store (which records what was written) and writes the difference inside the same store
/// transaction, so the store and the kernel never disagree after a commit; a firewall failure
/// rolls the store back.
extension Runtime {
    // MARK: create, list, remove

    public func createService(_ checked: Validated<ServiceOptions>) throws -> ServiceRecord {
        let o = checked.options
        let now = Sys.now()
        var createdRoute = false
        do {
            let (s, version) = try store.write { db -> (ServiceRecord, Int) in
                Timeline.mark("svc-txn")
                let range = try ServiceStore.range(in: db, record: true)
                if try ServiceStore.find(o.name, in: db) != nil {
                    throw HutchError("service \(o.name) already exists: remove it first (hutch service rm \(o.name)) or pick another name")
                }
                let ip = try ServiceStore.allocateClusterIP(in: db, range: range, requested: o.clusterIP)
                var ports = o.ports
                if o.type == .nodePort {
                    ports = try ServiceStore.reserveNodePorts(in: db, service: o.name, ports: ports, requested: o.nodePort,
                                                              isFreeOnHost: host.isPortFree)
                }
                let s = ServiceRecord(name: o.name, id: Sys.randomID(), type: o.type, clusterIP: ip, selector: o.selector,
                                      ports: ports, sessionAffinity: o.sessionAffinity,
                                      affinityTimeout: o.affinityTimeout ?? ServiceOptions.defaultAffinityTimeout,
                                      externalTrafficPolicy: o.externalTrafficPolicy ?? .cluster, labels: o.labels, createdAt: now)
                Timeline.mark("svc-allocated")
                let eps = try ServiceStore.selectEndpoints(s.selector, in: db)
                Timeline.mark("svc-endpoints")
                var hairpin: [IPv4Address] = []
                for e in eps where e.isLocal { if try !ServiceStore.isEndpoint(e.ip, in: db) { hairpin.append(e.ip) } }
                try ServiceStore.insert(s, in: db)
                try ServiceStore.setEndpoints(eps, of: s.name, in: db)
                try host.ensureServiceRoute(range)
                createdRoute = true
                Timeline.mark("svc-route")
                try host.applyServices([ServiceChange(old: nil, new: ServiceState(s, eps))], hairpinAdd: hairpin, hairpinRemove: [])
                Timeline.mark("svc-rules")
                return (s, try ServiceStore.version(in: db))
            }
            Timeline.mark("svc-committed")
            notifyNodeAgent()
            deriveServiceFiles(version: version, added: s)
            addServiceNames(s)
            Timeline.mark("svc-names")
            refreshIngressesReporting(services: [s.name])
            return s
        } catch {
            // The route goes with the last service: a first service that failed leaves none.
            if createdRoute, let r = try? serviceRangeIfEmpty() { try? host.removeServiceRoute(r) }
            throw error
        }
    }

    /// Every service with its endpoints, by name.
    public func services() throws -> [(ServiceRecord, [ServiceEndpoint])] {
        try store.read { db in
            let eps = try ServiceStore.allEndpoints(in: db)
            return try ServiceStore.all(in: db).map { ($0, (eps[$0.name] ?? []).sorted()) }
        }
    }

    public func findService(_ name: String) throws -> ServiceRecord? {
        try store.read { try ServiceStore.find(name, in: $0) }
    }

    public func service(_ name: String) throws -> (ServiceRecord, [ServiceEndpoint]) {
        guard let r = try store.read({ db in
            try ServiceStore.find(name, in: db).map { ($0, try ServiceStore.endpoints(of: name, in: db)) }
        }) else { throw HutchError("no such service: \(name)") }
        return r
    }

    /// Removes a service: its rules and elements, its node ports, its names; the route for the
    /// service range with the last one.
    public func removeService(_ name: String) throws {
        let (last, s, version) = try store.write { db -> (CIDRv4?, ServiceRecord, Int) in
            guard let s = try ServiceStore.find(name, in: db) else { throw HutchError("no such service: \(name)") }
            let eps = try ServiceStore.endpoints(of: name, in: db)
            try ServiceStore.delete(name, in: db)
            var unhairpin: [IPv4Address] = []
            for e in eps where e.isLocal { if try !ServiceStore.isEndpoint(e.ip, in: db) { unhairpin.append(e.ip) } }
            try host.applyServices([ServiceChange(old: ServiceState(s, eps), new: nil)], hairpinAdd: [], hairpinRemove: unhairpin)
            return (try ServiceStore.count(in: db) == 0 ? ServiceStore.range(in: db, record: false) : nil, s,
                    try ServiceStore.version(in: db))
        }
        if let r = last { try host.removeServiceRoute(r) }
        deriveServiceFiles(version: version, removed: s)
        notifyNodeAgent()
        refreshServiceNames()
        refreshIngressesReporting(services: [name])
    }

    /// The service range when no service exists (the route can go), else nil.
    func serviceRangeIfEmpty() throws -> CIDRv4? {
        try store.read { db in try ServiceStore.count(in: db) == 0 ? ServiceStore.range(in: db, record: false) : nil }
    }

    // MARK: endpoints follow containers

    /// Brings the endpoints of every service that selects (or selected) these containers in line
    /// with their records: a running container with matching labels is an endpoint, anything
    /// else is not. Called at every lifecycle point (run, exit, stop, kill, rm, pod rm, gc).
    /// Costs one read when no service is concerned.
    /// `leaving`: these containers are going (their cleanup has begun) whatever their records say.
    func syncEndpoints(_ ids: [String], leaving: Bool = false) throws {
        func plan(_ db: Database) throws -> [String: (ServiceRecord, [ServiceEndpoint], [ServiceEndpoint])] {
            var out: [String: (ServiceRecord, [ServiceEndpoint], [ServiceEndpoint])] = [:]
            for id in ids {
                let offer = leaving ? nil : try ServiceStore.offer(containerId: id, in: db)
                for s in try ServiceStore.candidates(pairs: offer?.1.entries ?? [], containerId: id, in: db) {
                    let old = try out[s.name]?.2 ?? ServiceStore.endpoints(of: s.name, in: db)
                    var new = old.filter { $0.containerId != id }
                    if let (e, labels) = offer, s.selector.matches(labels) {
                        new.removeAll { $0.ip == e.ip && $0.node == e.node }
                        new.append(e)
                    }
                    new.sort()
                    if new != old { out[s.name] = (s, out[s.name]?.1 ?? old, new) }
                }
            }
            return out
        }
        if try store.read({ try plan($0) }).isEmpty { return }
        Timeline.mark("sync-planned")
        defer { Timeline.mark("sync-applied") }
        let changed = try store.write { db -> Set<String> in
            let changes = try plan(db)
            var touched = Set<IPv4Address>(), added = Set<IPv4Address>()
            for (name, (_, old, new)) in changes {
                try ServiceStore.setEndpoints(new, of: name, in: db)
                for e in old where e.isLocal { touched.insert(e.ip) }
                for e in new where e.isLocal { touched.insert(e.ip); added.insert(e.ip) }
            }
            var hairpinRemove: [IPv4Address] = []
            for ip in touched where !added.contains(ip) { if try !ServiceStore.isEndpoint(ip, in: db) { hairpinRemove.append(ip) } }
            let list = changes.values.sorted { $0.0.name < $1.0.name }
                .map { ServiceChange(old: ServiceState($0.0, $0.1), new: ServiceState($0.0, $0.2)) }
            try host.applyServices(list, hairpinAdd: Array(added), hairpinRemove: hairpinRemove)
            return Set(changes.keys)
        }
        notifyNodeAgent()
        refreshIngressesReporting(services: changed)
    }

    /// `syncEndpoints` where a failure must not stop the caller (a container's exit): the line
    /// goes to stderr, and `hutch gc` (or `network reload`) recomputes every endpoint.
    func syncEndpointsReporting(_ ids: [String], leaving: Bool = false) {
        do { try syncEndpoints(ids, leaving: leaving) } catch {
            Out.err("hutch: updating the endpoints of services failed (hutch gc retries): \(error)")
        }
    }

    /// Recomputes every service's endpoints from the containers and rewrites the whole services
    /// feature in one transaction (reload after a wipe; gc after a crash, which also drops the
    /// rules of services whose records are gone). Returns report lines.
    func resyncServices() throws -> [String] {
        let (states, range) = try store.write { db -> ([ServiceState], CIDRv4) in
            let all = try ServiceStore.all(in: db)
            var states: [ServiceState] = []
            for s in all {
                // This node's endpoints anew; a cluster node keeps the other nodes' (their agents publish them).
                let eps = try ServiceStore.selectEndpoints(s.selector, in: db)
                    + ServiceStore.endpoints(of: s.name, in: db).filter { !$0.isLocal }
                try ServiceStore.setEndpoints(eps, of: s.name, in: db)
                states.append(ServiceState(s, eps))
            }
            return (states, try ServiceStore.range(in: db, record: false))
        }
        refreshIngressesReporting(services: nil)
        // No service and no route: nothing of the services feature was ever left installed (a
        // first service installs the route before its elements, and the last one's removal
        // deletes it after them).
        if states.isEmpty, try !host.serviceRouteExists(range) { return [] }
        if states.isEmpty { try host.removeServiceRoute(range) } else { try host.ensureServiceRoute(range) }
        try host.replaceServices(states)
        return states.isEmpty ? [] : ["services: \(states.count) service(s), \(states.reduce(0) { $0 + $1.endpoints.count }) endpoint(s) installed (\(firewall.rawValue))"]
    }

    // MARK: names and environment

    /// Rewrites the hosts file of every running container that has its own (services' names
    /// changed).
    func refreshServiceNames() {
        withHostsLock {
            guard let files = try? store.read({ db -> [(String, HostsFile)] in
                var v = try NameView(db)
                let own = try ServiceStore.containersWithOwnHosts(in: db)
                return try v.hostsFiles(for: own)
            }) else { return }
            for (id, h) in files { h.rewrite(at: containerDir(id) + "/hosts") }
        }
    }

    /// A new service's line appended to the hosts file of every container that has its own
    /// (running, or being created: its first file is written under the same lock, from the store
    /// as it is then): one small write each, whatever the number of services (a reader sees the
    /// file without the line or with all of it: the size grows once the bytes are there). Under
    /// the hosts lock, after the service's commit: a rewrite that ran in between already has the
    /// line, so a file that holds it is left alone. The next full rewrite (a name change on the
    /// network, a service removed) puts it in its sorted place.
    func addServiceNames(_ s: ServiceRecord) {
        let line = Array(HostsFile.serviceLines([(s.clusterIP, s.dnsNames)]).utf8)
        withHostsLock {
            guard let ids = try? store.read({ try ServiceStore.idsWithOwnHosts(in: $0) }) else { return }
            for id in ids {
                let fd = open(containerDir(id) + "/hosts", O_RDWR | O_APPEND | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                guard !Self.holdsLine(fd, line) else { continue }
                _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    /// Whether the file open at `fd` has `line` (which ends with a newline) as one of its lines.
    static func holdsLine(_ fd: Int32, _ line: [UInt8]) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { return false }
        var text = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = text.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        if n < text.count { text.removeLast(text.count - n) }
        return HostsFile.contains(line: line, in: text)
    }
}
