import HutchModel
import HutchOS
import HutchNet
import HutchState
#if canImport(Glibc)
import Glibc
#endif

/// A node's half of the pod network: its own vxlan device (vxlan) and, per remote node, what the
/// backend needs to reach that node's pod subnet. Every call opens its netlink socket in the
/// caller's network namespace (the node's).
public struct Overlay {
    public static let vxlanDevice = "hutch.1"
    public static let vni: UInt32 = 1
    public static let vxlanPort: UInt16 = 8472
    /// VXLAN over IPv4 costs 50 bytes of headers: the pods' MTU is the underlay's minus that.
    public static let vxlanOverhead = 50

    public let settings: NodeSettings

    public init(_ settings: NodeSettings) { self.settings = settings }

    /// The underlay link holding the node IP, and its prefix (the node's on-link subnet).
    public static func underlay(_ nodeIP: IPv4Address, _ nl: NetlinkSession) throws -> (index: Int32, onLink: CIDRv4) {
        guard let o = try nl.addressOwner(nodeIP) else {
            throw HutchError("--node-ip \(nodeIP) is not an address of this host: give the address this node has on the network the other nodes share")
        }
        return (o.index, CIDRv4(address: nodeIP, prefix: o.prefix).subnet)
    }

    /// The pods' MTU on this node: the underlay's minus the vxlan headers (vxlan), else 0 (the default).
    public static func podMTU(backend: Backend, nodeIP: IPv4Address) throws -> Int {
        guard backend == .vxlan else { return 0 }
        let nl = try NetlinkSession()
        return try nl.mtu(ofIndex: underlay(nodeIP, nl).index) - vxlanOverhead
    }

    /// vxlan: the device, its tunnel address and up. Idempotent (an existing device is kept).
    /// host-gw: nothing. Returns whether it created the device.
    @discardableResult
    public func setUpLocal() throws -> Bool {
        guard settings.backend == .vxlan else { return false }
        let nl = try NetlinkSession()
        let u = try Self.underlay(settings.nodeIP, nl)
        let rec = settings.record
        // ip link add hutch.1 address MAC type vxlan id 1 local NODEIP dev LINK dstport 8472 nolearning
        let created = try nl.createVxlan(Self.vxlanDevice, vni: Self.vni, local: settings.nodeIP, link: u.index,
                                         port: Self.vxlanPort, mac: rec.vtepMAC!)
        do {
            // ip addr add 10.244.I.0/32 dev hutch.1
            try nl.addAddress(Self.vxlanDevice, CIDRv4(address: rec.tunnelAddress, prefix: 32))
            // ip link set hutch.1 up
            try nl.setUp(Self.vxlanDevice)
        } catch {
            if created { _ = try? nl.deleteLink(Self.vxlanDevice) }
            throw error
        }
        return created
    }

    /// Removes this node's overlay: the vxlan device (its routes, neighbours and fdb entries go
    /// with it), and every route to another node's subnet (host-gw's, or any left). Missing is fine.
    public func removeLocal() throws {
        let nl = try NetlinkSession()
        try nl.deleteLink(Self.vxlanDevice)
        for r in try clusterRoutes(nl) { try nl.deleteRoute(r) }
    }

    /// The routes to other nodes' subnets present now: /subnetLen destinations inside the
    /// cluster CIDR other than this node's own subnet.
    func clusterRoutes(_ nl: NetlinkSession) throws -> [CIDRv4] {
        try nl.routeTable().map(\.dst).filter {
            $0.prefix == settings.subnet.prefix && settings.clusterCIDR.contains($0.address) && $0 != settings.subnet
                && $0.prefix > settings.clusterCIDR.prefix
        }
    }

    /// Routes to subnets that are not in `known` (nodes gone while no agent watched).
    public func staleRoutes(known: Set<CIDRv4>) throws -> [CIDRv4] {
        try clusterRoutes(NetlinkSession()).filter { !known.contains($0) }
    }

    /// Makes `r`'s pod subnet reachable.
    public func program(_ r: SubnetRecord) throws {
        let nl = try NetlinkSession()
        switch settings.backend {
        case .vxlan:
            guard let dev = nl.linkIndex(Self.vxlanDevice) else { throw HutchError.sys("ip link show \(Self.vxlanDevice)", ENODEV) }
            guard let mac = r.vtepMAC else { throw HutchError("node \(r.node) (\(r.subnet)) published no VtepMAC: is it a vxlan node?") }
            // ip route replace 10.244.J.0/24 via 10.244.J.0 dev hutch.1 onlink
            try nl.replaceRoute(r.subnet, via: r.tunnelAddress, dev: dev, onlink: true)
            // ip neigh replace 10.244.J.0 lladdr MAC dev hutch.1 nud permanent
            try nl.replaceNeighbour(r.tunnelAddress, mac: mac, dev: dev)
            // bridge fdb replace MAC dev hutch.1 dst NODEIP_J self permanent
            try nl.replaceFDB(mac, dst: r.publicIP, dev: dev)
        case .hostGW:
            let u = try Self.underlay(settings.nodeIP, nl)
            guard u.onLink.contains(r.publicIP) else { throw Self.notOnLink(r, u.onLink) }
            // ip route replace 10.244.J.0/24 via NODEIP_J dev eth0 src 10.244.I.1 — the source
            // is this node's pod gateway, so the node's own traffic to a remote pod stays inside
            // the cluster CIDR (the other node forwards it to its pods like pod traffic).
            try nl.replaceRoute(r.subnet, via: r.publicIP, dev: u.index, onlink: false,
                                src: nl.linkIndex(Store.defaultNetwork.bridge) != nil ? settings.subnet.firstHost : nil)
        }
    }

    static func notOnLink(_ r: SubnetRecord, _ onLink: CIDRv4) -> HutchError {
        HutchError("host-gw: node \(r.node)'s IP \(r.publicIP) is not on-link from this node (\(onLink)): "
                   + "host-gw routes via the other nodes' IPs and needs every node on one L2 segment; use --backend vxlan")
    }

    /// Takes away what `program(r)` added. Missing pieces are fine.
    public func unprogram(_ r: SubnetRecord) throws {
        let nl = try NetlinkSession()
        try nl.deleteRoute(r.subnet)
        if settings.backend == .vxlan, let dev = nl.linkIndex(Self.vxlanDevice) {
            try nl.deleteNeighbour(r.tunnelAddress, dev: dev)
            try nl.deleteFDB(r.vtepMAC ?? SubnetRecord.vtepMAC(for: r.subnet), dev: dev)
        }
    }

    /// Takes away a stale subnet's route (and with vxlan its derived neighbour and fdb entry).
    public func unprogramStale(_ subnet: CIDRv4) throws {
        try unprogram(SubnetRecord(subnet: subnet, node: "", publicIP: IPv4Address(0), backend: settings.backend, vtepMAC: nil))
    }
}

