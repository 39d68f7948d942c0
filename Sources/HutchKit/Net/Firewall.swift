/// A bridge network as the network layer sees it: plain data, enough to render its rules.
public struct BridgeNetwork: Sendable, Hashable {
    public var name: String
    public var bridge: String
    /// The subnet in network form, e.g. 10.88.0.0/16.
    public var subnet: CIDRv4
    public var gateway: IPv4Address
    /// No way out: no MASQUERADE, and forwarding only between members of the bridge.
    public var isInternal: Bool

    public init(name: String, bridge: String, subnet: CIDRv4, gateway: IPv4Address, isInternal: Bool = false) {
        self.name = name; self.bridge = bridge; self.subnet = subnet.subnet; self.gateway = gateway
        self.isInternal = isInternal
    }

    /// The bridge's own address: the gateway with the subnet's prefix.
    public var gatewayCIDR: CIDRv4 { CIDRv4(address: gateway, prefix: subnet.prefix) }

    /// The owner tag every rule of this network carries (nft comments are limited to 128 bytes).
    public var ruleComment: String { String(("hutch:" + name).utf8.prefix(128))! }
}

public enum FirewallKind: String, Sendable, CaseIterable {
    case nftables, iptables
}

/// One firewall backend (netavark's FirewallDriver): each method applies one batch.
///
/// Rules live only in hutch's own table (nftables: `table ip hutch`) or chains (iptables:
/// `HUTCH-FORWARD`, `HUTCH-POSTROUTING`), and every rule of a network carries `hutch:NAME`.
///
/// Forwarding policy per network (both backends render the same thing):
/// - normal: out of the bridge accepted (to anywhere); into the bridge only replies
///   (established/related) and DNAT'ed connections (published ports); anything else into the
///   bridge dropped, so a routed LAN host or another hutch network cannot open connections to a
///   container directly. MASQUERADE for the subnet leaving through any other interface.
/// - internal: only traffic that enters and leaves through the bridge; no MASQUERADE.
///
/// Port publishing will add `addPorts(_:container:)`/`removePorts` requirements here: in nftables as
/// elements of `tcp`/`udp` verdict maps keyed by port (cost independent of the number of rules), in
/// iptables as rules in a `HUTCH-DNAT` chain; the forward rules above already accept DNAT'ed traffic.
public protocol Firewall: Sendable {
    var kind: FirewallKind { get }
    /// Idempotent: running it twice leaves one copy of the rules.
    func setupNetwork(_ n: BridgeNetwork) throws
    /// Tolerates rules that are already gone.
    func teardownNetwork(_ n: BridgeNetwork) throws
}

public func makeFirewall(_ kind: FirewallKind) -> any Firewall {
    switch kind {
    case .nftables: return NftablesFirewall()
    case .iptables: return IptablesFirewall()
    }
}
