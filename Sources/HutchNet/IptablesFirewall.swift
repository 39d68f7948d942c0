import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// iptables backend: `iptables-restore -w --noflush` batches into hutch's own chains. Base chains
/// hold only jumps (kube-proxy's pattern); each feature owns the chains it jumps to.
///
/// ```
/// built-in           hutch base chain (jumps only)   feature chains
/// filter FORWARD     -I -> HUTCH-FORWARD      -> HUTCH-NETWORKS        networks: per-network forward rules
/// nat    PREROUTING  -A -> HUTCH-PREROUTING   -> HUTCH                 ports: DNAT (local destinations)
/// nat    OUTPUT      -A -> HUTCH-OUTPUT       -> HUTCH                 ports: DNAT (local destinations)
/// nat    POSTROUTING -I -> HUTCH-POSTROUTING  -> HUTCH-NETWORKS-MASQ   networks: MASQUERADE of subnets
///                                             -> HUTCH-PORTS-MASQ      ports: hairpin, localhost
/// raw    PREROUTING  -I -> HUTCH-RAW          -> HUTCH-LOCALNET        networks: CVE-2020-8558 guard
///                     services (ServiceProxyIptables.swift): HUTCH-PREROUTING/HUTCH-OUTPUT -> HUTCH-SERVICES,
///                     HUTCH-POSTROUTING -> HUTCH-SERVICES-MASQ, filter HUTCH-FILTER-* -> HUTCH-SERVICES-REJECT
/// filter FORWARD        HUTCH-FORWARD     -I -> HUTCH-CLUSTER         cluster (opt-in, a cluster node's):
/// nat    POSTROUTING    HUTCH-POSTROUTING -I -> HUTCH-CLUSTER-MASQ      accept, and no MASQUERADE, inside the cluster CIDR
/// ```
/// A missing chain is declared and a missing jump added in the batch of the change that needs
/// them; a chain that exists is never declared again (with --noflush that would flush it), so no
/// chain is ever flushed, and a rule that another program put in a hutch chain stays.
/// Every rule of a network carries `-m comment --comment "hutch:NAME"`, every rule of a port
/// `"hutch:<container id>"`. A change reads the tables it touches once (`iptables-save -t TABLE`),
/// then applies one batch that deletes the owner's existing rules (by their saved text) and adds
/// the new ones, so running it twice leaves one copy. Read-modify-write runs under an flock so
/// concurrent hutch processes do not interleave.
///
/// Rule order in HUTCH-NETWORKS: each network's "into the bridge" rules are inserted at the top and
/// its "out of the bridge" rules appended at the bottom, so a packet from one network to another
/// meets the destination's drop before the source's accept (isolation), whatever the order in
/// which the networks were created.
public struct IptablesFirewall: Firewall {
    public var kind: FirewallKind { .iptables }
    public var lockPath: String

    public init(lockPath: String = "/run/hutch-iptables.lock") { self.lockPath = lockPath }

    // MARK: base chains and the jump list

    /// A hutch chain jumped to from a built-in chain; it holds only the jump list.
    public struct BaseChain: Sendable {
        public var table: String
        public var name: String
        public var builtin: String
        /// Jumped to from the top of the built-in chain (-I), or from its end (-A).
        public var first: Bool
        var jump: String { "-A \(builtin) -j \(name)" }
    }

    public static let baseChains: [BaseChain] = [
        BaseChain(table: "filter", name: "HUTCH-FORWARD", builtin: "FORWARD", first: true),
        BaseChain(table: "nat", name: "HUTCH-PREROUTING", builtin: "PREROUTING", first: false),
        BaseChain(table: "nat", name: "HUTCH-OUTPUT", builtin: "OUTPUT", first: false),
        BaseChain(table: "nat", name: "HUTCH-POSTROUTING", builtin: "POSTROUTING", first: true),
        BaseChain(table: "raw", name: "HUTCH-RAW", builtin: "PREROUTING", first: true),
        // services: a refusal comes before the networks' accept (inserted above HUTCH-FORWARD)
        BaseChain(table: "filter", name: "HUTCH-FILTER-INPUT", builtin: "INPUT", first: true),
        BaseChain(table: "filter", name: "HUTCH-FILTER-FORWARD", builtin: "FORWARD", first: true),
        BaseChain(table: "filter", name: "HUTCH-FILTER-OUTPUT", builtin: "OUTPUT", first: true),
    ]

    /// A chain owned by a feature.
    public struct Chain: Sendable, Hashable {
        public var table: String
        public var name: String
    }

    /// One entry of a base chain's jump list, as iptables-save prints it.
    public struct Jump: Sendable, Hashable {
        public var table: String
        public var from: String
        public var match: String
        public var to: String
        /// Inserted at the head of the base chain rather than appended.
        public var first: Bool = false
        var rule: String { "-A \(from) " + (match.isEmpty ? "" : match + " ") + "-j \(to)" }
        var command: String { first ? "-I" + rule.dropFirst(2) : rule }
    }

    /// What a feature owns: its chains, the rules it keeps in them whatever the owners (`fixed`,
    /// in save form), and the jumps into them.
    public struct Feature: Sendable {
        public var name: String
        public var chains: [Chain]
        public var fixed: [(table: String, rule: String)]
        public var jumps: [Jump]
    }

    /// The features, in the order their jumps are added. A new feature (services) adds an entry.
    public static let features: [Feature] = [networks, ports, services]
    /// Features installed only by their first use (the cluster's, on a cluster node).
    public static let optInFeatures: [Feature] = [cluster]

    /// What `table` lacks of the base chains, the features' chains, the jump lists and the fixed
    /// rules, as restore lines: chains are declared only when absent (declaring one that exists
    /// would flush it), rules added only when absent.
    public static func renderSkeleton(_ table: String, _ st: SavedTable, with extra: [Feature] = []) -> String {
        var declare = "", jumps = ""
        for b in baseChains where b.table == table {
            if !st.chains.contains(b.name) { declare += ":\(b.name) - [0:0]\n" }
            if !st.has(b.jump) { jumps += (b.first ? "-I" : "-A") + b.jump.dropFirst(2) + "\n" }
        }
        // An opt-in feature already installed stays in the list (its chains and jumps kept whole).
        let installed = optInFeatures.filter { f in f.chains.contains { $0.table == table && st.chains.contains($0.name) } }
        var all = features
        for f in extra + installed where !all.contains(where: { $0.name == f.name }) { all.append(f) }
        for f in all {
            for c in f.chains where c.table == table && !st.chains.contains(c.name) { declare += ":\(c.name) - [0:0]\n" }
            for j in f.jumps where j.table == table && !st.has(j.rule) { jumps += j.command + "\n" }
            for r in f.fixed where r.table == table && !st.has(r.rule) { jumps += r.rule + "\n" }
        }
        return declare + jumps
    }

    /// Removes every HUTCH* chain (base and feature chains alike) and every jump to one from
    /// another chain; a chain of other software that a hutch chain jumped to stays (the jump goes
    /// with the hutch chain). nil when there is nothing.
    public static func renderRemoveAll(filter: SavedTable, nat: SavedTable, raw: SavedTable) -> String? {
        var s = ""
        for (name, st) in [("filter", filter), ("nat", nat), ("raw", raw)] {
            let mine = st.chains.filter { $0.hasPrefix("HUTCH") }.sorted()
            if mine.isEmpty { continue }
            var t = ""
            for l in st.rules {
                let chain = l.dropFirst(3).prefix { $0 != " " }
                guard !chain.hasPrefix("HUTCH"), let j = l.firstRange(of: " -j ") else { continue }
                if l[j.upperBound...].prefix(while: { $0 != " " }).hasPrefix("HUTCH") { t += "-D" + l.dropFirst(2) + "\n" }
            }
            for c in mine { t += "-F \(c)\n" }
            for c in mine { t += "-X \(c)\n" }
            s += "*\(name)\n" + t + "COMMIT\n"
        }
        return s.isEmpty ? nil : s
    }

    public func removeAll() throws {
        try locked {
            if let b = Self.renderRemoveAll(filter: try save("filter"), nat: try save("nat"), raw: try save("raw")) {
                try restore(b, step: "iptables: remove hutch's chains")
            }
        }
    }

    // MARK: applying

    func locked<T>(_ body: () throws -> T) throws -> T {
        // Best effort: without a writable lock path the batches are still atomic one by one.
        let fd = hn_lock_file(lockPath)
        defer { if fd >= 0 { hn_unlock_file(fd) } }
        return try body()
    }

    func tool(_ name: String) throws -> String {
        guard let t = systemTool(name) else { throw HutchError("\(name) not found (install iptables, or use --firewall nftables)") }
        return t
    }

    func save(_ table: String) throws -> SavedTable {
        let (status, out) = try Command.run([tool("iptables-save"), "-t", table])
        guard status == 0 else { throw HutchError("iptables-save -t \(table) failed: \(out.trimmingSpaces())") }
        return SavedTable(out)
    }

    public func restore(_ batch: String, step: String) throws {
        let (status, out) = try Command.run([tool("iptables-restore"), "-w", "10", "--noflush"], input: batch)
        guard status == 0 else { throw HutchError("\(step) failed: \(out.trimmingSpaces())") }
    }
}

/// One table as `iptables-save -t TABLE` prints it: its chains and its rules. Rules compare with
/// quotes dropped, so `--comment "hutch:x"` and `--comment hutch:x` are the same rule.
public struct SavedTable: Sendable {
    public private(set) var chains: Set<String> = []
    /// The "-A CHAIN ..." lines, as saved.
    public private(set) var rules: [String] = []
    private var normalized: Set<String> = []

    public init(_ save: String = "") {
        for l in save.split(separator: "\n") {
            if l.hasPrefix(":") { chains.insert(String(l.dropFirst().prefix { $0 != " " })) }
            else if l.hasPrefix("-A ") { rules.append(String(l)); normalized.insert(Self.normal(l)) }
        }
    }

    static func normal(_ l: some StringProtocol) -> String { String(l.filter { $0 != "\"" }) }

    public func has(_ rule: String) -> Bool { normalized.contains(Self.normal(rule)) }

    /// The rules of `chain` whose `--comment` is exactly `comment`, as saved.
    public func rules(in chain: String, comment: String) -> [String] {
        rules.filter { $0.hasPrefix("-A \(chain) ") && Self.comment(of: $0) == comment }
    }

    /// The value of `--comment` in a saved rule, without the quotes iptables-save may add.
    static func comment(of line: String) -> String? {
        guard let r = line.firstRange(of: "--comment ") else { return nil }
        let rest = line[r.upperBound...]
        if rest.first == "\"" {
            guard let end = rest.dropFirst().firstIndex(of: "\"") else { return nil }
            return String(rest[rest.index(after: rest.startIndex)..<end])
        }
        return String(rest.prefix { $0 != " " })
    }
}

// MARK: feature: networks

extension IptablesFirewall {
    public static let forwardChain = "HUTCH-NETWORKS"
    public static let masqChain = "HUTCH-NETWORKS-MASQ"
    public static let localnetChain = "HUTCH-LOCALNET"
    /// CVE-2020-8558: route_localnet on hutch's bridges must not let a neighbour reach 127.0.0.0/8.
    static let localnetGuard = "-A \(localnetChain) -d 127.0.0.0/8 ! -i lo -m comment --comment \"hutch:CVE-2020-8558\" -j DROP"

    static let networks = Feature(
        name: "networks",
        chains: [Chain(table: "filter", name: forwardChain), Chain(table: "nat", name: masqChain),
                 Chain(table: "raw", name: localnetChain)],
        fixed: [(table: "raw", rule: localnetGuard)],
        jumps: [Jump(table: "filter", from: "HUTCH-FORWARD", match: "", to: forwardChain),
                Jump(table: "nat", from: "HUTCH-POSTROUTING", match: "", to: masqChain),
                Jump(table: "raw", from: "HUTCH-RAW", match: "", to: localnetChain)])

    /// The network's rules: `top` inserted at the head of the chain (in this order), `bottom` appended.
    public static func forwardRules(_ n: BridgeNetwork) -> (top: [String], bottom: [String]) {
        let c = "-m comment --comment \"\(n.ruleComment)\"", br = n.bridge
        if n.isInternal {
            return (top: ["-i \(br) -o \(br) \(c) -j ACCEPT",
                          "-o \(br) \(c) -j DROP"],
                    bottom: ["-i \(br) \(c) -j DROP"])
        }
        // Traffic between members of the bridge first: with br_netfilter on, bridged frames pass
        // FORWARD too and would otherwise hit the DROP below (Docker has the same rule).
        return (top: ["-i \(br) -o \(br) \(c) -j ACCEPT",
                      "-o \(br) -m conntrack --ctstate RELATED,ESTABLISHED \(c) -j ACCEPT",
                      "-o \(br) -m conntrack --ctstate DNAT \(c) -j ACCEPT",
                      "-o \(br) \(c) -j DROP"],
                bottom: ["-i \(br) \(c) -j ACCEPT"])
    }

    public static func natRules(_ n: BridgeNetwork) -> [String] {
        n.isInternal ? [] : ["-s \(n.subnet) ! -o \(n.bridge) -m comment --comment \"\(n.ruleComment)\" -j MASQUERADE"]
    }

    /// The setup batch, given the tables now: the skeleton's missing parts, the deletion of the
    /// network's saved rules, its rules anew.
    public static func renderSetup(_ n: BridgeNetwork, filter: SavedTable, nat: SavedTable, raw: SavedTable) -> String {
        let f = forwardRules(n)
        var s = "*filter\n" + renderSkeleton("filter", filter) + deletes(n, filter, forwardChain)
        for r in f.top.reversed() { s += "-I \(forwardChain) 1 \(r)\n" }
        for r in f.bottom { s += "-A \(forwardChain) \(r)\n" }
        s += "COMMIT\n*nat\n" + renderSkeleton("nat", nat) + deletes(n, nat, masqChain)
        for r in natRules(n) { s += "-A \(masqChain) \(r)\n" }
        s += "COMMIT\n"
        let w = renderSkeleton("raw", raw)
        return s + (w.isEmpty ? "" : "*raw\n" + w + "COMMIT\n")
    }

    /// The teardown batch, nil when nothing of the network is left.
    public static func renderTeardown(_ n: BridgeNetwork, filter: SavedTable, nat: SavedTable) -> String? {
        let f = deletes(n, filter, forwardChain), t = deletes(n, nat, masqChain)
        if f.isEmpty && t.isEmpty { return nil }
        return (f.isEmpty ? "" : "*filter\n" + f + "COMMIT\n") + (t.isEmpty ? "" : "*nat\n" + t + "COMMIT\n")
    }

    static func deletes(_ n: BridgeNetwork, _ st: SavedTable, _ chain: String) -> String {
        st.rules(in: chain, comment: n.ruleComment).map { "-D" + $0.dropFirst(2) + "\n" }.joined()
    }

    public func setupNetwork(_ n: BridgeNetwork) throws {
        try locked {
            let b = Self.renderSetup(n, filter: try save("filter"), nat: try save("nat"), raw: try save("raw"))
            try restore(b, step: "iptables: rules of network \(n.name)")
        }
    }

    public func teardownNetwork(_ n: BridgeNetwork) throws {
        try locked {
            if let b = Self.renderTeardown(n, filter: try save("filter"), nat: try save("nat")) {
                try restore(b, step: "iptables: remove rules of network \(n.name)")
            }
        }
    }
}

// MARK: feature: published ports

extension IptablesFirewall {
    /// DNAT of published ports, like Docker's DOCKER chain.
    public static let dnatChain = "HUTCH"
    public static let portsMasqChain = "HUTCH-PORTS-MASQ"

    static let ports = Feature(
        name: "ports",
        chains: [Chain(table: "nat", name: dnatChain), Chain(table: "nat", name: portsMasqChain)],
        fixed: [],
        jumps: [Jump(table: "nat", from: "HUTCH-PREROUTING", match: "-m addrtype --dst-type LOCAL", to: dnatChain),
                Jump(table: "nat", from: "HUTCH-OUTPUT", match: "-m addrtype --dst-type LOCAL", to: dnatChain),
                Jump(table: "nat", from: "HUTCH-POSTROUTING", match: "", to: portsMasqChain)])

    /// The rules of one published port, in iptables-save form (`-A CHAIN ...`):
    /// DNAT in HUTCH (restricted to hostIP when set); MASQUERADE of hairpin traffic (the container to
    /// itself through the host's address; not for loopback-only mappings); MASQUERADE of the host's
    /// own 127.0.0.0/8 traffic DNAT'ed into the container (when 127.0.0.1 reaches the mapping).
    public static func portRules(_ p: PortForward) -> [String] {
        let m = p.mapping, pr = m.proto.rawValue
        let c = "-m comment --comment \"\(p.ruleComment)\""
        let dst = m.hostIP.map { " -d \($0)/32" } ?? ""
        var rules = ["-A \(dnatChain)\(dst) -p \(pr) -m \(pr) --dport \(m.hostPort) \(c) -j DNAT --to-destination \(p.containerIP):\(m.containerPort)"]
        let loopbackOnly = m.hostIP?.isLoopback ?? false
        if !loopbackOnly {
            rules.append("-A \(portsMasqChain) -s \(p.containerIP)/32 -d \(p.containerIP)/32 -p \(pr) -m \(pr) --dport \(m.containerPort) \(c) -j MASQUERADE")
        }
        if m.hostIP == nil || loopbackOnly {
            rules.append("-A \(portsMasqChain) -s 127.0.0.0/8 -d \(p.containerIP)/32 -p \(pr) -m \(pr) --dport \(m.containerPort) \(c) -j MASQUERADE")
        }
        return rules
    }

    /// The batch publishing `ports`, given the nat table now; nil when all is there.
    /// The skeleton's missing parts come along; a rule already present is not added twice.
    public static func renderAddPorts(_ ports: [PortForward], nat: SavedTable) -> String? {
        var n = renderSkeleton("nat", nat), seen = Set<String>()
        for p in ports {
            for l in portRules(p) where !nat.has(l) && seen.insert(l).inserted { n += l + "\n" }
        }
        return n.isEmpty ? nil : "*nat\n" + n + "COMMIT\n"
    }

    /// The batch removing `ports`' rules that are present; nil when none is.
    public static func renderRemovePorts(_ ports: [PortForward], nat: SavedTable) -> String? {
        var n = "", seen = Set<String>()
        for p in ports {
            for l in portRules(p) where nat.has(l) && seen.insert(l).inserted { n += "-D" + l.dropFirst(2) + "\n" }
        }
        return n.isEmpty ? nil : "*nat\n" + n + "COMMIT\n"
    }

    public func addPorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        try locked {
            if let b = Self.renderAddPorts(ports, nat: try save("nat")) { try restore(b, step: "iptables: publish ports") }
        }
        flushUDPConntrack(ports)
    }

    public func removePorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        try locked {
            if let b = Self.renderRemovePorts(ports, nat: try save("nat")) { try restore(b, step: "iptables: unpublish ports") }
        }
        flushUDPConntrack(ports)
    }
}

// MARK: feature: cluster

extension IptablesFirewall {
    public static let clusterChain = "HUTCH-CLUSTER"
    public static let clusterMasqChain = "HUTCH-CLUSTER-MASQ"
    static let clusterComment = "-m comment --comment \"hutch:cluster\""

    static let cluster = Feature(
        name: "cluster",
        chains: [Chain(table: "filter", name: clusterChain), Chain(table: "nat", name: clusterMasqChain)],
        fixed: [],
        jumps: [Jump(table: "filter", from: "HUTCH-FORWARD", match: "", to: clusterChain, first: true),
                Jump(table: "nat", from: "HUTCH-POSTROUTING", match: "", to: clusterMasqChain, first: true)])

    /// Pod traffic inside the cluster CIDR: forwarded, and not masqueraded unless it goes back
    /// into the node's own pod bridge (a hairpin through a published port keeps its MASQUERADE);
    /// an off-cluster source DNAT'ed to another node's pod takes the pod gateway's address.
    public static func clusterRules(_ r: ClusterRules) -> (filter: [String], nat: [String]) {
        let c = r.cidr
        return (filter: ["-A \(clusterChain) -s \(c) -d \(c) \(clusterComment) -j ACCEPT"],
                nat: ["-A \(clusterMasqChain) ! -s \(c) -d \(c) ! -o \(r.bridge) -m conntrack --ctstate DNAT \(clusterComment) -j SNAT --to-source \(r.gateway)",
                      "-A \(clusterMasqChain) -s \(c) -d \(c) ! -o \(r.bridge) \(clusterComment) -j ACCEPT"])
    }

    /// The setup batch: the skeleton's missing parts, the deletion of every hutch:cluster rule, the
    /// rules anew.
    public static func renderClusterSetup(_ c: ClusterRules, filter: SavedTable, nat: SavedTable) -> String {
        let r = clusterRules(c)
        var s = "*filter\n" + renderSkeleton("filter", filter, with: [cluster]) + clusterDeletes(filter, clusterChain)
        for l in r.filter { s += l + "\n" }
        s += "COMMIT\n*nat\n" + renderSkeleton("nat", nat, with: [cluster]) + clusterDeletes(nat, clusterMasqChain)
        for l in r.nat { s += l + "\n" }
        return s + "COMMIT\n"
    }

    /// The teardown batch, nil when no hutch:cluster rule is left.
    public static func renderClusterTeardown(filter: SavedTable, nat: SavedTable) -> String? {
        let f = clusterDeletes(filter, clusterChain), n = clusterDeletes(nat, clusterMasqChain)
        if f.isEmpty && n.isEmpty { return nil }
        return (f.isEmpty ? "" : "*filter\n" + f + "COMMIT\n") + (n.isEmpty ? "" : "*nat\n" + n + "COMMIT\n")
    }

    static func clusterDeletes(_ st: SavedTable, _ chain: String) -> String {
        st.rules(in: chain, comment: "hutch:cluster").map { "-D" + $0.dropFirst(2) + "\n" }.joined()
    }

    public func setupCluster(_ c: ClusterRules) throws {
        try locked {
            try restore(Self.renderClusterSetup(c, filter: try save("filter"), nat: try save("nat")),
                        step: "iptables: rules of the cluster network \(c.cidr)")
        }
    }

    public func teardownCluster(_ c: ClusterRules) throws {
        try locked {
            if let b = Self.renderClusterTeardown(filter: try save("filter"), nat: try save("nat")) {
                try restore(b, step: "iptables: remove rules of the cluster network \(c.cidr)")
            }
        }
    }
}
