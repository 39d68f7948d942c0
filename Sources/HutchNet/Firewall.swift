import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

// The firewall, split by feature (netavark's FirewallDriver, kube-proxy's chain layout).
//
// Each backend keeps a few base chains (hooked into the kernel or jumped to from the built-in
// chains) that hold nothing but a fixed list of jumps, one list entry per feature chain. A feature
// owns its chains, maps and sets: it creates them, fills them, and flushes only them. So setting
// up a network never touches a published port's rules, and neither touches a chain or rule that
// another program (or a later hutch feature) put there. The jump lists are data
// (`NftablesFirewall.features`, `IptablesFirewall.features`); a new feature adds one entry.
//
// Features today: networks (`NetworkFirewall`) and published ports (`PortFirewall`).
// The service proxy (ClusterIPs and NodePorts, kube-proxy's `services` chains) is the third,
// `ServiceFirewall` (ServiceProxy*.swift), with its chains registered in both feature lists.
// A cluster node's pod network (`ClusterFirewall`) is opt-in: its chains and jumps are installed
// by a node's first setup (`optInFeatures`).

/// The rules of bridge networks. Each method applies one batch; every rule of a network carries
/// `hutch:NAME` (`BridgeNetwork.ruleComment`).
///
/// Forwarding policy per network (both backends render the same thing):
/// - normal: out of the bridge accepted (to anywhere); into the bridge only replies
///   (established/related) and DNAT'ed connections (published ports); anything else into the
///   bridge dropped, so a routed LAN host or another hutch network cannot open connections to a
///   container directly. MASQUERADE for the subnet leaving through any other interface.
/// - internal: only traffic that enters and leaves through the bridge; no MASQUERADE.
/// The networks feature also owns the CVE-2020-8558 guard (127.0.0.0/8 arriving on anything but lo
/// is dropped), since it is what turns route_localnet on for its bridges.
public protocol NetworkFirewall: Sendable {
    var kind: FirewallKind { get }
    /// Idempotent: running it twice leaves one copy of the rules. Creates the base chains and
    /// their jumps when missing.
    func setupNetwork(_ n: BridgeNetwork) throws
    /// Tolerates rules that are already gone.
    func teardownNetwork(_ n: BridgeNetwork) throws
}

/// Published ports: DNAT from outside (prerouting, local destinations), from the host itself
/// (output, 127.0.0.1 included through route_localnet on the bridge), hairpin masquerade. The
/// networks' forward rules already accept DNAT'ed traffic. Every rule or element carries
/// `hutch:<container id>` (`PortForward.ruleComment`).
public protocol PortFirewall: Sendable {
    var kind: FirewallKind { get }
    /// Publishes ports. Idempotent: adding what exists is fine. One batch.
    func addPorts(_ ports: [PortForward]) throws
    /// Unpublishes ports. Tolerates already-gone rules. One batch.
    func removePorts(_ ports: [PortForward]) throws
}

/// A cluster node's pod network (issue 16, flannel's rules): traffic between addresses of the
/// cluster CIDR is forwarded (also into a bridge, where the networks feature would drop a
/// connection opened from outside) and never masqueraded when it leaves through anything but the
/// node's pod bridge, so a pod on another node sees the real source pod IP. A connection from
/// outside the cluster CIDR that was DNAT'ed to a pod on another node (a node reaching a
/// ClusterIP, a NodePort client) leaves with the node's pod gateway as its source (kube-proxy
/// masquerades off-cluster sources for the same reason): the other node accepts it like pod
/// traffic and the answer comes back through the overlay. Its jumps come first in the base
/// chains (before the networks' drop and MASQUERADE). Every rule or element carries
/// `hutch:cluster`.
public protocol ClusterFirewall: Sendable {
    var kind: FirewallKind { get }
    /// Idempotent.
    func setupCluster(_ c: ClusterRules) throws
    /// Tolerates rules that are already gone.
    func teardownCluster(_ c: ClusterRules) throws
}

/// What a cluster node's rules are made of: the cluster CIDR, the node's pod bridge (the default
/// network's) and its address there (the pod gateway, 10.244.I.1).
public struct ClusterRules: Sendable, Equatable {
    public var cidr: CIDRv4
    public var bridge: String
    public var gateway: IPv4Address
    public init(cidr: CIDRv4, bridge: String, gateway: IPv4Address) {
        self.cidr = cidr.subnet; self.bridge = bridge; self.gateway = gateway
    }
}

/// Every feature of one backend, and the removal of all that hutch has in it.
public protocol Firewall: NetworkFirewall, PortFirewall, ServiceFirewall, ClusterFirewall {
    /// Removes everything of hutch's in this backend: every feature's chains, maps and sets, the
    /// base chains and the jumps to them (the last step of a backend switch, uninstall). Other
    /// software's chains and rules stay. Missing is fine.
    func removeAll() throws
}

public func makeFirewall(_ kind: FirewallKind) -> any Firewall {
    switch kind {
    case .nftables: return NftablesFirewall()
    case .iptables: return IptablesFirewall()
    }
}

extension PortForward {
    /// The owner tag of a port's rules and elements: `hutch:<container id>`, at most 128 bytes
    /// (nft's comment limit). For humans: the store's reservations are the owner record hutch uses.
    public var ruleComment: String { String(("hutch:" + owner).utf8.prefix(128))! }
}

/// The first executable `name` in the usual system directories.
func systemTool(_ name: String) -> String? {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map { $0 + "/" + name }.first { access($0, X_OK) == 0 }
}

/// UDP has no connection end: a conntrack entry made before a mapping existed (or to the old
/// container) keeps steering datagrams until it expires, so after a UDP mapping changes, the
/// entries for its host ports go (hn_conntrack_delete_udp: one netlink dump, in the caller's netns).
/// Best effort: returns the number deleted, or -errno, which callers ignore. Both backends call it
/// after a port change.
@discardableResult
func flushUDPConntrack(_ ports: [PortForward]) -> Int32 {
    let udp = Set(ports.filter { $0.mapping.proto == .udp }.map { $0.mapping.hostPort }).sorted()
    guard !udp.isEmpty else { return 0 }
    return hn_conntrack_delete_udp(udp, udp.count)
}
