import HutchOS
/// A bridge network as the network layer sees it: plain data, enough to render its rules.
public struct BridgeNetwork: Sendable, Hashable {
    public var name: String
    public var bridge: String
    /// The subnet in network form, e.g. 10.88.0.0/16.
    public var subnet: CIDRv4
    public var gateway: IPv4Address
    /// No way out: no MASQUERADE, and forwarding only between members of the bridge.
    public var isInternal: Bool
    /// The MTU of its containers' interfaces; 0: the kernel's default (1500). A cluster node's
    /// default network over vxlan has 1450 (the tunnel's 50 bytes of headers).
    public var mtu: Int

    public init(name: String, bridge: String, subnet: CIDRv4, gateway: IPv4Address, isInternal: Bool = false, mtu: Int = 0) {
        self.name = name; self.bridge = bridge; self.subnet = subnet.subnet; self.gateway = gateway
        self.isInternal = isInternal; self.mtu = mtu
    }

    /// A stored network as the network layer sees it.
    public init(_ n: NetworkRecord) {
        self.init(name: n.name, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, isInternal: n.isInternal, mtu: n.mtu)
    }

    /// The bridge's own address: the gateway with the subnet's prefix.
    public var gatewayCIDR: CIDRv4 { CIDRv4(address: gateway, prefix: subnet.prefix) }

    /// The owner tag every rule of this network carries (nft comments are limited to 128 bytes).
    public var ruleComment: String { String(("hutch:" + name).utf8.prefix(128))! }
}

public enum FirewallKind: String, Sendable, CaseIterable {
    case nftables, iptables
}

