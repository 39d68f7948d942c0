import HutchModel
import HutchOS
import CHutchNet

/// The services feature of the iptables backend: kube-proxy's iptables-mode layout, written with
/// `iptables-restore --noflush` batches that touch only the changed services' chains and rules.
///
/// ```
/// nat HUTCH-PREROUTING, HUTCH-OUTPUT -> HUTCH-SERVICES
///   HUTCH-SERVICES: -d VIP/32 -p tcp -m tcp --dport 80 (comment hutch:service:NAME) -j HUTCH-SVC-<hash>   (one per port with endpoints)
///                   ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS                     (fixed, last)
///   HUTCH-NODEPORTS: -p tcp -m tcp --dport NODEPORT -j HUTCH-EXT-<hash>
///   HUTCH-EXT-<hash>: [-j HUTCH-MARK-MASQ (Cluster policy)]; -j HUTCH-SVC-<hash> (Local: HUTCH-LCL-<hash>, local endpoints)
///   HUTCH-SVC-<hash>: [-m recent --rcheck --seconds T --reap -j HUTCH-SEP-x (ClientIP affinity, per endpoint)]
///                     -m statistic --mode random --probability 1/n -j HUTCH-SEP-1; … 1/(n-1) …; -j HUTCH-SEP-n
///   HUTCH-SEP-<hash>: -s EP/32 -j HUTCH-MARK-MASQ (hairpin); [-m recent --set]; -p tcp -m tcp -j DNAT --to-destination EP:TARGET
///   HUTCH-MARK-MASQ: -j MARK --set-xmark 0x4000/0x4000
/// nat HUTCH-POSTROUTING -> HUTCH-SERVICES-MASQ: not marked: RETURN; clear the mark; MASQUERADE --random-fully
/// filter HUTCH-FILTER-INPUT/-FORWARD/-OUTPUT (first in INPUT, FORWARD, OUTPUT) -> HUTCH-SERVICES-REJECT:
///   -d VIP/32 -p tcp -j REJECT --reject-with tcp-reset; -d VIP/32 -j REJECT (a packet to a ClusterIP that no
///   DNAT took: no endpoint); -m addrtype --dst-type LOCAL -p tcp -m tcp --dport NODEPORT -j REJECT … likewise
/// ```
/// A change saves the nat and filter tables once (to find the service's rules in the shared
/// chains by their comment), then one restore re-declares (flushes) and rewrites the service's
/// own chains, replaces its lines in the shared chains and deletes the chains it no longer needs.
extension IptablesFirewall {
    public static let servicesChain = "HUTCH-SERVICES"
    public static let nodePortsChain = "HUTCH-NODEPORTS"
    public static let markMasqChain = "HUTCH-MARK-MASQ"
    public static let servicesMasqChain = "HUTCH-SERVICES-MASQ"
    public static let rejectChain = "HUTCH-SERVICES-REJECT"
    static let ownedPrefixes = ["HUTCH-SVC-", "HUTCH-SEP-", "HUTCH-EXT-", "HUTCH-LCL-"]

    static let services = Feature(
        name: "services",
        chains: [Chain(table: "nat", name: servicesChain), Chain(table: "nat", name: nodePortsChain),
                 Chain(table: "nat", name: markMasqChain), Chain(table: "nat", name: servicesMasqChain),
                 Chain(table: "filter", name: rejectChain)],
        fixed: [(table: "nat", rule: "-A \(servicesChain) ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j \(nodePortsChain)"),
                (table: "nat", rule: "-A \(markMasqChain) -j MARK --set-xmark 0x4000/0x4000"),
                (table: "nat", rule: "-A \(servicesMasqChain) -m mark ! --mark 0x4000/0x4000 -j RETURN"),
                (table: "nat", rule: "-A \(servicesMasqChain) -j MARK --set-xmark 0x4000/0x0"),
                (table: "nat", rule: "-A \(servicesMasqChain) -j MASQUERADE --random-fully")],
        jumps: [Jump(table: "nat", from: "HUTCH-PREROUTING", match: "", to: servicesChain),
                Jump(table: "nat", from: "HUTCH-OUTPUT", match: "", to: servicesChain),
                Jump(table: "nat", from: "HUTCH-POSTROUTING", match: "", to: servicesMasqChain),
                Jump(table: "filter", from: "HUTCH-FILTER-INPUT", match: "", to: rejectChain),
                Jump(table: "filter", from: "HUTCH-FILTER-FORWARD", match: "", to: rejectChain),
                Jump(table: "filter", from: "HUTCH-FILTER-OUTPUT", match: "", to: rejectChain)])

    /// A chain name for `parts`: PREFIX + 16 hex digits of their FNV-1a hash (iptables allows 28
    /// characters), as kube-proxy names its chains by a hash of service and endpoint.
    static func chainName(_ prefix: String, _ parts: [String]) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in parts.joined(separator: "/").utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let hex = String(h, radix: 16, uppercase: true)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What one service owns in the iptables backend: its chains with their rules (rewritten
    /// whole), its lines in the shared chains (each with the service's comment).
    public struct ServiceRules: Equatable, Sendable {
        /// Chain name -> its rules (without the `-A CHAIN` prefix), in order.
        public var chains: [(String, [String])] = []
        /// Lines for HUTCH-SERVICES (inserted at its top), HUTCH-NODEPORTS, HUTCH-SERVICES-REJECT (filter).
        public var services: [String] = []
        public var nodePorts: [String] = []
        public var reject: [String] = []
        public static func == (a: Self, b: Self) -> Bool {
            a.chains.map(\.0) == b.chains.map(\.0) && a.chains.map(\.1) == b.chains.map(\.1)
                && a.services == b.services && a.nodePorts == b.nodePorts && a.reject == b.reject
        }
        public var chainNames: Set<String> { Set(chains.map(\.0)) }
    }

    /// kube-proxy's probabilities: endpoint i of n is taken with 1/(n-i), the last always.
    static func probability(_ i: Int, of n: Int) -> String {
        // iptables-save prints 11 decimals; so do we
        let scaled = Int((1e11 / Double(n - i)).rounded())
        var frac = String(scaled % 100_000_000_000)
        while frac.count < 11 { frac = "0" + frac }
        return "\(scaled / 100_000_000_000).\(frac)"
    }

    public static func serviceRules(_ st: ServiceState) -> ServiceRules {
        let s = st.service
        let c = "-m comment --comment \"hutch:\(s.owner)\""
        var out = ServiceRules()
        out.reject = ["-d \(s.clusterIP)/32 -p tcp \(c) -j REJECT --reject-with tcp-reset",
                      "-d \(s.clusterIP)/32 \(c) -j REJECT --reject-with icmp-port-unreachable"]
        for p in s.ports {
            let pr = p.proto.rawValue
            let portKey = [s.name, "\(p.port)", pr]
            let svc = chainName("HUTCH-SVC-", portKey)
            func balancing(_ eps: [ServiceEndpoint], _ chain: String) -> [(String, [String])] {
                var chains: [(String, [String])] = []
                var rules: [String] = []
                let seps = eps.map { chainName("HUTCH-SEP-", portKey + ["\($0.ip):\(p.targetPort)"]) }
                if s.sessionAffinity == .clientIP {
                    for sep in seps {
                        rules.append("-m recent --rcheck --seconds \(s.affinityTimeout) --reap --name \(sep) --mask 255.255.255.255 --rsource -j \(sep)")
                    }
                }
                for (i, sep) in seps.enumerated() {
                    rules.append(i == seps.count - 1 ? "-j \(sep)" : "-m statistic --mode random --probability \(probability(i, of: seps.count)) -j \(sep)")
                }
                chains.append((chain, rules))
                for (e, sep) in zip(eps, seps) {
                    var r = ["-s \(e.ip)/32 -j \(markMasqChain)"]
                    if s.sessionAffinity == .clientIP { r.append("-m recent --set --name \(sep) --mask 255.255.255.255 --rsource") }
                    r.append("-p \(pr) -m \(pr) -j DNAT --to-destination \(e.ip):\(p.targetPort)")
                    chains.append((sep, r))
                }
                return chains
            }
            let eps = st.endpoints
            if !eps.isEmpty {
                out.chains += balancing(eps, svc)
                out.services.append("-d \(s.clusterIP)/32 -p \(pr) -m \(pr) --dport \(p.port) \(c) -j \(svc)")
            }
            guard s.type == .nodePort, p.nodePort != 0 else { continue }
            out.reject.append("-p \(pr) -m addrtype --dst-type LOCAL -m \(pr) --dport \(p.nodePort) \(c) -j REJECT"
                              + (p.proto == .tcp ? " --reject-with tcp-reset" : " --reject-with icmp-port-unreachable"))
            let local = eps.filter(\.isLocal)
            let targets = s.externalTrafficPolicy == .local ? local : eps
            guard !targets.isEmpty else { continue }
            let ext = chainName("HUTCH-EXT-", portKey)
            var extRules: [String] = []
            if s.externalTrafficPolicy == .cluster { extRules.append("-j \(markMasqChain)") }
            if s.externalTrafficPolicy == .local && local.count != eps.count {
                let lcl = chainName("HUTCH-LCL-", portKey)
                out.chains += balancing(local, lcl).filter { $0.0 == lcl }
                extRules.append("-j \(lcl)")
            } else {
                extRules.append("-j \(svc)")
            }
            out.chains.append((ext, extRules))
            out.nodePorts.append("-p \(pr) -m \(pr) --dport \(p.nodePort) \(c) -j \(ext)")
        }
        return out
    }

    /// The restore batch for some services' changes, given the nat and filter tables now (its
    /// shared lines are found by their comment). Owned chains of the old state that the new one
    /// does not use are flushed and deleted; those it uses are re-declared (flushed) and written.
    public static func renderServices(_ changes: [ServiceChange], nat: SavedTable, filter: SavedTable) -> String {
        var declare = "", deletes = "", adds = "", remove = ""
        var fdel = "", fadd = ""
        for ch in changes {
            let comment = "hutch:\(((ch.new ?? ch.old)!).service.owner)"
            let new = ch.new.map(serviceRules) ?? ServiceRules()
            let old = ch.old.map(serviceRules) ?? ServiceRules()
            for chain in [servicesChain, nodePortsChain] {
                for l in nat.rules(in: chain, comment: comment) { deletes += "-D" + l.dropFirst(2) + "\n" }
            }
            for l in filter.rules(in: rejectChain, comment: comment) { fdel += "-D" + l.dropFirst(2) + "\n" }
            for (name, rules) in new.chains {
                declare += ":\(name) - [0:0]\n"
                for r in rules { adds += "-A \(name) \(r)\n" }
            }
            for l in new.services { adds += "-I \(servicesChain) 1 \(l)\n" }
            for l in new.nodePorts { adds += "-A \(nodePortsChain) \(l)\n" }
            for l in new.reject { fadd += "-A \(rejectChain) \(l)\n" }
            for name in old.chainNames.subtracting(new.chainNames).sorted() where nat.chains.contains(name) {
                declare += ":\(name) - [0:0]\n"
                remove += "-X \(name)\n"
            }
        }
        let n = renderSkeleton("nat", nat), f = renderSkeleton("filter", filter)
        return "*nat\n" + declare + n + deletes + adds + remove + "COMMIT\n*filter\n" + f + fdel + fadd + "COMMIT\n"
    }

    /// The batch making the services feature hold exactly `all`: every line with a service
    /// comment in the shared chains goes, every owned chain not in use is deleted.
    public static func renderReplaceServices(_ all: [ServiceState], nat: SavedTable, filter: SavedTable) -> String {
        var declare = "", deletes = "", adds = "", remove = "", fdel = "", fadd = ""
        func isService(_ l: String) -> Bool { SavedTable.comment(of: l)?.hasPrefix("hutch:" + ServiceRecord.ownerPrefix) == true }
        for l in nat.rules where (l.hasPrefix("-A \(servicesChain) ") || l.hasPrefix("-A \(nodePortsChain) ")) && isService(l) {
            deletes += "-D" + l.dropFirst(2) + "\n"
        }
        for l in filter.rules where l.hasPrefix("-A \(rejectChain) ") && isService(l) { fdel += "-D" + l.dropFirst(2) + "\n" }
        var used = Set<String>()
        for st in all {
            let r = serviceRules(st)
            for (name, rules) in r.chains {
                used.insert(name)
                declare += ":\(name) - [0:0]\n"
                for x in rules { adds += "-A \(name) \(x)\n" }
            }
            for l in r.services { adds += "-I \(servicesChain) 1 \(l)\n" }
            for l in r.nodePorts { adds += "-A \(nodePortsChain) \(l)\n" }
            for l in r.reject { fadd += "-A \(rejectChain) \(l)\n" }
        }
        for name in nat.chains.sorted() where ownedPrefixes.contains(where: { name.hasPrefix($0) }) && !used.contains(name) {
            declare += ":\(name) - [0:0]\n"
            remove += "-X \(name)\n"
        }
        let n = renderSkeleton("nat", nat), f = renderSkeleton("filter", filter)
        return "*nat\n" + declare + n + deletes + adds + remove + "COMMIT\n*filter\n" + f + fdel + fadd + "COMMIT\n"
    }

    public func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws {
        // Hairpin needs no shared state here: each endpoint chain marks its own address.
        guard !changes.isEmpty else { return }
        try locked {
            let b = Self.renderServices(changes, nat: try save("nat"), filter: try save("filter"))
            let names = changes.prefix(3).map(\.name).joined(separator: ", ") + (changes.count > 3 ? " and \(changes.count - 3) more" : "")
            try restore(b, step: "iptables: rules of service(s) \(names)")
        }
        flushServiceUDPConntrack(changes)
    }

    public func replaceServices(_ all: [ServiceState]) throws {
        try locked {
            let nat = try save("nat"), filter = try save("filter")
            if all.isEmpty && !nat.chains.contains(Self.servicesChain) { return }
            try restore(Self.renderReplaceServices(all, nat: nat, filter: filter), step: "iptables: rewrite the services' rules")
        }
    }
}
