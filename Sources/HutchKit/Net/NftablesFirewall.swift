import CHutchNet

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
        add chain \(table) forward { type filter hook forward priority filter; policy accept; }
        add chain \(table) postrouting { type nat hook postrouting priority srcnat; policy accept; }
        flush chain \(table) forward
        add rule \(table) forward oifname vmap @bridges comment "hutch"
        add rule \(table) forward iifname vmap @bridges comment "hutch"
        flush chain \(table) postrouting
        add rule \(table) postrouting ip saddr vmap @subnets comment "hutch"

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

    public func addPorts(_ ports: [PortForward]) throws {}
    public func removePorts(_ ports: [PortForward]) throws {}

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
