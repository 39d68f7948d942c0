import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// nftables backend through libnftables: `table ip hutch`, hutch's alone.
///
/// ```
/// table ip hutch {
///     map bridges { type ifname : verdict; }                    # bridge -> jump fwd-NET
///     map subnets { type ipv4_addr : verdict; flags interval; }  # subnet -> jump nat-NET
///     chain forward { type filter hook forward priority filter; policy accept;
///         oifname vmap @bridges      # into a bridge first, so isolation wins over "out of"
///         iifname vmap @bridges }
///     chain postrouting { type nat hook postrouting priority srcnat; policy accept;
///         ip saddr vmap @subnets }
///     chain fwd-NET { ... }   chain nat-NET { ... }              # one pair per network
/// }
/// ```
/// A network is one map element plus one chain per hook, so setting one up or tearing it down never
/// touches another network's rules, and the dispatch costs one lookup whatever the number of
/// networks. Every change is one atomic batch.
public struct NftablesFirewall: Firewall {
    public var kind: FirewallKind { .nftables }
    public init() {}

    public static let table = "ip hutch"

    /// The skeleton, idempotent: `add` is a no-op for what exists, and the two base chains hold only
    /// hutch's dispatch rules, so they are flushed and refilled in the same transaction.
    /// (A separate batch: nft 1.0.6 fails to add an element to an interval map created in the same
    /// batch.)
    public static func renderSkeleton() -> String {
        """
        add table \(table) { comment "hutch container networks"; }
        add map \(table) bridges { type ifname : verdict; }
        add map \(table) subnets { type ipv4_addr : verdict; flags interval; }
        add set \(table) bridge_ifs { type ifname; }
        add map \(table) tcp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map \(table) udp_ports { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
        add map \(table) tcp_any { type inet_service : ipv4_addr . inet_service; }
        add map \(table) udp_any { type inet_service : ipv4_addr . inet_service; }
        add set \(table) hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
        add chain \(table) forward { type filter hook forward priority filter; policy accept; }
        add chain \(table) postrouting { type nat hook postrouting priority srcnat; policy accept; }
        add chain \(table) prerouting { type nat hook prerouting priority dstnat; policy accept; }
        add chain \(table) output { type nat hook output priority -100; policy accept; }
        add chain \(table) localnet-guard { type filter hook prerouting priority raw; policy accept; }
        add chain \(table) ports
        flush chain \(table) forward
        add rule \(table) forward oifname vmap @bridges comment "hutch"
        add rule \(table) forward iifname vmap @bridges comment "hutch"
        flush chain \(table) postrouting
        add rule \(table) postrouting ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade comment "hutch: hairpin"
        add rule \(table) postrouting ct status dnat ip saddr 127.0.0.0/8 oifname @bridge_ifs masquerade comment "hutch: localhost"
        add rule \(table) postrouting ip saddr vmap @subnets comment "hutch"
        flush chain \(table) prerouting
        add rule \(table) prerouting fib daddr type local jump ports comment "hutch"
        flush chain \(table) output
        add rule \(table) output fib daddr type local jump ports comment "hutch"
        flush chain \(table) ports
        add rule \(table) ports dnat ip to ip daddr . tcp dport map @tcp_ports comment "hutch"
        add rule \(table) ports dnat ip to tcp dport map @tcp_any comment "hutch"
        add rule \(table) ports dnat ip to ip daddr . udp dport map @udp_ports comment "hutch"
        add rule \(table) ports dnat ip to udp dport map @udp_any comment "hutch"
        flush chain \(table) localnet-guard
        add rule \(table) localnet-guard iifname != "lo" ip daddr 127.0.0.0/8 drop comment "hutch: CVE-2020-8558"

        """
    }

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
        s += "add element \(table) bridge_ifs { \(br) }\n"
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

    /// Removes the network's elements and chains. Each object is first added (a no-op when it
    /// exists) so the deletes cannot fail on what is already gone: nft 1.0.6 has no `destroy`.
    /// Always removes both chains, so it also cleans up after a network whose isInternal changed.
    public static func renderTeardown(_ n: BridgeNetwork) -> String {
        let fwd = fwdChain(n), br = quoted(n.bridge)
        return """
        add chain \(table) \(fwd)
        add element \(table) bridges { \(br) : jump \(fwd) }
        delete element \(table) bridges { \(br) }
        add element \(table) bridge_ifs { \(br) }
        delete element \(table) bridge_ifs { \(br) }
        flush chain \(table) \(fwd)
        delete chain \(table) \(fwd)

        """ + natTeardown(n)
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

    static func quoted(_ s: String) -> String { "\"" + s + "\"" }

    public func setupNetwork(_ n: BridgeNetwork) throws {
        try Self.run(Self.renderSkeleton(), step: "nft: create table ip hutch")
        try Self.run(Self.renderSetup(n), step: "nft: rules of network \(n.name)")
    }

    public func addPorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        let els = Self.elements(ports, adding: true)
        var r = Self.apply(els, add: true)
        if r == -ENOENT {
            // The table or a map is missing (first port ever, an older hutch's table, or someone ran
            // `nft flush ruleset`): create the skeleton once, then retry.
            try Self.run(Self.renderSkeleton(), step: "nft: create table ip hutch")
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

    public func teardownNetwork(_ n: BridgeNetwork) throws {
        try Self.run(Self.renderSkeleton(), step: "nft: create table ip hutch")
        try Self.run(Self.renderTeardown(n), step: "nft: remove rules of network \(n.name)")
    }

    /// Deletes hutch's whole table (uninstall, tests). Missing is fine.
    public func removeAll() throws {
        try Self.run("add table \(Self.table)\ndelete table \(Self.table)\n", step: "nft: delete table ip hutch")
    }

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

// MARK: published ports

/// One element of the port maps, as plain data (golden tests pin both the nft text and the bytes).
public struct NftElement: Hashable, Sendable {
    public var set: String
    public var key: [UInt8]
    public var data: [UInt8]
    public var comment: String
    /// The same element in nft syntax (what `nft list ruleset` shows).
    public var text: String
}

extension NftablesFirewall {
    /// The owner tag of a port element: `hutch:<container id>` (nft comments are limited to 128 bytes).
    /// The elements carry it for humans; the store's reservations are the owner record hutch uses.
    public static func portComment(_ owner: String) -> String { String(("hutch:" + owner).utf8.prefix(128))! }

    /// The elements of the given ports:
    /// - `tcp_ports`/`udp_ports { HOSTIP . HOSTPORT : CIP . CPORT }` when a host address is given,
    ///   `tcp_any`/`udp_any { HOSTPORT : CIP . CPORT }` otherwise (every local address, 127.0.0.1 included);
    /// - `hairpin { CIP . CIP . PROTO . CPORT }` (not for loopback-only mappings: a container cannot
    ///   reach the host's 127.0.0.1);
    /// - when adding, `bridge_ifs { BRIDGE }` (localhost masquerade), once per bridge; never removed
    ///   here (the network's teardown does).
    /// Elements are grouped by set, so a batch is one message per set.
    public static func elements(_ ports: [PortForward], adding: Bool) -> [NftElement] {
        var bySet: [String: [NftElement]] = [:]
        var seen = Set<NftElement>()
        func put(_ e: NftElement) { if seen.insert(e).inserted { bySet[e.set, default: []].append(e) } }
        for p in ports {
            let m = p.mapping, proto = m.proto.rawValue, c = portComment(p.owner)
            let value = ipv4(p.containerIP) + port(m.containerPort)
            let valueText = "\(p.containerIP) . \(m.containerPort)"
            if let hip = m.hostIP {
                put(NftElement(set: "\(proto)_ports", key: ipv4(hip) + port(m.hostPort), data: value, comment: c,
                               text: "\(hip) . \(m.hostPort) comment \(quoted(c)) : \(valueText)"))
            } else {
                put(NftElement(set: "\(proto)_any", key: Array(port(m.hostPort).prefix(2)), data: value, comment: c,
                               text: "\(m.hostPort) comment \(quoted(c)) : \(valueText)"))
            }
            if !(m.hostIP?.isLoopback ?? false) {
                let pnum: UInt8 = m.proto == .tcp ? 6 : 17
                put(NftElement(set: "hairpin",
                               key: ipv4(p.containerIP) + ipv4(p.containerIP) + [pnum, 0, 0, 0] + port(m.containerPort),
                               data: [], comment: c,
                               text: "\(p.containerIP) . \(p.containerIP) . \(proto) . \(m.containerPort) comment \(quoted(c))"))
            }
            if adding {
                // ifname keys are IFNAMSIZ (16) bytes, NUL padded
                var k = Array(p.network.bridge.utf8.prefix(15)); k += [UInt8](repeating: 0, count: 16 - k.count)
                put(NftElement(set: "bridge_ifs", key: k, data: [], comment: p.network.ruleComment,
                               text: "\(quoted(p.network.bridge)) comment \(quoted(p.network.ruleComment))"))
            }
        }
        let order = ["tcp_ports", "tcp_any", "udp_ports", "udp_any", "hairpin", "bridge_ifs"]
        return order.flatMap { bySet[$0] ?? [] }
    }

    /// The batch in nft syntax: what `elements` sends, readable (golden tests, docs, debugging).
    /// Removal adds each element first, so deleting what is gone does not fail.
    public static func renderPorts(_ ports: [PortForward], adding: Bool) -> String {
        let els = elements(ports, adding: adding)
        var s = ""
        if !adding {
            for e in els { s += "add element \(table) \(e.set) { \(e.text) }\n" }
        }
        for e in els {
            if adding { s += "add element \(table) \(e.set) { \(e.text) }\n" }
            else { s += "delete element \(table) \(e.set) { \(keyText(e)) }\n" }
        }
        return s
    }

    static func keyText(_ e: NftElement) -> String {
        let t = e.text
        if let r = t.firstRange(of: " comment ") { return String(t[..<r.lowerBound]) }
        return t
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

/// UDP has no connection end: a conntrack entry made before a mapping existed (or to the old
/// container) keeps steering datagrams until it expires, so after a UDP mapping changes, the
/// entries for its host ports go (hn_conntrack_delete_udp: one netlink dump, in the caller's netns).
/// Best effort: returns the number deleted, or -errno, which callers ignore.
@discardableResult
func flushUDPConntrack(_ ports: [PortForward]) -> Int32 {
    let udp = Set(ports.filter { $0.mapping.proto == .udp }.map { $0.mapping.hostPort }).sorted()
    guard !udp.isEmpty else { return 0 }
    return hn_conntrack_delete_udp(udp, udp.count)
}
