import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

// Services (issue 15): kube-proxy's data path in the kernel, no userland proxy. The firewall
// feature is `ServiceFirewall`; each backend renders it its own way (ServiceProxyNftables.swift,
// ServiceProxyIptables.swift). What both share is here: the change a command asks for, and the
// route that gives the host a way to the service range.

/// One service's change: what the firewall holds for it now (`old`, nil: nothing) and what it
/// should hold (`new`, nil: remove it). Endpoints are the service's (all nodes); a backend picks
/// the local ones where a policy asks for them.
public struct ServiceChange: Sendable, Equatable {
    public var old: ServiceState?
    public var new: ServiceState?
    public init(old: ServiceState?, new: ServiceState?) { self.old = old; self.new = new }
    public var name: String { (new ?? old)!.service.name }
}

/// A service with its endpoints, as the firewall sees it.
public struct ServiceState: Sendable, Equatable {
    public var service: ServiceRecord
    public var endpoints: [ServiceEndpoint]
    public init(_ service: ServiceRecord, _ endpoints: [ServiceEndpoint]) {
        self.service = service; self.endpoints = endpoints.sorted()
    }
    /// The addresses that must masquerade when they reach themselves through the service.
    public var hairpinIPs: Set<IPv4Address> { Set(endpoints.filter(\.isLocal).map(\.ip)) }
}

/// The services feature of a firewall backend. Every method is one batch.
public protocol ServiceFirewall: Sendable {
    /// Applies changes of some services. `hairpin`: endpoint addresses that now need (add) or no
    /// longer need (remove) hairpin masquerade; the caller knows every service, so it decides.
    /// Writes only the elements (or chains) of the services named.
    func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws
    /// Makes the services feature hold exactly `all` (reload after a wipe; gc after a crash left
    /// rules of services whose records are gone). One transaction.
    func replaceServices(_ all: [ServiceState]) throws
}

/// The route that sends the host's own packets for the service range somewhere, so they reach
/// the output hook at all (without one, connect() fails with ENETUNREACH before any rule runs):
/// `ip route add RANGE dev lo` (scope link: the source is one of the host's global addresses).
/// The nat output hook then DNATs to an endpoint and the packet is routed again; a packet that
/// no rule took is rejected by the services feature before it is sent. (A dummy link, as
/// kube-proxy's kube-ipvs0, needs the dummy module, which not every kernel has.)
public enum ServiceRoute {
    /// Adds the route when missing. Idempotent.
    public static func ensure(_ range: CIDRv4) throws {
        let nl = try NetlinkSession()
        guard let lo = nl.linkIndex("lo") else { throw HutchError.sys("ip link show lo", ENODEV) }
        let r = hn_route_v4(nl.nl, 1, range.network.value, Int32(range.prefix), lo)
        if r < 0 && r != -EEXIST { throw HutchError.sys("ip route add \(range) dev lo", -r) }
    }

    /// Deletes the route (missing is fine).
    public static func remove(_ range: CIDRv4) throws {
        let nl = try NetlinkSession()
        guard let lo = nl.linkIndex("lo") else { return }
        let r = hn_route_v4(nl.nl, 0, range.network.value, Int32(range.prefix), lo)
        if r < 0 && r != -ESRCH { throw HutchError.sys("ip route del \(range) dev lo", -r) }
    }

    /// Whether the route is there.
    public static func exists(_ range: CIDRv4) throws -> Bool {
        try NetlinkSession().routes().contains(range)
    }
}

extension ServiceChange {
    /// The UDP flows to delete from conntrack after this change, as kube-proxy does: for every
    /// UDP port of a service that lost an endpoint (or went away), the ClusterIP and port, and
    /// the node port (any local address, 0). A client would otherwise keep sending to the
    /// endpoint its entry points at until the entry expires.
    public var staleUDP: [(IPv4Address?, UInt16)] {
        guard let old = old else { return [] }
        let kept = Set(new?.endpoints ?? [])
        guard old.endpoints.contains(where: { !kept.contains($0) }) else { return [] }
        var out: [(IPv4Address?, UInt16)] = []
        for p in old.service.ports where p.proto == .udp {
            out.append((old.service.clusterIP, p.port))
            if p.nodePort != 0 { out.append((nil, p.nodePort)) }
        }
        return out
    }
}

/// Deletes the conntrack entries of `flows` (best effort: the count, or -errno, ignored by callers).
@discardableResult
func flushServiceUDPConntrack(_ changes: [ServiceChange]) -> Int32 {
    let flows = changes.flatMap(\.staleUDP)
    guard !flows.isEmpty else { return 0 }
    let dsts = flows.map { $0.0?.value ?? 0 }, ports = flows.map(\.1)
    return hn_conntrack_delete_udp_to(dsts, ports, flows.count)
}
