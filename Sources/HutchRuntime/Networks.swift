#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

extension Runtime {
    /// Subnets tried, in order, when `network create` is not given one: 10.90.0.0/24 upwards
    /// (10.87/16 is hutch's default bridge, 10.88/16 Podman's, 10.89 left as a margin).
    static func subnetPool() -> [CIDRv4] {
        var out: [CIDRv4] = []
        for b in 90...126 { for c in 0...255 { out.append(CIDRv4(address: IPv4Address(UInt32(10 << 24 | b << 16 | c << 8)), prefix: 24)) } }
        return out
    }

    /// `hutch network create`: validates, picks a subnet that overlaps neither another hutch
    /// network nor a host route, records the network and creates its bridge and rules.
    public func createNetwork(_ checked: Validated<NetworkOptions>) throws -> NetworkRecord {
        let o = checked.options
        let hostRoutes = try host.routedSubnets()
        let id = Sys.randomID()
        let bridge = o.bridge ?? "hb-" + String(id.prefix(11))
        if try host.linkExists(bridge) {
            throw HutchError("invalid --bridge \(bridge): an interface of that name already exists")
        }
        let record = try store.write { db -> NetworkRecord in
            _ = try Store.network("bridge", in: db)
            let existing = try NetworkRecord.all(in: db)
            if existing.contains(where: { $0.name == o.name }) {
                throw HutchError("network \(o.name) already exists: remove it first (hutch network rm \(o.name)) or pick another name")
            }
            if existing.contains(where: { $0.bridge == bridge }) {
                throw HutchError("invalid --bridge \(bridge): network \(existing.first { $0.bridge == bridge }!.name) uses that bridge")
            }
            let taken = existing.map(\.subnet)
            let subnet: CIDRv4
            if let s = o.subnet?.subnet {
                if let t = existing.first(where: { $0.subnet.overlaps(s) }) {
                    throw HutchError("invalid --subnet \(s): it overlaps network \(t.name) (\(t.subnet))")
                }
                if let r = hostRoutes.first(where: { $0.overlaps(s) }) {
                    throw HutchError("invalid --subnet \(s): it overlaps the host route \(r.subnet)")
                }
                subnet = s
            } else {
                guard let s = Self.subnetPool().first(where: { c in
                    !taken.contains(where: { $0.overlaps(c) }) && !hostRoutes.contains(where: { $0.overlaps(c) })
                }) else { throw HutchError("no free subnet left in hutch's pool: give one with --subnet") }
                subnet = s
            }
            let gw = o.gateway ?? subnet.firstHost
            guard subnet.contains(gw), gw != subnet.network, gw != subnet.broadcast else {
                throw HutchError("invalid --gateway \(gw): not a host address of \(subnet)")
            }
            let n = NetworkRecord(name: o.name, id: id, bridge: bridge, subnet: subnet, gateway: gw,
                                  isInternal: o.isInternal, lastIP: nil, createdAt: Sys.now())
            try n.insert(db)
            return n
        }
        do {
            try host.ensureBridge(BridgeNetwork(record))
        } catch {
            _ = try? store.write { _ = try NetworkRecord.deleteOne($0, key: record.name) }
            throw error
        }
        return record
    }

    public func networks() throws -> [NetworkRecord] {
        // The default network's record is written on first use (or when HUTCH_DEFAULT_SUBNET
        // changes it); `store.network` takes the write lock only then.
        _ = try store.network("bridge")
        return try store.read { try NetworkRecord.all(in: $0) }
    }

    public func network(_ ref: String) throws -> NetworkRecord {
        if let n = try store.network(ref) { return n }
        if let n = try networks().first(where: { $0.id.hasPrefix(ref) && ref.count >= 3 }) { return n }
        throw HutchError("no such network: \(ref)")
    }

    /// Running containers attached to a network (pods appear through their infra container).
    /// Those that joined it with `network connect` are included, with their address there.
    public func attached(to network: String) throws -> [ContainerRecord] {
        let (own, joined) = try store.read { db in
            (try ContainerRecord.running(onNetwork: network, in: db),
             try AttachmentRecord.on(network, in: db).compactMap { j -> ContainerRecord? in
                 guard var c = try ContainerRecord.fetchOne(db, key: j.container), c.status == .running else { return nil }
                 c.ipAddress = j.ipAddress; c.macAddress = j.ipAddress.derivedMAC
                 return c
             })
        }
        return try (own + joined).filter { try reconcile($0).status == .running }
    }

    /// `hutch network rm`: refuses while containers or pods are attached (naming them); otherwise
    /// deletes the bridge, its rules and its record.
    public func removeNetwork(_ ref: String) throws -> NetworkRecord {
        let n = try network(ref)
        if n.name == "bridge" { throw HutchError("the default network bridge cannot be removed") }
        let users = try attached(to: n.name)
        if !users.isEmpty {
            let names = try users.map { c -> String in
                if c.isInfra, let p = c.pod, let pod = try store.read({ try PodRecord.fetchOne($0, key: p) }) { return "pod \(pod.name)" }
                return c.name
            }
            throw HutchError("network \(n.name) is in use by \(names.joined(separator: ", ")): remove them first")
        }
        try host.removeBridge(BridgeNetwork(n))
        try store.write { try NetworkRecord.delete(n.name, in: $0) }
        return n
    }

    /// `hutch network prune`: removes every user-defined network nothing runs on.
    public func pruneNetworks() throws -> [String] {
        var removed: [String] = []
        for n in try networks() where n.name != "bridge" {
            if try attached(to: n.name).isEmpty {
                _ = try removeNetwork(n.name)
                removed.append(n.name)
            }
        }
        return removed
    }

    // MARK: name resolution

    /// On user-defined networks every container resolves the others by name, hostname and
    /// `--network-alias` (the default bridge keeps Docker's behaviour: no names). hutch rewrites
    /// the members' hosts files whenever a member starts, goes, joins or leaves (see
    /// HostsFile.rewrite). A member sees the peers of every user network it is on: its own and
    /// those it joined with `network connect`.
    func refreshNames(network: String?) {
        guard let net = network, net != "bridge" else { return }
        withHostsLock {
            guard let files = try? store.read({ db -> [(String, HostsFile)] in
                var v = try NameView(db)
                return try v.hostsFiles(for: v.members(net).map(\.0))
            }) else { return }
            for (id, h) in files { h.rewrite(at: containerDir(id) + "/hosts") }
        }
    }

    /// Rewrites one container's own hosts file (after a rename), if hutch generated it.
    func refreshHosts(of c: ContainerRecord) {
        guard c.status == .running, c.joinedId == nil, c.networkMode != "host" else { return }
        withHostsLock {
            guard let files = try? store.read({ db -> [(String, HostsFile)] in
                var v = try NameView(db)
                return try v.hostsFiles(for: [c])
            }) else { return }
            for (id, h) in files { h.rewrite(at: containerDir(id) + "/hosts") }
        }
    }

    /// `--add-host` entries as hosts lines; `host-gateway` is the network's gateway.
    static func extraHostLines(_ entries: [String], gateway: IPv4Address?) -> [(IPv4Address, String)] {
        entries.compactMap { e in
            guard let x = try? ExtraHost(parsing: e), let a = x.address ?? gateway else { return nil }
            return (a, x.name)
        }
    }
}

/// Who is on which network, read in one transaction: the running containers of each network
/// asked for (their own network or one they joined), with the names they answer to there.
struct NameView {
    let db: Database
    let joins: [AttachmentRecord]
    private var members: [String: [(ContainerRecord, IPv4Address, [String])]] = [:]
    private var records: [String: ContainerRecord?] = [:]
    private var networks: [String: NetworkRecord?] = [:]

    let services: String

    init(_ db: Database) throws {
        self.db = db
        joins = try AttachmentRecord.all(in: db)
        services = try ServiceStore.hostsLines(in: db)
    }

    mutating func record(_ id: String) throws -> ContainerRecord? {
        if let r = records[id] { return r }
        let r = try ContainerRecord.fetchOne(db, key: id).flatMap { $0.status == .running ? $0 : nil }
        records[id] = r
        return r
    }

    mutating func network(_ name: String) throws -> NetworkRecord? {
        if let n = networks[name] { return n }
        let n = try NetworkRecord.fetchOne(db, key: name)
        networks[name] = n
        return n
    }

    /// The running containers on `net`: record, address there, names there.
    mutating func members(_ net: String) throws -> [(ContainerRecord, IPv4Address, [String])] {
        if let m = members[net] { return m }
        var out = try ContainerRecord.running(onNetwork: net, in: db).compactMap { m in
            try m.ipAddress.map { (m, $0, try Self.names(m, in: db)) }
        }
        for j in joins where j.network == net {
            guard let r = try record(j.container) else { continue }
            var names = try Self.names(r, in: db)
            for a in j.aliases where !names.contains(a) { names.append(a) }
            out.append((r, j.ipAddress, names))
        }
        members[net] = out
        return out
    }

    /// Each container's hosts file: its own names and addresses, `--add-host` lines, and the
    /// peers of every user network it is on.
    mutating func hostsFiles(for containers: [ContainerRecord]) throws -> [(String, HostsFile)] {
        var out: [(String, HostsFile)] = []
        for m in containers {
            let mine = joins.filter { $0.container == m.id }
            let nets = ([m.network].compactMap { $0 } + mine.map(\.network)).filter { $0 != "bridge" }
            var peers: [(IPv4Address, [String])] = []
            var seen = Set<IPv4Address>()
            for n in nets {
                for (p, ip, names) in try members(n) where p.id != m.id && !seen.contains(ip) {
                    seen.insert(ip)
                    peers.append((ip, names))
                }
            }
            let gw = try m.network.flatMap { try network($0) }?.gateway
            let names = try Self.names(m, in: db)
            var h = HostsFile(hostname: m.hostname, name: names.first ?? m.name, address: m.ipAddress, gateway: gw)
            h.aliases = m.aliases
            h.peers = peers
            h.moreAddresses = mine.map(\.ipAddress)
            h.services = services
            h.extraHosts = Runtime.extraHostLines(m.extraHosts, gateway: gw)
            out.append((m.id, h))
        }
        return out
    }

    /// The names a container answers to on its network: its name (a pod's infra answers to the
    /// pod's name), its hostname, its aliases.
    static func names(_ c: ContainerRecord, in db: Database) throws -> [String] {
        var names: [String] = []
        if c.isInfra, let p = c.pod, let pod = try PodRecord.fetchOne(db, key: p) {
            names.append(pod.name)
            if pod.hostname != pod.name { names.append(pod.hostname) }
        } else {
            names.append(c.name)
            if c.hostname != c.name { names.append(c.hostname) }
        }
        for a in c.aliases where !names.contains(a) { names.append(a) }
        return names
    }
}
