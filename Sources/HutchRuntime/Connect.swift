#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

extension Runtime {
    // MARK: network connect / disconnect

    /// `hutch network connect NET NAME`: one more interface (eth1, eth2...) in a running
    /// container's network namespace, on network NET, with an address leased from it; the names
    /// on NET and the container's hosts file are updated, its default route stays. Returns false
    /// when the container already was on NET that way (nothing to do). A failure undoes every
    /// step; the container's exit removes the interface and releases the address.
    @discardableResult
    public func connect(network ref: String, container cref: String, ip: IPv4Address?, aliases: [String]) throws -> Bool {
        let n = try network(ref)
        let c = try reconcile(try store.container(cref))
        for a in aliases { try Validate.hostname(a, flag: "--alias") }
        if n.name == "bridge" && !aliases.isEmpty {
            throw HutchError("--alias needs a user-defined network: the default network bridge has no names")
        }
        try checkConnectable(c, n)
        // Already there: the same request is done; a different one is an error.
        func already(_ have: IPv4Address, _ haveAliases: [String]) throws -> Bool {
            if let want = ip, want != have {
                throw HutchError("container \(c.name) is already on network \(n.name) with address \(have): disconnect it first to change the address")
            }
            if !Set(aliases).isSubset(of: haveAliases) {
                throw HutchError("container \(c.name) is already on network \(n.name) without alias \(aliases.filter { !haveAliases.contains($0) }.joined(separator: ", ")): disconnect it first to change its aliases")
            }
            return false
        }
        if c.network == n.name, let have = c.ipAddress { return try already(have, c.aliases) }

        let hostVeth = "hv" + String(Sys.randomID().prefix(11))
        let join = try store.write { db -> AttachmentRecord? in
            guard let cur = try ContainerRecord.fetchOne(db, key: c.id), cur.status == .running else {
                throw HutchError("container \(c.name) is not running: network connect works on running containers")
            }
            let mine = try AttachmentRecord.of(c.id, in: db)
            if let j = mine.first(where: { $0.network == n.name }) {
                _ = try already(j.ipAddress, j.aliases)
                return nil
            }
            guard let net = try NetworkRecord.fetchOne(db, key: n.name) else { throw HutchError("no such network: \(ref)") }
            let used = Set(mine.map(\.iface))
            let iface = (1...).lazy.map { "eth\($0)" }.first { !used.contains($0) }!
            let address = try IPAM.allocate(in: db, network: net, owner: c.id, requested: ip)
            let j = AttachmentRecord(container: c.id, network: n.name, iface: iface, ipAddress: address,
                                     hostVeth: hostVeth, aliases: aliases)
            try j.insert(db)
            return j
        }
        guard let j = join else { return false }
        var undo = Undo()
        undo.add("release address \(j.ipAddress) of network \(n.name)") { [store] in
            try store.write { try AttachmentRecord.remove(container: c.id, network: n.name, in: $0) }
        }
        do {
            let spec = BridgeNetwork(n)
            try host.ensureBridge(spec)
            try host.connect(spec, containerPid: c.pid, hostVeth: j.hostVeth, iface: j.iface, address: j.ipAddress)
            undo.add("delete veth \(j.hostVeth)") { [host] in try host.detach(hostVeth: j.hostVeth) }
            // The container may have exited meanwhile, its cleanup not knowing this interface yet.
            let still = try store.read { try AttachmentRecord.of(c.id, in: $0).contains { $0.network == n.name } }
            guard still, Sys.isAlive(pid: c.pid, start: c.pidStart) else {
                throw HutchError("container \(c.name) exited while it was being connected to network \(n.name)")
            }
        } catch {
            throw undo.unwind(after: error)
        }
        refreshNames(network: n.name)
        return true
    }

    /// Only a running container with a network namespace of its own on a bridge network can
    /// join another network (as in Docker: not host, none, container: or pod members).
    func checkConnectable(_ c: ContainerRecord, _ n: NetworkRecord) throws {
        guard c.status == .running, Sys.isAlive(pid: c.pid, start: c.pidStart) else {
            throw HutchError("container \(c.name) is not running: network connect works on running containers")
        }
        if c.pod != nil {
            throw HutchError("cannot connect container \(c.name) to network \(n.name): it is in a pod and shares the pod's network")
        }
        guard c.joinedId == nil, c.network != nil else {
            throw HutchError("cannot connect container \(c.name) to network \(n.name): it uses --network \(c.networkMode), not a bridge network of its own")
        }
    }

    /// `hutch network disconnect NET NAME`: removes the interface a `network connect` added and
    /// releases its address; the names are updated. Returns false when the container was not on
    /// NET (nothing to do). The container's own network (eth0, from `run`) stays.
    @discardableResult
    public func disconnect(network ref: String, container cref: String) throws -> Bool {
        let n = try network(ref)
        let c = try store.container(cref)
        if c.network == n.name {
            throw HutchError("network \(n.name) is the network container \(c.name) was started on (eth0): disconnect removes only networks added with network connect")
        }
        guard let j = try store.read({ try AttachmentRecord.of(c.id, in: $0).first { $0.network == n.name } }) else { return false }
        // Now rather than later: once this returns, the container has no interface on NET.
        try host.detach(hostVeth: j.hostVeth)
        try store.write { try AttachmentRecord.remove(container: c.id, network: n.name, in: $0) }
        refreshNames(network: n.name)
        if let cur = try store.findContainer(c.id) { refreshHosts(of: cur) }
        return true
    }

    /// The networks a container joined with `network connect`.
    public func joinedNetworks(_ c: ContainerRecord) throws -> [AttachmentRecord] {
        try store.read { try AttachmentRecord.of(c.id, in: $0) }
    }

    // MARK: rename

    /// `hutch rename OLD NEW`: the container keeps everything but its name; the names on its
    /// networks (hosts files) follow.
    @discardableResult
    public func rename(_ ref: String, to name: String) throws -> ContainerRecord {
        try Validate.name(name, flag: "new name")
        let c = try store.container(ref)
        if c.isInfra, let p = c.pod, let pod = try store.read({ try PodRecord.fetchOne($0, key: p) }) {
            throw HutchError("container \(c.name) is the infra container of pod \(pod.name): it cannot be renamed")
        }
        if c.name == name {
            throw HutchError("container \(c.name) already has the name \(name): give another new name")
        }
        let renamed = try store.write { db -> ContainerRecord in
            guard var cur = try ContainerRecord.fetchOne(db, key: c.id) else { throw HutchError("no such container: \(ref)") }
            if let other = try ContainerRecord.named(name, in: db) {
                throw HutchError("the container name \"\(name)\" is already in use by container \(other.shortId): remove it (hutch rm -f \(name)) or pick another name")
            }
            try ContainerRecord.rename(c.id, to: name, in: db)
            cur.name = name
            return cur
        }
        refreshHosts(of: renamed)
        refreshNames(network: renamed.network)
        for j in try joinedNetworks(renamed) { refreshNames(network: j.network) }
        return renamed
    }
}
