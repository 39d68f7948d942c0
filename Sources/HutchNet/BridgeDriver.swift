import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// The bridge network driver: a Linux bridge per network, a veth pair per container, and the
/// firewall rules of the network. Every method opens its own netlink socket(s), so the value is
/// Sendable and can be used from anywhere.
public struct BridgeDriver: Sendable {
    public let firewall: any Firewall

    public init(firewall: any Firewall) { self.firewall = firewall }

    /// Ensures the bridge, its gateway address, ip_forward=1 and the firewall rules, bridge up last.
    ///
    /// Fast path (the bridge exists and is up): one netlink lookup and one read of
    /// /proc/sys/net/ipv4/ip_forward. Because the bridge is brought up only after its address and
    /// rules are in place, "up" means "fully set up", even if an earlier hutch died half-way;
    /// a bridge found down gets the whole (idempotent) setup again.
    /// Returns true if it did the setup (created or repaired the bridge), false if all was there.
    @discardableResult
    public func ensure(_ n: BridgeNetwork) throws -> Bool {
        let nl = try NetlinkSession()
        let existing = try nl.link(n.bridge)
        if let l = existing, l.isUp {
            if Sysctl.read("net/ipv4/ip_forward") != "1" { try Sysctl.write("net/ipv4/ip_forward", "1") }
            try enableRouteLocalnet(n)
            return false
        }
        // A new bridge must not shadow a network the host already routes to (default route aside).
        if existing == nil {
            for r in try nl.routes() where r.prefix > 0 && r.overlaps(n.subnet) {
                throw HutchError("the subnet \(n.subnet) of network \(n.name) overlaps the host route \(r.subnet): "
                                 + "pick a free subnet (HUTCH_DEFAULT_SUBNET for the default bridge)")
            }
        }
        // ip link add BRIDGE address 02:42:GW type bridge: a fixed MAC, so the gateway's MAC
        // the containers cache does not change as ports come and go.
        let created = try nl.createBridge(n.bridge, mac: n.gateway.derivedMAC)
        do {
            try nl.addAddress(n.bridge, n.gatewayCIDR)
            try Sysctl.write("net/ipv4/ip_forward", "1")
            try enableRouteLocalnet(n)
            try firewall.setupNetwork(n)
            try nl.setUp(n.bridge)
        } catch {
            if created { _ = try? nl.deleteLink(n.bridge) }
            throw error
        }
        return true
    }

    /// route_localnet=1 on the bridge only (never `all`): lets 127.0.0.1 be DNAT'ed to a container
    /// on this bridge. The firewall's CVE-2020-8558 guard drops 127/8 arriving from anywhere but lo.
    func enableRouteLocalnet(_ n: BridgeNetwork) throws {
        let key = "net/ipv4/conf/\(n.bridge)/route_localnet"
        if Sysctl.read(key) != "1" { try Sysctl.write(key, "1") }
    }

    /// Wires a container: `hostVeth` on the bridge and up; its peer born inside the netns of
    /// `containerPid` as eth0 with `mac`, up, with address/prefix of the subnet; lo up; default
    /// route via the gateway. On failure it deletes the veth pair (if it created it) and throws.
    /// `network connect` uses it for eth1, eth2...: `peer` names the interface, and
    /// `defaultRoute` false leaves the container's default route where it is (the subnet's route
    /// comes with the address).
    public func attach(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, address: IPv4Address, mac: String,
                       peer: String = "eth0", defaultRoute: Bool = true) throws {
        guard n.subnet.contains(address), address != n.gateway, address != n.subnet.network,
              address != n.subnet.broadcast || n.subnet.prefix >= 31 else {
            throw HutchError("address \(address) is not a host address of \(n.subnet) other than the gateway")
        }
        let host = try NetlinkSession()
        // ip link add VETH master BRIDGE up type veth peer name eth0 address MAC netns PID
        // (mtu N on both ends when the network has one: a cluster node's vxlan overlay wants 1450)
        try host.createVeth(hostVeth, peer: peer, peerNetnsPid: containerPid, master: n.bridge,
                            hostUp: true, peerMAC: mac, mtu: n.mtu)
        do {
            // bridge link set dev VETH hairpin on: a container reaching its own published port
            // through the host's address gets the (masqueraded) answer back out of the same port.
            try host.setHairpin(hostVeth, true)
            let ns = try NetlinkSession(netnsOfPid: containerPid)
            guard let eth0 = try ns.link(peer) else {
                throw HutchError.sys("ip link show \(peer) (netns of pid \(containerPid))", ENODEV)
            }
            // ip addr add ADDRESS/PREFIX broadcast + dev eth0
            _ = try ns.addAddress(index: eth0.index, CIDRv4(address: address, prefix: n.subnet.prefix), label: peer)
            // ip link set eth0 up (the kernel refuses IFF_UP on a peer created straight into
            // another netns with ENOTCONN, so eth0 comes up here; the shim's child brings lo up)
            try ns.setUp(peer)
            // ip route add default via GATEWAY dev eth0 — not on an internal network, whose
            // containers get only the subnet's route (no way out), as Docker's do.
            if !n.isInternal && defaultRoute { try ns.addDefaultRoute(via: n.gateway, dev: nil) }
        } catch {
            _ = try? host.deleteLink(hostVeth)
            throw error
        }
    }

    /// ip link del VETH (its peer goes with it). Missing is fine.
    public func detach(hostVeth: String) throws {
        try NetlinkSession().deleteLink(hostVeth)
    }

    /// ip link del VETH, done by the linger helper once this process exits (see linger.c), or
    /// here when the helper is not installed.
    public func detachLater(hostVeth: String) throws {
        guard let helper = ShimLocator.lingerHelper, hn_linger_delete_link(hostVeth, helper) == 0 else {
            return try detach(hostVeth: hostVeth)
        }
    }

    /// Deletes the bridge, then the network's firewall rules. Missing pieces are fine.
    /// The bridge goes first: if the rules' removal fails, the next `ensure` recreates the bridge
    /// and reinstalls (idempotently) rather than finding an up bridge and trusting stale rules.
    public func remove(_ n: BridgeNetwork) throws {
        try NetlinkSession().deleteLink(n.bridge)
        try firewall.teardownNetwork(n)
    }
}
