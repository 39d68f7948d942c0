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
/// Published ports (`addPorts`/`removePorts`): DNAT from outside (PREROUTING, local destinations),
/// from the host itself (OUTPUT, 127.0.0.1 included through route_localnet on the bridge), hairpin
/// masquerade, and the CVE-2020-8558 guard. The forward rules above already accept DNAT'ed traffic.
public protocol Firewall: Sendable {
    var kind: FirewallKind { get }
    /// Idempotent: running it twice leaves one copy of the rules.
    func setupNetwork(_ n: BridgeNetwork) throws
    /// Tolerates rules that are already gone.
    func teardownNetwork(_ n: BridgeNetwork) throws
    /// Publishes ports. Idempotent: adding what exists is fine. One batch.
    func addPorts(_ ports: [PortForward]) throws
    /// Unpublishes ports. Tolerates already-gone rules. One batch.
    func removePorts(_ ports: [PortForward]) throws
    /// Removes everything of hutch's in this backend (table / chains and jumps): backend switch,
    /// uninstall. Missing is fine.
    func removeAll() throws
}

public func makeFirewall(_ kind: FirewallKind) -> any Firewall {
    switch kind {
    case .nftables: return NftablesFirewall()
    case .iptables: return IptablesFirewall()
    }
}
