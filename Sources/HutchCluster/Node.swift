import HutchModel
import HutchOS
import HutchNet
import HutchState
import HutchRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `node join` as the user asked for it (nil: take the cluster's, or the default).
public struct JoinOptions: Sendable {
    public var name: String
    /// One URL or a comma-separated list, as given; `validate` parses it into `endpoints`.
    public var etcd: String
    public var endpoints: [String] = []
    public var nodeIP: IPv4Address
    public var backend: Backend?
    public var clusterCIDR: CIDRv4?
    public var leaseTTL: Int = 30
    public var prefix: String = "/hutch/"
    /// TLS to an https:// etcd (validated, and the paths made absolute, by `validate`).
    public var tls: EtcdTLS = .none

    public init(name: String, etcd: String, nodeIP: IPv4Address) { self.name = name; self.etcd = etcd; self.nodeIP = nodeIP }

    public mutating func validate() throws {
        try NodeName.validate(name)
        endpoints = try EtcdEndpoints.parse(etcd)
        tls = try tls.validated(for: EtcdEndpoints.render(endpoints))
        _ = try ClusterKeys(prefix: prefix)
        guard (2...86400).contains(leaseTTL) else { throw HutchError("invalid --lease-ttl \(leaseTTL): use 2 to 86400 seconds") }
        if let c = clusterCIDR {
            guard c.prefix >= 8, c.prefix <= 22 else {
                throw HutchError("invalid --cluster-cidr \(c): use a prefix from /8 to /22 (each node takes a /24 of it)")
            }
            if let r = c.specialPurposeOverlap {
                throw HutchError("invalid --cluster-cidr \(c): it overlaps the special-purpose range \(r); use a private range such as 10.244.0.0/16")
            }
        }
        guard !nodeIP.isLoopback, !nodeIP.isUnspecified else {
            throw HutchError("invalid --node-ip \(nodeIP): give this node's address on the network the other nodes share")
        }
    }
}

/// The node lifecycle: join, leave, list. Each step that leaves something behind registers its
/// undo, so a failed join leaves nothing half-made.
public struct ClusterNode {
    public let rt: Runtime

    public init(_ rt: Runtime) { self.rt = rt }

    public func settings() throws -> NodeSettings? {
        try rt.nodeRecords().node.map { try NodeSettings(json: $0) }
    }

    public func requireSettings() throws -> NodeSettings {
        guard let s = try settings() else {
            throw HutchError("this host is not a cluster node: join one first (hutch node join --name N --etcd URL --node-ip IP)")
        }
        return s
    }

    // MARK: join

    public func join(_ options: JoinOptions) throws -> NodeSettings {
        var o = options
        try o.validate()
        if let s = try settings() {
            throw HutchError("this host is already node \(s.name) of the cluster at \(s.etcdList): leave it first (hutch node leave)")
        }
        if Environment.get("HUTCH_DEFAULT_SUBNET") != nil {
            throw HutchError("HUTCH_DEFAULT_SUBNET is set: a cluster node's default network takes its subnet from the cluster; unset it")
        }
        let keys = try ClusterKeys(prefix: o.prefix)
        let nl = try NetlinkSession()
        let underlay = try Overlay.underlay(o.nodeIP, nl)
        try rt.checkDefaultNetworkFree()

        var undo: [(String, () throws -> Void)] = []
        func unwind(_ error: any Error) -> any Error {
            var failures = ErrorList()
            while let (step, f) = undo.popLast() { failures.attempt(step, f) }
            if failures.isEmpty { return error }
            return HutchError("\(error); undoing it also failed: " + failures.lines.joined(separator: "; "))
        }
        do {
            let etcd = try EtcdClient(endpoints: o.endpoints, tls: o.tls)
            // 1. The cluster configuration: written by the first node, read by the others.
            let wanted = ClusterConfig(network: o.clusterCIDR ?? ClusterConfig.defaultNetwork, backend: o.backend ?? .vxlan)
            var config = wanted
            let made = try etcd.createIfAbsent(keys.config, wanted.json)
            if made.created {
                // A first node that fails to join leaves no config behind (unless another joined meanwhile).
                undo.append(("remove the cluster config", { _ = try etcd.deleteIfEmpty(keys.subnets, keys: [keys.config, keys.cursor]) }))
            } else {
                let existing = try made.existing.map { try ClusterConfig(json: $0.value) } ?? wanted
                if let b = o.backend, b != existing.backend {
                    throw HutchError("--backend \(b.rawValue) conflicts with the cluster's backend \(existing.backend.rawValue) (\(keys.config) at \(etcd.endpoint)): drop --backend or use \(existing.backend.rawValue)")
                }
                if let c = o.clusterCIDR, c.subnet != existing.network {
                    throw HutchError("--cluster-cidr \(c) conflicts with the cluster's network \(existing.network) (\(keys.config) at \(etcd.endpoint)): drop --cluster-cidr or use \(existing.network)")
                }
                config = existing
            }
            if config.network.overlaps(underlay.onLink) {
                throw HutchError("the cluster network \(config.network) overlaps this node's network \(underlay.onLink): pick another --cluster-cidr")
            }
            // 2. The subnet lease.
            let (subnet, lease, ttl, others) = try takeSubnet(o, config, keys, etcd, underlay.onLink, undo: &undo)
            let mtu = try Overlay.podMTU(backend: config.backend, nodeIP: o.nodeIP)
            let s = NodeSettings(name: o.name, etcd: EtcdEndpoints.render(etcd.endpoints), prefix: keys.prefix, backend: config.backend,
                                 clusterCIDR: config.network, subnet: subnet, nodeIP: o.nodeIP, leaseTTL: ttl,
                                 lease: lease, mtu: mtu, tls: o.tls)
            // 3. The default network moves onto the node's subnet (refused while containers use it).
            try rt.moveDefaultNetwork(to: subnet, mtu: mtu)
            undo.append(("move the default network back", { [rt] in try rt.moveDefaultNetwork(to: nil, mtu: 0) }))
            // 4. Firewall: pod traffic inside the cluster CIDR is forwarded and keeps its source.
            let fw = makeFirewall(rt.firewall)
            try fw.setupCluster(s.rules)
            undo.append(("remove the cluster's firewall rules", { try fw.teardownCluster(s.rules) }))
            // 5. The overlay: this node's device, and the nodes already there.
            let overlay = Overlay(s)
            try overlay.setUpLocal()
            undo.append(("remove the overlay", { try overlay.removeLocal() }))
            for r in others { try overlay.program(r) }
            // 6. Recorded; then the agent takes over the lease and the watch.
            try rt.setNodeRecord(s.json)
            undo.append(("forget the node record", { [rt] in try rt.setNodeRecord(nil) }))
            try startAgent()
            return s
        } catch {
            throw unwind(error)
        }
    }

    /// Leases a free subnet (or, on a rejoin under the same name and node IP while the old lease
    /// lives, the one it had). Returns the subnet, the lease, its TTL, and the other nodes.
    func takeSubnet(_ o: JoinOptions, _ config: ClusterConfig, _ keys: ClusterKeys, _ etcd: EtcdClient, _ onLink: CIDRv4,
                    undo: inout [(String, () throws -> Void)]) throws -> (CIDRv4, Int64, Int, [SubnetRecord]) {
        func records() throws -> [(KeyValue, SubnetRecord)] {
            try etcd.list(keys.subnets).kvs.compactMap { kv in
                keys.subnet(ofKey: kv.key).flatMap { SubnetRecord(subnet: $0, json: kv.value) }.map { (kv, $0) }
            }
        }
        func checkOnLink(_ rs: [SubnetRecord]) throws {
            guard config.backend == .hostGW else { return }
            if let r = rs.first(where: { !onLink.contains($0.publicIP) }) { throw Overlay.notOnLink(r, onLink) }
        }
        var current = try records()
        if let (kv, mine) = current.first(where: { $0.1.node == o.name }) {
            guard mine.publicIP == o.nodeIP else {
                throw HutchError("node name \(o.name) is taken by the node at \(mine.publicIP) (\(mine.subnet)): pick another --name")
            }
            // A rejoin while the old lease lives: the same subnet, the same lease.
            if kv.lease != 0, case let ttl = try etcd.keepAlive(kv.lease), ttl > 0 {
                let others = current.map(\.1).filter { $0.subnet != mine.subnet }
                try checkOnLink(others)
                var rec = mine
                rec.backend = config.backend
                rec.vtepMAC = config.backend == .vxlan ? SubnetRecord.vtepMAC(for: mine.subnet) : nil
                if try etcd.putIfLease(kv.key, rec.json, lease: kv.lease) {
                    undo.append(("revoke lease \(kv.lease)", { try etcd.revoke(kv.lease) }))
                    // The lease keeps the TTL it was granted with (renewed every TTL/3).
                    return (mine.subnet, kv.lease, Int(ttl), others)
                }
                current = try records()
            }
        }
        try checkOnLink(current.map(\.1))
        let lease = try etcd.grant(ttl: o.leaseTTL)
        undo.append(("revoke lease \(lease)", { try etcd.revoke(lease) }))
        // Two nodes may pick the same free subnet: the transaction lets one win; the other reads
        // again and takes the next free one.
        for _ in 0..<64 {
            let taken = Set(current.map(\.1.subnet))
            let cursor = try etcd.get(keys.cursor).flatMap { CIDRv4($0.value) }
            guard let s = config.firstFree(taken: taken, from: cursor) else {
                throw HutchError("no free /\(config.subnetLen) left in the cluster network \(config.network): remove nodes or widen the network")
            }
            let rec = SubnetRecord(subnet: s, node: o.name, publicIP: o.nodeIP, backend: config.backend,
                                   vtepMAC: config.backend == .vxlan ? SubnetRecord.vtepMAC(for: s) : nil)
            let next = config.after(s).map { [(keys.cursor, $0.description)] } ?? []
            let r = try etcd.createIfAbsent(keys.subnet(s), rec.json, lease: lease, alsoPut: next)
            // Held under this join's own lease: a request that timed out at one etcd member after
            // it was applied, and was sent again to the next (the key is this node's).
            if r.created || (r.existing?.lease == lease && r.existing?.value == rec.json) {
                return (s, lease, o.leaseTTL, current.map(\.1))
            }
            current = try records()
        }
        throw HutchError("could not lease a subnet in \(config.network): too many nodes joining at once; try again")
    }

    /// Starts the agent detached and waits (up to 5 s) until it has recorded itself.
    public func startAgent() throws {
        if Runtime.liveAgent(try rt.nodeRecords().agent) != nil { return }
        let pid = try rt.spawnNodeAgent()
        for _ in 0..<250 {
            if Runtime.liveAgent(try rt.nodeRecords().agent) != nil { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw HutchError("the node agent exited at once (status \(status)): see \(Agent.logPath(rt.root))")
            }
            Sys.sleepMS(20)
        }
        throw HutchError("the node agent did not start within 5 s: see \(Agent.logPath(rt.root))")
    }

    // MARK: leave

    /// Revokes the lease (the other nodes drop this node's routes), stops the agent and removes
    /// this node's overlay and rules; the default network goes back to hutch's default. Refused
    /// while containers hold addresses on the default network. Every step is tried; the failures
    /// are reported together.
    public func leave() throws -> NodeSettings {
        let s = try requireSettings()
        // Refused while containers use the default network (checked again when it moves back).
        try rt.checkDefaultNetworkFree()
        var failures = ErrorList()
        failures.attempt("stop the node agent") { try stopAgent() }
        // The lease first: the other nodes drop this node's routes as soon as it is revoked.
        failures.attempt("revoke the subnet lease in etcd (it expires within \(s.leaseTTL) s)") {
            let etcd = try EtcdClient(endpoints: s.endpoints, tls: s.tls)
            try etcd.revoke(s.lease)
            // The last node out takes the cluster's config and cursor with it.
            _ = try etcd.deleteIfEmpty(s.keys.subnets, keys: [s.keys.config, s.keys.cursor])
        }
        failures.attempt("forget the other nodes' services and endpoints") {
            for p in try rt.applyClusterServices([], remoteEndpoints: [:]) { Out.err("hutch: \(p)") }
        }
        failures.attempt("move the default network back") { try rt.moveDefaultNetwork(to: nil, mtu: 0) }
        failures.attempt("remove the overlay") { try Overlay(s).removeLocal() }
        failures.attempt("remove the cluster's firewall rules") {
            try makeFirewall(rt.firewall).teardownCluster(s.rules)
        }
        failures.attempt("forget the node record") { try rt.setNodeRecord(nil) }
        try failures.check("node \(s.name) left the cluster, but")
        return s
    }

    /// Forgets the agent's record first (so that no hutch command running meanwhile restarts it),
    /// then SIGTERM, SIGKILL after 2 s; waits until it is gone.
    func stopAgent() throws {
        let rec = try rt.nodeRecords().agent
        try rt.clearNodeAgent()
        guard let pid = Runtime.liveAgent(rec) else { return }
        kill(pid, SIGTERM)
        for i in 0..<300 {
            if Runtime.liveAgent(rec) == nil { return }
            if i == 100 { kill(pid, SIGKILL) }
            Sys.sleepMS(20)
        }
        throw HutchError("the node agent (pid \(pid)) did not exit")
    }

    // MARK: list

    public struct Row: Sendable {
        public var record: SubnetRecord
        public var isSelf: Bool
        public var ready: Bool
    }

    /// Every node with a live lease (an expired lease takes its record with it). This node, when
    /// it is one, is Ready only while its agent runs.
    /// `tls`: as given on the command line; none given, this node's (when it asks its own etcd).
    public func list(etcd url: String?, tls given: EtcdTLS = .none, prefix: String?) throws -> [Row] {
        let s = try settings()
        guard let endpoints = try url.map({ try EtcdEndpoints.parse($0) }) ?? s?.endpoints else {
            throw HutchError("this host is not a cluster node: give --etcd URL, or join first (hutch node join)")
        }
        let tls = try (given.isEmpty && endpoints == s?.endpoints ? s?.tls ?? .none : given).validated(for: EtcdEndpoints.render(endpoints))
        let keys = try ClusterKeys(prefix: prefix ?? s?.prefix ?? "/hutch/")
        let kvs = try EtcdClient(endpoints: endpoints, tls: tls).list(keys.subnets).kvs
        let agent = Runtime.liveAgent(try rt.nodeRecords().agent) != nil
        return kvs.compactMap { kv -> Row? in
            guard let sn = keys.subnet(ofKey: kv.key), let r = SubnetRecord(subnet: sn, json: kv.value) else { return nil }
            let me = s.map { $0.subnet == sn && $0.name == r.node } ?? false
            return Row(record: r, isSelf: me, ready: me ? agent : true)
        }.sorted { $0.record.subnet.address < $1.record.subnet.address }
    }
}
