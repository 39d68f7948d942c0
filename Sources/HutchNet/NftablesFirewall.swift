import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// nftables backend: `table ip hutch`, hutch's alone. Base chains hold only jumps (kube-proxy's
/// pattern); each feature owns the chains, maps and sets it jumps to.
///
/// ```
/// table ip hutch {
///   # base chains: created once, never flushed; only the jump list (`features`)
///   chain forward        { filter forward  filter;  jump networks-forward }
///   chain prerouting     { nat prerouting  dstnat;  fib daddr type local jump ports-dnat }
///   chain output         { nat output      -100;    fib daddr type local jump ports-dnat }
///   chain postrouting    { nat postrouting srcnat;  jump networks-postrouting; jump ports-postrouting }
///   chain raw-prerouting { filter prerouting raw;   jump networks-localnet }
///   chain filter-input / filter-forward / filter-output { filter … -10; jump services-reject }
///   #   services: prerouting/output -> services-dnat, services-nodeports (ServiceProxyNftables.swift)
///   #   cluster (issue 16, opt-in: on a cluster node only): forward and postrouting -> insert jump cluster-* (first)
///
///   # cluster: pod traffic inside the cluster CIDR is forwarded and never masqueraded
///   set cluster_cidrs { ipv4_addr; interval }   set cluster_bridges { ifname }
///   chain cluster-forward     { ip saddr @cluster_cidrs ip daddr @cluster_cidrs accept }
///   chain cluster-postrouting { ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept }
///
///   # networks: one map element and one chain per hook and network
///   map bridges { ifname : verdict }            map subnets { ipv4_addr : verdict; interval }
///   chain networks-forward     { oifname vmap @bridges; iifname vmap @bridges }   # -> fwd-NET
///   chain networks-postrouting { ip saddr vmap @subnets }                         # -> nat-NET
///   chain networks-localnet    { iifname != "lo" ip daddr 127.0.0.0/8 drop }      # CVE-2020-8558
///   chain fwd-NET { ... }   chain nat-NET { ... }
///
///   # published ports: one element per mapping, written over libnftnl (no cache, no read)
///   map tcp_ports / udp_ports { ipv4_addr . inet_service : ipv4_addr . inet_service }
///   map tcp_any / udp_any     { inet_service : ipv4_addr . inet_service }
///   set hairpin { ipv4_addr . ipv4_addr . inet_proto . inet_service }   set bridge_ifs { ifname }
///   chain ports-dnat        { dnat ip to ... map @tcp_ports ... }
///   chain ports-postrouting { hairpin masquerade; localhost masquerade }
/// }
/// ```
/// Setting a network up or tearing it down touches only its own elements and chains, whatever the
/// number of networks; publishing a port writes only elements. The base chains and the jumps are
/// created when a jump is missing (read with a one-chain rule dump, no cache) and never flushed,
/// so a rule or chain that someone else added to the table stays. Every change is one atomic batch.
public struct NftablesFirewall: Firewall {
    public var kind: FirewallKind { .nftables }
    /// Serializes the check-then-add of the base chains' jumps between hutch processes.
    public var lockPath: String
    public init(lockPath: String = "/run/hutch-nftables.lock") { self.lockPath = lockPath }

    public static let table = "ip hutch"

    // MARK: base chains and the jump list

    /// A chain hooked into the kernel. It holds only jumps; hutch never flushes it.
    public struct BaseChain: Sendable {
        public var name: String
        public var hook: String
    }

    public static let baseChains: [BaseChain] = [
        BaseChain(name: "forward", hook: "type filter hook forward priority filter; policy accept;"),
        BaseChain(name: "prerouting", hook: "type nat hook prerouting priority dstnat; policy accept;"),
        // `priority dstnat` is refused for output by nft 1.0.6
        BaseChain(name: "output", hook: "type nat hook output priority -100; policy accept;"),
        BaseChain(name: "postrouting", hook: "type nat hook postrouting priority srcnat; policy accept;"),
        BaseChain(name: "raw-prerouting", hook: "type filter hook prerouting priority raw; policy accept;"),
        // services: before `forward` (whose network chains accept), so a refusal comes first
        BaseChain(name: "filter-input", hook: "type filter hook input priority -10; policy accept;"),
        BaseChain(name: "filter-forward", hook: "type filter hook forward priority -10; policy accept;"),
        BaseChain(name: "filter-output", hook: "type filter hook output priority -10; policy accept;"),
    ]

    /// One entry of a base chain's jump list: `[match] jump to`, in base chain `from`.
    public struct Jump: Sendable, Hashable {
        public var from: String
        public var match: String
        public var to: String
        /// Inserted at the head of the base chain rather than appended (the cluster's accepts
        /// must come before the networks' drop and MASQUERADE).
        public var first: Bool = false
        var command: String { (first ? "insert" : "add") + " rule \(table) \(from) " + (match.isEmpty ? "" : match + " ") + "jump \(to)\n" }
    }

    /// What a feature owns: its maps, sets and chains with their fixed rules (`objects`: nft
    /// commands that may flush only the feature's own chains), and the jumps into them.
    public struct Feature: Sendable {
        public var name: String
        public var objects: String
        public var jumps: [Jump]
    }

    /// The features, in the order their jumps are added. A new feature (services) adds an entry.
    public static let features: [Feature] = [networks, ports, services]
    /// Features installed only by their first use (a host that never joins a cluster has none
    /// of the cluster's chains): `ensureSkeleton(with:)` adds them to the list.
    public static let optInFeatures: [Feature] = [cluster]

    /// The batch creating the base chains and whatever the jump lists lack, given the jumps each
    /// base chain holds now (`present[chain]`: jump targets). A feature with a missing jump (or
    /// named in `reinstalling`) gets its objects (re)created in the same transaction, so a jump
    /// never points at a chain that lacks its rules. nil when every jump is there and nothing is
    /// to be reinstalled. Nothing is flushed but the chains of the features being installed.
    /// (A batch of its own: nft 1.0.6 fails to add an element to an interval map created in the
    /// same batch.)
    public static func renderSkeleton(present: [String: Set<String>], reinstalling: Set<String> = [],
                                      with extra: [Feature] = []) -> String? {
        func missing(_ j: Jump) -> Bool { !(present[j.from] ?? []).contains(j.to) }
        let todo = (features + extra).filter { f in reinstalling.contains(f.name) || f.jumps.contains(where: missing) }
        if todo.isEmpty { return nil }
        var s = "add table \(table) { comment \"hutch container networks\"; }\n"
        for b in baseChains { s += "add chain \(table) \(b.name) { \(b.hook) }\n" }
        for f in todo { s += f.objects }
        for f in todo { for j in f.jumps where missing(j) { s += j.command } }
        return s
    }

    /// The jump targets each base chain holds now: one filtered rule dump per base chain.
    static func presentJumps() throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        var buf = [CChar](repeating: 0, count: 16 * 1024)
        for b in Set((features + optInFeatures).flatMap { $0.jumps.map(\.from) }) {
            let r = hn_nft_chain_jumps("hutch", b, &buf, buf.count)
            if r < 0 { throw HutchError("nft: read the jumps of chain \(b) in table ip hutch failed: \(errnoString(-r))") }
            out[b] = Set(String(decoding: buf.prefix(Int(r)).map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: "\n").map(String.init))
        }
        return out
    }

    /// Creates the base chains and the missing jumps (with their features' objects). Cheap when
    /// all is there: a read of the base chains, no write.
    func ensureSkeleton(reinstalling: Set<String> = [], with extra: [Feature] = []) throws {
        let fd = hn_lock_file(lockPath)  // best effort: without it two processes may add a jump twice
        defer { if fd >= 0 { hn_unlock_file(fd) } }
        if let batch = Self.renderSkeleton(present: try Self.presentJumps(), reinstalling: reinstalling, with: extra) {
            try Self.run(batch, step: "nft: create the base chains of table ip hutch")
        }
    }

    /// Deletes hutch's whole table: every feature and the base chains. Missing is fine.
    public func removeAll() throws {
        try Self.run("add table \(Self.table)\ndelete table \(Self.table)\n", step: "nft: delete table ip hutch")
    }

    static func quoted(_ s: String) -> String { "\"" + s + "\"" }

    /// Runs one batch (`nft -f -`) in the caller's netns; returns nft's output (for `list`).
    @discardableResult
    public static func run(_ batch: String, step: String = "nft") throws -> String {
        var out: UnsafeMutablePointer<CChar>?
        var err: UnsafeMutablePointer<CChar>?
        let r = hn_nft_run(batch, &out, &err)
        defer { hn_free(out); hn_free(err) }
        if r != 0 {
            let text = err.map { String(cString: $0) }?.trimmingSpaces() ?? ""
            throw HutchError("\(step) failed: " + (text.isEmpty ? errnoString(-r) : text))
        }
        return out.map { String(cString: $0) } ?? ""
    }
}

// MARK: feature: networks

extension NftablesFirewall {
    static let networkMaps = """
        add map \(table) bridges { type ifname : verdict; }
        add map \(table) subnets { type ipv4_addr : verdict; flags interval; }

        """

    static let networks = Feature(
        name: "networks",
        objects: networkMaps + """
            add chain \(table) networks-forward
            flush chain \(table) networks-forward
            add rule \(table) networks-forward oifname vmap @bridges
            add rule \(table) networks-forward iifname vmap @bridges
            add chain \(table) networks-postrouting
            flush chain \(table) networks-postrouting
            add rule \(table) networks-postrouting ip saddr vmap @subnets
            add chain \(table) networks-localnet
            flush chain \(table) networks-localnet
            add rule \(table) networks-localnet iifname != "lo" ip daddr 127.0.0.0/8 drop comment "hutch: CVE-2020-8558"

            """,
        // into a bridge is dispatched first (oifname), so isolation wins over "out of"
        jumps: [Jump(from: "forward", match: "", to: "networks-forward"),
                Jump(from: "postrouting", match: "", to: "networks-postrouting"),
                Jump(from: "raw-prerouting", match: "", to: "networks-localnet")])

    static func fwdChain(_ n: BridgeNetwork) -> String { "fwd-" + n.name }
    static func natChain(_ n: BridgeNetwork) -> String { "nat-" + n.name }

    /// The per-network batch: (re)creates the network's chains with their rules and its elements.
    public static func renderSetup(_ n: BridgeNetwork) -> String {
        let fwd = fwdChain(n), nat = natChain(n), br = quoted(n.bridge), c = "comment \(quoted(n.ruleComment))"
        var s = """
        add chain \(table) \(fwd)
        flush chain \(table) \(fwd)

        """
        if n.isInternal {
            s += """
            add rule \(table) \(fwd) iifname \(br) oifname \(br) accept \(c)
            add rule \(table) \(fwd) drop \(c)

            """
        } else {
            s += """
            add rule \(table) \(fwd) oifname \(br) ct state established,related accept \(c)
            add rule \(table) \(fwd) oifname \(br) ct status dnat accept \(c)
            add rule \(table) \(fwd) iifname \(br) accept \(c)
            add rule \(table) \(fwd) oifname \(br) drop \(c)

            """
        }
        s += "add element \(table) bridges { \(br) : jump \(fwd) }\n"
        if n.isInternal {
            // No way out; also removes the MASQUERADE of an earlier non-internal network of this name.
            s += natTeardown(n)
        } else {
            s += """
            add chain \(table) \(nat)
            flush chain \(table) \(nat)
            add rule \(table) \(nat) oifname != \(br) masquerade \(c)
            add element \(table) subnets { \(n.subnet) : jump \(nat) }

            """
        }
        return s
    }

    /// Removes the network's elements and chains, and the bridge from the ports' `bridge_ifs`.
    /// Each object is first added (a no-op when it exists) so the deletes cannot fail on what is
    /// already gone: nft 1.0.6 has no `destroy`. Needs no base chain. Always removes both chains,
    /// so it also cleans up after a network whose isInternal changed.
    public static func renderTeardown(_ n: BridgeNetwork) -> String {
        let fwd = fwdChain(n), br = quoted(n.bridge)
        return "add table \(table)\n" + networkMaps + """
        add chain \(table) \(fwd)
        add element \(table) bridges { \(br) : jump \(fwd) }
        delete element \(table) bridges { \(br) }
        flush chain \(table) \(fwd)
        delete chain \(table) \(fwd)

        """ + natTeardown(n) + forgetBridge(n)
    }

    static func natTeardown(_ n: BridgeNetwork) -> String {
        let nat = natChain(n)
        return """
        add chain \(table) \(nat)
        add element \(table) subnets { \(n.subnet) : jump \(nat) }
        delete element \(table) subnets { \(n.subnet) }
        flush chain \(table) \(nat)
        delete chain \(table) \(nat)

        """
    }

    public func setupNetwork(_ n: BridgeNetwork) throws {
        try ensureSkeleton()
        try Self.run(Self.renderSetup(n), step: "nft: rules of network \(n.name)")
    }

    public func teardownNetwork(_ n: BridgeNetwork) throws {
        try Self.run(Self.renderTeardown(n), step: "nft: remove rules of network \(n.name)")
    }
}

// MARK: feature: published ports

/// One element of the port maps, as plain data: the bytes libnftnl sends (golden-tested).
public struct NftElement: Hashable, Sendable {
    public var set: String
    public var key: [UInt8]
    public var data: [UInt8]
    public var comment: String
}

extension NftablesFirewall {
    static let ports = Feature(
        name: "ports",
        objects: """
            add map \(table) tcp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
            add map \(table) udp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
            add map \(table) tcp_any { type inet_service : ipv4_addr . inet_service; }
            add map \(table) udp_any { type inet_service : ipv4_addr . inet_service; }
            add set \(table) hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
            \(bridgeIfs)
            add chain \(table) ports-dnat
            flush chain \(table) ports-dnat
            add rule \(table) ports-dnat dnat ip to ip daddr . tcp dport map @tcp_ports
            add rule \(table) ports-dnat dnat ip to tcp dport map @tcp_any
            add rule \(table) ports-dnat dnat ip to ip daddr . udp dport map @udp_ports
            add rule \(table) ports-dnat dnat ip to udp dport map @udp_any
            add chain \(table) ports-postrouting
            flush chain \(table) ports-postrouting
            add rule \(table) ports-postrouting ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade comment "hutch: hairpin"
            add rule \(table) ports-postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridge_ifs masquerade comment "hutch: localhost"

            """,
        jumps: [Jump(from: "prerouting", match: "fib daddr type local", to: "ports-dnat"),
                Jump(from: "output", match: "fib daddr type local", to: "ports-dnat"),
                Jump(from: "postrouting", match: "", to: "ports-postrouting")])

    static let bridgeIfs = "add set \(table) bridge_ifs { type ifname; }"

    /// A network's teardown takes its bridge out of the ports' `bridge_ifs` (added by `addPorts`).
    static func forgetBridge(_ n: BridgeNetwork) -> String {
        let br = quoted(n.bridge)
        return """
        \(bridgeIfs)
        add element \(table) bridge_ifs { \(br) }
        delete element \(table) bridge_ifs { \(br) }

        """
    }

    public func addPorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        let els = Self.elements(ports, adding: true)
        var r = Self.apply(els, add: true)
        if r == -ENOENT {
            // The table or a map is missing (first port ever, or someone ran `nft flush ruleset`):
            // create the skeleton once, then retry.
            try ensureSkeleton(reinstalling: ["ports"])
            r = Self.apply(els, add: true)
        }
        if r < 0 { throw HutchError("nft: publish ports (\(Self.describe(ports))) failed: \(errnoString(-r))") }
        flushUDPConntrack(ports)
    }

    public func removePorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        let els = Self.elements(ports, adding: false)
        var r = Self.apply(els, add: false)
        if r == -ENOENT { r = 0 }  // no table, no maps: nothing to remove
        if r == -EBUSY {
            // A key now belongs to another owner (different data): remove the rest one by one and
            // leave the other owner's element alone.
            r = 0
            for e in els {
                let one = Self.apply([e], add: false)
                if one < 0 && one != -EBUSY && one != -ENOENT { r = one }
            }
        }
        if r < 0 { throw HutchError("nft: unpublish ports (\(Self.describe(ports))) failed: \(errnoString(-r))") }
        flushUDPConntrack(ports)
    }

    static func describe(_ ports: [PortForward]) -> String {
        ports.prefix(3).map { "\($0.mapping.hostIPString):\($0.mapping.hostPort)/\($0.mapping.proto.rawValue)" }
            .joined(separator: ", ") + (ports.count > 3 ? ", …" : "")
    }

    /// The elements of the given ports:
    /// - `tcp_ports`/`udp_ports { HOSTIP . HOSTPORT : CIP . CPORT }` when a host address is given,
    ///   `tcp_any`/`udp_any { HOSTPORT : CIP . CPORT }` otherwise (every local address, 127.0.0.1 included);
    /// - `hairpin { CIP . CIP . PROTO . CPORT }` (not for loopback-only mappings: a container cannot
    ///   reach the host's 127.0.0.1);
    /// - when adding, `bridge_ifs { BRIDGE }` (localhost masquerade), once per bridge; never removed
    ///   here (the network's teardown does).
    /// Each carries its owner's comment. Grouped by set, so a batch is one message per set.
    public static func elements(_ ports: [PortForward], adding: Bool) -> [NftElement] {
        var bySet: [String: [NftElement]] = [:]
        var seen = Set<NftElement>()
        func put(_ e: NftElement) { if seen.insert(e).inserted { bySet[e.set, default: []].append(e) } }
        for p in ports {
            let m = p.mapping, c = p.ruleComment
            let value = ipv4(p.containerIP) + port(m.containerPort)
            if let hip = m.hostIP {
                put(NftElement(set: "\(m.proto.rawValue)_ports", key: ipv4(hip) + port(m.hostPort), data: value, comment: c))
            } else {
                put(NftElement(set: "\(m.proto.rawValue)_any", key: Array(port(m.hostPort).prefix(2)), data: value, comment: c))
            }
            if !(m.hostIP?.isLoopback ?? false) {
                let pnum: UInt8 = m.proto == .tcp ? 6 : 17
                put(NftElement(set: "hairpin",
                               key: ipv4(p.containerIP) + ipv4(p.containerIP) + [pnum, 0, 0, 0] + port(m.containerPort),
                               data: [], comment: c))
            }
            if adding {
                // ifname keys are IFNAMSIZ (16) bytes, NUL padded
                var k = Array(p.network.bridge.utf8.prefix(15)); k += [UInt8](repeating: 0, count: 16 - k.count)
                put(NftElement(set: "bridge_ifs", key: k, data: [], comment: p.network.ruleComment))
            }
        }
        let order = ["tcp_ports", "tcp_any", "udp_ports", "udp_any", "hairpin", "bridge_ifs"]
        return order.flatMap { bySet[$0] ?? [] }
    }

    static func ipv4(_ a: IPv4Address) -> [UInt8] { a.octets }
    /// inet_service in a concatenation: 2 bytes big endian, padded to 4.
    static func port(_ p: UInt16) -> [UInt8] { [UInt8(p >> 8), UInt8(p & 0xff), 0, 0] }

    /// Sends the elements in one transaction (libnftnl, no cache): 0 or -errno.
    static func apply(_ els: [NftElement], add: Bool) -> Int32 {
        let strings = els.map { (strdup($0.set)!, strdup($0.comment)!) }
        defer { for (a, b) in strings { free(a); free(b) } }
        let keys = els.map { $0.key }, datas = els.map { $0.data }
        var bufs: [UnsafeMutablePointer<UInt8>] = []
        defer { for b in bufs { b.deallocate() } }
        func copy(_ a: [UInt8]) -> UnsafeMutablePointer<UInt8> {
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(a.count, 1))
            p.initialize(from: a, count: a.count); bufs.append(p); return p
        }
        var cels: [hn_nft_elem] = []
        for i in els.indices {
            cels.append(hn_nft_elem(set: strings[i].0, key: copy(keys[i]), key_len: UInt32(keys[i].count),
                                    data: datas[i].isEmpty ? nil : copy(datas[i]), data_len: UInt32(datas[i].count),
                                    comment: strings[i].1))
        }
        return cels.withUnsafeBufferPointer { hn_nft_set_elems("hutch", $0.baseAddress, $0.count, add ? 1 : 0, ShimLocator.lingerHelper) }
    }
}

// MARK: feature: cluster

extension NftablesFirewall {
    static let clusterSets = """
        add set \(table) cluster_cidrs { type ipv4_addr; flags interval; }
        add set \(table) cluster_bridges { type ifname; }

        """

    static let cluster = Feature(
        name: "cluster",
        objects: clusterSets + """
            add chain \(table) cluster-forward
            flush chain \(table) cluster-forward
            add rule \(table) cluster-forward ip saddr @cluster_cidrs ip daddr @cluster_cidrs accept comment "hutch:cluster"
            add chain \(table) cluster-postrouting
            flush chain \(table) cluster-postrouting
            add rule \(table) cluster-postrouting ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept comment "hutch:cluster"

            """,
        jumps: [Jump(from: "forward", match: "", to: "cluster-forward", first: true),
                Jump(from: "postrouting", match: "", to: "cluster-postrouting", first: true)])

    static let clusterAccept = "add rule \(table) cluster-postrouting ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept comment \"hutch:cluster\"\n"

    /// The cluster's elements (its CIDR, the node's pod bridge) and its postrouting chain anew:
    /// off-cluster sources DNAT'ed to another node's pod take the pod gateway's address.
    public static func renderClusterSetup(_ c: ClusterRules) -> String {
        "add element \(table) cluster_cidrs { \(c.cidr) }\nadd element \(table) cluster_bridges { \(quoted(c.bridge)) }\n"
            + "flush chain \(table) cluster-postrouting\n"
            + "add rule \(table) cluster-postrouting ip saddr != @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges ct status dnat snat to \(c.gateway) comment \"hutch:cluster\"\n"
            + clusterAccept
    }

    /// Removes the elements (each first added, so a missing one is fine) and the gateway's rule;
    /// the chains stay with their fixed rules (empty sets match nothing).
    public static func renderClusterTeardown(_ c: ClusterRules) -> String {
        "add table \(table)\n" + clusterSets
            + "add element \(table) cluster_cidrs { \(c.cidr) }\nadd element \(table) cluster_bridges { \(quoted(c.bridge)) }\n"
            + "delete element \(table) cluster_cidrs { \(c.cidr) }\ndelete element \(table) cluster_bridges { \(quoted(c.bridge)) }\n"
            + "add chain \(table) cluster-postrouting\nflush chain \(table) cluster-postrouting\n" + clusterAccept
    }

    public func setupCluster(_ c: ClusterRules) throws {
        try ensureSkeleton(with: [Self.cluster])
        try Self.run(Self.renderClusterSetup(c), step: "nft: rules of the cluster network \(c.cidr)")
    }

    public func teardownCluster(_ c: ClusterRules) throws {
        try Self.run(Self.renderClusterTeardown(c), step: "nft: remove rules of the cluster network \(c.cidr)")
    }
}
