import HutchModel
import HutchOS
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
