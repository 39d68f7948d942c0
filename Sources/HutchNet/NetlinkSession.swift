import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// One NETLINK_ROUTE socket bound to one network namespace, with one method per `ip` verb.
///
/// A socket keeps the namespace it was created in, so a session opened for a container's netns
/// configures that netns for its whole life while every Swift thread stays where it is: the
/// namespace switch happens on a short-lived C pthread (see `hn_nl_open_netns_path`).
/// Not thread-safe: use a session from one thread at a time.
public final class NetlinkSession {
    let nl: OpaquePointer
    /// A label for error messages: "" for the caller's netns, " (netns of pid N)" otherwise.
    let whereLabel: String

    /// A socket in the caller's current network namespace.
    public init() throws {
        var err: Int32 = 0
        guard let p = hn_nl_open(&err) else { throw HutchError.sys("netlink socket", -err) }
        nl = p
        whereLabel = ""
    }

    /// A socket inside the network namespace of `pid` (/proc/PID/ns/net).
    public init(netnsOfPid pid: Int32) throws {
        var err: Int32 = 0
        guard pid > 0, let p = hn_nl_open_netns_pid(pid, &err) else {
            throw HutchError.sys("netlink socket in the netns of pid \(pid)", pid > 0 ? -err : EINVAL)
        }
        nl = p
        whereLabel = " (netns of pid \(pid))"
    }

    /// A socket inside the network namespace at `netnsPath` (e.g. a bind-mounted /run/netns/NAME).
    public init(netnsPath: String) throws {
        var err: Int32 = 0
        guard let p = hn_nl_open_netns_path(netnsPath, &err) else {
            throw HutchError.sys("netlink socket in netns \(netnsPath)", -err)
        }
        nl = p
        whereLabel = " (netns \(netnsPath))"
    }

    deinit { hn_nl_close(nl) }

    func fail(_ step: String, _ r: Int32) -> HutchError { HutchError.sys(step + whereLabel, -r) }

    // MARK: links

    public struct Link: Sendable, Hashable {
        public var index: Int32
        public var flags: UInt32
        public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    }

    /// ip link show NAME
    public func link(_ name: String) throws -> Link? {
        var index: Int32 = 0, flags: UInt32 = 0
        let r = hn_link_get(nl, name, &index, &flags)
        if r == -ENODEV { return nil }
        if r < 0 { throw fail("ip link show \(name)", r) }
        return Link(index: index, flags: flags)
    }

    /// ip -o link show: every link's name and its master's index (0: none).
    public func linkList() throws -> [(name: String, master: Int32)] {
        var size = 64 * 1024
        while true {
            var buf = [CChar](repeating: 0, count: size)
            let r = hn_link_names(nl, &buf, size)
            if r == -ENOSPC && size < 16 << 20 { size *= 4; continue }
            if r < 0 { throw fail("ip link show", r) }
            return String(decoding: buf.prefix(Int(r)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                .split(separator: "\n").compactMap { line in
                    let f = line.split(separator: " ")
                    guard f.count == 2, let m = Int32(f[1]) else { return nil }
                    return (String(f[0]), m)
                }
        }
    }

    /// ip link show NAME (nil when missing or unreadable)
    public func linkIndex(_ name: String) -> Int32? { (try? link(name))??.index }

    /// ip link add NAME [address MAC] type bridge. Returns false when it already existed.
    @discardableResult
    public func createBridge(_ name: String, mac: String? = nil) throws -> Bool {
        let m = try mac.map { try MAC.parse($0) }
        let r = m.withOptionalBytes { hn_bridge_add(nl, name, $0) }
        if r == -EEXIST { return false }
        if r < 0 { throw fail("ip link add \(name) type bridge", r) }
        return true
    }

    /// ip link add HOST [master BRIDGE] [up] [mtu N] type veth peer name PEER [address MAC] [mtu N] netns PID
    ///
    /// One message: the peer is born inside the target netns (so its name only has to be free
    /// there), with its MAC; the host end is born enslaved and up. The peer starts down: bring it
    /// up from a session in its netns (the kernel refuses "up" for a peer created across netns).
    public func createVeth(_ host: String, peer: String, peerNetnsPid: Int32, master: String?,
                           hostUp: Bool, peerMAC: String?, mtu: Int = 0) throws {
        var masterIndex: Int32 = 0
        if let m = master {
            guard let l = try link(m) else { throw HutchError.sys("ip link show \(m)" + whereLabel, ENODEV) }
            masterIndex = l.index
        }
        let mac = try peerMAC.map { try MAC.parse($0) }
        let r = mac.withOptionalBytes {
            hn_veth_add(nl, host, peer, peerNetnsPid, masterIndex, hostUp ? 1 : 0, $0, UInt32(max(mtu, 0)))
        }
        if r < 0 { throw fail("ip link add \(host) type veth peer name \(peer) netns \(peerNetnsPid)", r) }
    }

    /// ip link set LINK up
    public func setUp(_ link: String) throws {
        let r = hn_link_set_up(nl, link, 1)
        if r < 0 { throw fail("ip link set \(link) up", r) }
    }

    /// bridge link set dev LINK hairpin on|off (LINK must be a bridge port)
    public func setHairpin(_ link: String, _ on: Bool) throws {
        let r = hn_bridge_port_set_hairpin(nl, link, on ? 1 : 0)
        if r < 0 { throw fail("bridge link set dev \(link) hairpin \(on ? "on" : "off")", r) }
    }

    /// ip link del NAME. Returns false when it was already gone.
    @discardableResult
    public func deleteLink(_ name: String) throws -> Bool {
        let r = hn_link_del(nl, name)
        if r == -ENODEV { return false }
        if r < 0 { throw fail("ip link del \(name)", r) }
        return true
    }

    // MARK: addresses and routes

    /// ip addr add CIDR broadcast + dev LINK. Returns false when the address was already there.
    @discardableResult
    public func addAddress(_ link: String, _ cidr: CIDRv4) throws -> Bool {
        guard let l = try self.link(link) else { throw HutchError.sys("ip addr add \(cidr) dev \(link)" + whereLabel, ENODEV) }
        return try addAddress(index: l.index, cidr, label: link)
    }

    func addAddress(index: Int32, _ cidr: CIDRv4, label: String) throws -> Bool {
        let r = hn_addr_add_v4(nl, index, cidr.address.value, Int32(cidr.prefix), cidr.broadcast.value)
        if r == -EEXIST { return false }
        if r < 0 { throw fail("ip addr add \(cidr) dev \(label)", r) }
        return true
    }

    /// ip route add default via GW [dev LINK]
    public func addDefaultRoute(via gw: IPv4Address, dev: String? = nil) throws {
        var index: Int32 = 0
        if let d = dev {
            guard let l = try link(d) else { throw HutchError.sys("ip route add default via \(gw) dev \(d)" + whereLabel, ENODEV) }
            index = l.index
        }
        let r = hn_route_add_default_v4(nl, gw.value, index)
        if r < 0 { throw fail("ip route add default via \(gw)" + (dev.map { " dev \($0)" } ?? ""), r) }
    }

    /// ip -4 route show table main: the destinations, for the subnet overlap check.
    /// The default route (0.0.0.0/0) is left out: it overlaps everything by definition.
    public func routes() throws -> [CIDRv4] {
        var p: UnsafeMutablePointer<hn_route4>?
        var n = 0
        let r = hn_routes_v4(nl, 254, &p, &n)
        if r < 0 { throw fail("ip -4 route show table main", r) }
        defer { hn_free(p) }
        return (0..<n).map { CIDRv4(address: IPv4Address(p![$0].dst), prefix: Int(p![$0].prefix)) }.filter { $0.prefix > 0 }
    }
}

// MARK: the overlay of a cluster node (flannel's recipe)

extension NetlinkSession {
    /// ip link add NAME address MAC type vxlan id VNI local LOCAL dev LINK dstport PORT nolearning.
    /// Returns false when a link of that name already existed (left as it is).
    @discardableResult
    public func createVxlan(_ name: String, vni: UInt32, local: IPv4Address, link: Int32, port: UInt16, mac: String) throws -> Bool {
        let m = try MAC.parse(mac)
        let r = m.withUnsafeBufferPointer { hn_vxlan_add(nl, name, vni, local.value, link, port, $0.baseAddress) }
        if r == -EEXIST { return false }
        if r < 0 { throw fail("ip link add \(name) address \(mac) type vxlan id \(vni) local \(local) dstport \(port) nolearning", r) }
        return true
    }

    /// ip link show dev INDEX: its MTU
    public func mtu(ofIndex index: Int32) throws -> Int {
        var m: UInt32 = 0
        let r = hn_link_mtu(nl, index, &m)
        if r < 0 { throw fail("ip link show dev index \(index)", r) }
        return Int(m)
    }

    /// ip -4 -o addr show to ADDRESS: the link that holds the address and its prefix (nil: none)
    public func addressOwner(_ a: IPv4Address) throws -> (index: Int32, prefix: Int)? {
        var index: Int32 = 0, prefix: Int32 = 0
        let r = hn_addr_find_v4(nl, a.value, &index, &prefix)
        if r == -EADDRNOTAVAIL { return nil }
        if r < 0 { throw fail("ip -4 addr show to \(a)", r) }
        return (index, Int(prefix))
    }

    /// ip route replace DST via GW dev INDEX [onlink] [src SRC]
    public func replaceRoute(_ dst: CIDRv4, via gw: IPv4Address, dev: Int32, onlink: Bool, src: IPv4Address? = nil) throws {
        let r = hn_route_replace_v4(nl, dst.address.value, Int32(dst.prefix), gw.value, dev, onlink ? 1 : 0, src?.value ?? 0)
        if r < 0 {
            throw fail("ip route replace \(dst) via \(gw) dev index \(dev)" + (onlink ? " onlink" : "") + (src.map { " src \($0)" } ?? ""), r)
        }
    }

    /// ip route del DST. Returns false when there was no such route.
    @discardableResult
    public func deleteRoute(_ dst: CIDRv4) throws -> Bool {
        let r = hn_route_del_v4(nl, dst.address.value, Int32(dst.prefix))
        if r == -ESRCH || r == -ENOENT { return false }
        if r < 0 { throw fail("ip route del \(dst)", r) }
        return true
    }

    /// ip neigh replace IP lladdr MAC dev INDEX nud permanent
    public func replaceNeighbour(_ ip: IPv4Address, mac: String, dev: Int32) throws {
        let m = try MAC.parse(mac)
        let r = m.withUnsafeBufferPointer { hn_neigh_replace_v4(nl, dev, ip.value, $0.baseAddress) }
        if r < 0 { throw fail("ip neigh replace \(ip) lladdr \(mac) dev index \(dev) nud permanent", r) }
    }

    /// ip neigh del IP dev INDEX (missing is fine)
    public func deleteNeighbour(_ ip: IPv4Address, dev: Int32) throws {
        let r = hn_neigh_del_v4(nl, dev, ip.value)
        if r < 0 && r != -ENOENT && r != -ESRCH { throw fail("ip neigh del \(ip) dev index \(dev)", r) }
    }

    /// bridge fdb replace MAC dev INDEX dst DST self permanent
    public func replaceFDB(_ mac: String, dst: IPv4Address, dev: Int32) throws {
        let m = try MAC.parse(mac)
        let r = m.withUnsafeBufferPointer { hn_fdb_replace(nl, dev, $0.baseAddress, dst.value) }
        if r < 0 { throw fail("bridge fdb replace \(mac) dev index \(dev) dst \(dst) self permanent", r) }
    }

    /// bridge fdb del MAC dev INDEX self (missing is fine)
    public func deleteFDB(_ mac: String, dev: Int32) throws {
        let m = try MAC.parse(mac)
        let r = m.withUnsafeBufferPointer { hn_fdb_del(nl, dev, $0.baseAddress) }
        if r < 0 && r != -ENOENT && r != -ESRCH { throw fail("bridge fdb del \(mac) dev index \(dev) self", r) }
    }

    /// ip -4 route show table main: destination and output link of each route (default included).
    public func routeTable() throws -> [(dst: CIDRv4, oif: Int32)] {
        var p: UnsafeMutablePointer<hn_route4>?
        var n = 0
        let r = hn_routes_v4(nl, 254, &p, &n)
        if r < 0 { throw fail("ip -4 route show table main", r) }
        defer { hn_free(p) }
        return (0..<n).map { (CIDRv4(address: IPv4Address(p![$0].dst), prefix: Int(p![$0].prefix)), p![$0].oif) }
    }
}

/// Ethernet addresses as `ip` writes them: six hex octets separated by colons.
public enum MAC {
    public static func parse(_ s: String) throws -> [UInt8] {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { throw HutchError("invalid MAC address \(s)") }
        return try parts.map {
            guard $0.count == 2, let b = UInt8($0, radix: 16) else { throw HutchError("invalid MAC address \(s)") }
            return b
        }
    }
}

extension Optional where Wrapped == [UInt8] {
    func withOptionalBytes<R>(_ body: (UnsafePointer<UInt8>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
