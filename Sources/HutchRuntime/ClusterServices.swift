#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

/// Services across a cluster's nodes (issue 16): what the node agent publishes of this node and
/// what it brings in from the others. A service belongs to the node that created it; the others
/// hold a copy (labelled `hutch.cluster.node=OWNER`) with the same ClusterIP and node ports, so
/// every node programs the same rules and resolves the same names. Each node contributes the
/// endpoints it runs; the others hold them with their node's name (`ServiceEndpoint.node`), so
/// the data path sends them over the overlay and a Local policy leaves them out.
extension Runtime {
    /// The label a service brought in from another node carries: its owner's node name.
    public static let clusterOwnerLabel = "hutch.cluster.node"

    /// What this node publishes: the services it created, and the local endpoints of every
    /// service it holds (its own and the ones brought in).
    public func clusterLocalView() throws -> (services: [ServiceRecord], endpoints: [String: [ServiceEndpoint]]) {
        try store.read { db in
            let all = try ServiceStore.all(in: db)
            let eps = try ServiceStore.allEndpoints(in: db)
            var local: [String: [ServiceEndpoint]] = [:]
            for s in all { local[s.name] = (eps[s.name] ?? []).filter(\.isLocal).sorted() }
            return (all.filter { $0.labels.items[Self.clusterOwnerLabel] == nil }, local)
        }
    }

    /// Makes the services brought in from other nodes and the other nodes' endpoints exactly
    /// `remote` and `remoteEndpoints` (by service name; each endpoint carries its node), in one
    /// store transaction and one firewall batch. A service whose name, ClusterIP or node port
    /// collides with one of this node's own is not brought in: the returned lines say which.
    public func applyClusterServices(_ remote: [ServiceRecord], remoteEndpoints: [String: [ServiceEndpoint]]) throws -> [String] {
        var problems: [String] = []
        var touchedNames = false
        let (routeRange, needRoute, changedNames) = try store.write { db -> (CIDRv4, Bool, Set<String>) in
            let range = try ServiceStore.range(in: db, record: true)
            let current = Dictionary(uniqueKeysWithValues: try ServiceStore.all(in: db).map { ($0.name, $0) })
            let allEps = try ServiceStore.allEndpoints(in: db)
            var changes: [ServiceChange] = []
            var hairpinAdd: [IPv4Address] = [], hairpinRemove: [IPv4Address] = []
            var changed = Set<String>()
            let wanted = Dictionary(remote.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

            // Copies whose owner no longer publishes them go.
            for (name, s) in current where s.labels.items[Self.clusterOwnerLabel] != nil && wanted[name] == nil {
                let eps = allEps[name] ?? []
                try ServiceStore.delete(name, in: db)
                for e in eps where e.isLocal { if try !ServiceStore.isEndpoint(e.ip, in: db) { hairpinRemove.append(e.ip) } }
                changes.append(ServiceChange(old: ServiceState(s, eps), new: nil))
                changed.insert(name); touchedNames = true
            }
            for r in wanted.values.sorted(by: { $0.name < $1.name }) {
                let old = current[r.name]
                let oldEps = allEps[r.name] ?? []
                if let o = old, o.labels.items[Self.clusterOwnerLabel] == nil {
                    problems.append("service \(r.name) of node \(r.labels.items[Self.clusterOwnerLabel] ?? "?") is not brought in: this node has its own service of that name")
                    continue
                }
                var record = r
                if let o = old, Self.sameSpec(o, r) {
                    record = o
                } else {
                    // New, or changed by its owner: the copy is replaced (ClusterIP and node ports reserved anew).
                    if old != nil { try ServiceStore.delete(r.name, in: db) }
                    do {
                        _ = try ServiceStore.allocateClusterIP(in: db, range: range, requested: r.clusterIP)
                        for p in r.ports where p.nodePort != 0 {
                            _ = try ServiceStore.reserveNodePorts(in: db, service: r.name, ports: [p], requested: p.nodePort,
                                                                  isFreeOnHost: host.isPortFree)
                        }
                    } catch {
                        try ServiceStore.delete(r.name, in: db)
                        if let o = old { changes.append(ServiceChange(old: ServiceState(o, oldEps), new: nil)) }
                        problems.append("service \(r.name) of node \(r.labels.items[Self.clusterOwnerLabel] ?? "?") is not brought in: \(error)")
                        continue
                    }
                    var copy = r
                    copy.id = old?.id ?? Sys.randomID()
                    try ServiceStore.insert(copy, in: db)
                    record = copy
                    touchedNames = true
                }
                // Endpoints: this node's (selected here) and the others' (as published).
                let local = old == nil || !Self.sameSpec(old!, r)
                    ? try ServiceStore.selectEndpoints(record.selector, in: db) : oldEps.filter(\.isLocal)
                let newEps = (local + (remoteEndpoints[r.name] ?? [])).sorted()
                let specChanged = old == nil || !Self.sameSpec(old!, r)
                if specChanged || newEps != oldEps.sorted() {
                    try ServiceStore.setEndpoints(newEps, of: r.name, in: db)
                    for e in newEps where e.isLocal && !oldEps.contains(e) { hairpinAdd.append(e.ip) }
                    changes.append(ServiceChange(old: old.map { ServiceState($0, oldEps) }, new: ServiceState(record, newEps)))
                    changed.insert(r.name)
                }
            }
            // This node's own services: the other nodes' endpoints.
            for (name, s) in current where s.labels.items[Self.clusterOwnerLabel] == nil {
                let oldEps = allEps[name] ?? []
                let newEps = (oldEps.filter(\.isLocal) + (remoteEndpoints[name] ?? [])).sorted()
                if newEps != oldEps.sorted() {
                    try ServiceStore.setEndpoints(newEps, of: name, in: db)
                    changes.append(ServiceChange(old: ServiceState(s, oldEps), new: ServiceState(s, newEps)))
                    changed.insert(name)
                }
            }
            let any = try !ServiceStore.all(in: db).isEmpty
            if any { try host.ensureServiceRoute(range) }
            if !changes.isEmpty {
                try host.applyServices(changes, hairpinAdd: Array(Set(hairpinAdd)), hairpinRemove: Array(Set(hairpinRemove)))
            }
            return (range, any, changed)
        }
        if !needRoute, try host.serviceRouteExists(routeRange) { try host.removeServiceRoute(routeRange) }
        if touchedNames { refreshServiceNames() }
        if !changedNames.isEmpty { refreshIngressesReporting(services: changedNames) }
        return problems
    }

    /// Two records of one service that program the same rules (ids, labels and dates aside).
    static func sameSpec(_ a: ServiceRecord, _ b: ServiceRecord) -> Bool {
        a.name == b.name && a.type == b.type && a.clusterIP == b.clusterIP && a.selector == b.selector && a.ports == b.ports
            && a.sessionAffinity == b.sessionAffinity && a.affinityTimeout == b.affinityTimeout
            && a.externalTrafficPolicy == b.externalTrafficPolicy && a.labels == b.labels
    }
}
