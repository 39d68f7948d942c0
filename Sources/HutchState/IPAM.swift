import HutchModel
import HutchOS
/// Address management for a bridge network, inside the caller's store transaction.
/// Allocation is round-robin from the address after the last one handed out (as the CNI
/// host-local plugin does), skipping the network, gateway and broadcast addresses and every
/// address with a lease.
public enum IPAM {
    public static func allocate(in db: Database, network n: NetworkRecord, owner: String,
                                requested: IPv4Address? = nil) throws -> IPv4Address {
        let subnet = n.subnet, gw = n.gateway
        // One primary-key lookup per candidate: a run costs the same with 1 or 10,000 leases. Past
        // the first candidates (a crowded subnet) the leases are read once instead.
        var probes = 0
        var all: Set<String>?
        func taken(_ a: IPv4Address) throws -> Bool {
            if let t = all { return t.contains(a.description) }
            probes += 1
            if probes > 64 {
                all = Set(try db.strings(sql: "SELECT ip FROM leases WHERE network = ?", arguments: [n.name]))
                return all!.contains(a.description)
            }
            return try db.int(sql: "SELECT COUNT(*) FROM leases WHERE network = ? AND ip = ?",
                              arguments: [n.name, a.description]) != 0
        }
        let pick: IPv4Address
        if let r = requested {
            guard subnet.contains(r), r != subnet.network, r != subnet.broadcast, r != gw else {
                throw HutchError("address \(r) is not a usable address of network \(n.name) (\(n.subnet), gateway \(gw))")
            }
            guard try !taken(r) else {
                throw HutchError("address \(r) is already in use on network \(n.name)")
            }
            pick = r
        } else {
            guard let p = try nextFree(subnet: subnet, gateway: gw, after: n.lastIP,
                                   isTaken: taken) else {
                throw HutchError("network \(n.name) (\(n.subnet)) has no free address left: remove containers or use a larger subnet")
            }
            pick = p
        }
        try LeaseRecord(network: n.name, ip: pick, owner: owner).insert(db)
        try db.execute(sql: "UPDATE networks SET lastIP = ? WHERE name = ?", arguments: [pick.description, n.name])
        return pick
    }

    /// The first usable address after `after` (wrapping around), or nil when the subnet is full.
    public static func nextFree(subnet: CIDRv4, gateway: IPv4Address, after: IPv4Address?,
                                isTaken: (IPv4Address) throws -> Bool) rethrows -> IPv4Address? {
        let first = subnet.firstHost.value, last = subnet.lastHost.value
        guard last >= first else { return nil }
        let span = UInt64(last - first) + 1
        var start = first
        if let a = after, subnet.contains(a), a.value >= first, a.value < last { start = a.value + 1 }
        var v = start
        for _ in 0..<span {
            let cand = IPv4Address(v)
            if try cand != gateway && !isTaken(cand) { return cand }
            v = v == last ? first : v + 1
        }
        return nil
    }

    public static func release(in db: Database, owner: String) throws {
        try db.execute(sql: "DELETE FROM leases WHERE owner = ?", arguments: [owner])
    }

    /// Who holds an address of a network (the owner's id), if anyone.
    public static func holder(in db: Database, network: String, ip: IPv4Address) throws -> String? {
        try db.strings(sql: "SELECT owner FROM leases WHERE network = ? AND ip = ?", arguments: [network, ip.description]).first
    }
}
