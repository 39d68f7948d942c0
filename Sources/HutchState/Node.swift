import HutchModel
import HutchOS

/// What the store keeps of this host's membership in a cluster (issue 16): the node's settings as
/// one JSON object under meta key `node` (written by `node join`, gone with `node leave`), and
/// the agent process as `node.agent` ("PID STARTTIME"), so any hutch command can tell whether the
/// agent still runs (one more key of the meta read every command makes).
extension Store {
    public static let nodeKey = "node"
    public static let nodeAgentKey = "node.agent"

    public func nodeMeta() throws -> (node: String?, agent: String?) {
        let m = try read { try Store.meta([Self.nodeKey, Self.nodeAgentKey], in: $0) }
        return (m[Self.nodeKey], m[Self.nodeAgentKey])
    }

    /// The cluster CIDR and the node's subnet of this node's record (its `ClusterCIDR` and
    /// `Subnet` fields, written by HutchCluster's NodeSettings), so `network reload` and a
    /// firewall switch can re-install the cluster's rules.
    public func nodeClusterCIDR() throws -> (CIDRv4, CIDRv4)? {
        guard let n = try nodeMeta().node, let v = JSON.parse(n), let c = v["ClusterCIDR"]?.string.flatMap({ CIDRv4($0) }),
              let s = v["Subnet"]?.string.flatMap({ CIDRv4($0) }) else { return nil }
        return (c, s)
    }

    /// Sets (or with nil removes) a node meta key.
    public func setNodeMeta(_ key: String, _ value: String?) throws {
        try write { db in
            if let v = value { try Store.setMeta(key, v, in: db) }
            else { try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [key]) }
        }
    }

    /// The names of the containers holding an address on the default network.
    public func defaultNetworkHolders() throws -> [String] {
        try read { try Self.holders(in: $0) }
    }

    static func holders(in db: Database) throws -> [String] {
        let owners = try db.strings(sql: "SELECT DISTINCT owner FROM leases WHERE network = 'bridge'")
        return try owners.map { o in try ContainerRecord.fetchOne(db, key: o)?.name ?? String(o.prefix(12)) }.sorted()
    }

    /// Moves the default network to `subnet` (gateway: its first host) with `mtu`, in one
    /// transaction, unless something holds an address on it: then the holders' names, and nothing
    /// changed. Returns the network before and after.
    public func moveDefaultNetwork(to subnet: CIDRv4, mtu: Int) throws -> Result<(old: NetworkRecord, new: NetworkRecord), DefaultNetworkBusy> {
        try write { db in
            guard let old = try Store.network("bridge", in: db) else { throw HutchError("the default network is missing from the store") }
            let holders = try Self.holders(in: db)
            if !holders.isEmpty { return .failure(DefaultNetworkBusy(holders: holders)) }
            var n = old
            n.subnet = subnet.subnet; n.gateway = subnet.subnet.firstHost; n.mtu = mtu; n.lastIP = nil
            if n != old { _ = try n.update(db) }
            return .success((old, n))
        }
    }
}

/// The containers that hold an address on the default network.
public struct DefaultNetworkBusy: Error, Sendable {
    public var holders: [String]
}
