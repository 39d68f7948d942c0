import HutchModel
import HutchOS
import HutchNet
import HutchState

/// How pods on different nodes reach each other.
public enum Backend: String, Sendable, CaseIterable {
    /// flannel's VXLAN: one device (VNI 1, UDP 8472, nolearning); per remote node a route via its
    /// tunnel address onlink, a permanent neighbour and an fdb entry. Pod MTU: underlay − 50.
    case vxlan
    /// A route per remote node via its node IP: needs every node on one L2 segment.
    case hostGW = "host-gw"
}

/// The cluster's configuration, written once by the first node under `PREFIX/config` (flannel's
/// network config): `{"Backend":{"Type":"vxlan"},"Network":"10.244.0.0/16","SubnetLen":24}`.
public struct ClusterConfig: Sendable, Equatable {
    public var network: CIDRv4
    public var subnetLen: Int
    public var backend: Backend

    public static let defaultNetwork = CIDRv4("10.244.0.0/16")!

    public init(network: CIDRv4, subnetLen: Int = 24, backend: Backend) {
        self.network = network.subnet; self.subnetLen = subnetLen; self.backend = backend
    }

    public var json: String {
        JSON.object(["Network": .string(network.description), "SubnetLen": .int(Int64(subnetLen)),
                     "Backend": .object(["Type": .string(backend.rawValue)])]).render()
    }

    public init(json text: String) throws {
        guard let j = JSON.parse(text), let n = j["Network"]?.stringValue.flatMap({ CIDRv4($0) }),
              let t = j["Backend"]?["Type"]?.stringValue, let b = Backend(rawValue: t) else {
            throw HutchError("the cluster configuration in etcd is not hutch's: \(text.prefix(200))")
        }
        self.init(network: n, subnetLen: Int(j["SubnetLen"]?.int64Value ?? 24), backend: b)
    }

    /// Every node subnet of the cluster, in order; the first one (the network's own address)
    /// is left out, as flannel does.
    public var subnets: [CIDRv4] {
        guard subnetLen > network.prefix, subnetLen <= 30 else { return [] }
        let count = 1 << (subnetLen - network.prefix)
        let step = UInt32(1) << UInt32(32 - subnetLen)
        return (1..<count).map { CIDRv4(address: IPv4Address(network.network.value + UInt32($0) * step), prefix: subnetLen) }
    }

    /// The first subnet not in `taken`, starting at `from` (the allocation cursor) and wrapping
    /// around: round-robin like host-local IPAM, so a subnet freed a moment ago (a node whose
    /// lease expired while etcd was away, about to take it back) is the last one handed out again.
    public func firstFree(taken: Set<CIDRv4>, from: CIDRv4? = nil) -> CIDRv4? {
        let all = subnets
        let start = from.flatMap { f in all.firstIndex(of: f.subnet) } ?? 0
        return (all[start...] + all[..<start]).first { !taken.contains($0) }
    }

    /// The subnet after `s` (wrapping), for the cursor.
    public func after(_ s: CIDRv4) -> CIDRv4? {
        let all = subnets
        guard let i = all.firstIndex(of: s) else { return all.first }
        return all[(i + 1) % all.count]
    }
}

/// Where things live under the key prefix (default `/hutch/`).
public struct ClusterKeys: Sendable, Equatable {
    public var prefix: String

    public init(prefix: String) throws {
        guard prefix.hasPrefix("/"), !prefix.contains(" "), prefix.utf8.count <= 200 else {
            throw HutchError("invalid --etcd-prefix \"\(prefix)\": use a key path such as /hutch/")
        }
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    public var config: String { prefix + "config" }
    /// The next subnet to hand out (no lease: it outlives the nodes, like the config).
    public var cursor: String { prefix + "subnet-cursor" }
    public var subnets: String { prefix + "subnets/" }
    /// `PREFIX/subnets/10.244.1.0-24`, flannel's key shape.
    public func subnet(_ s: CIDRv4) -> String { subnets + "\(s.network)-\(s.prefix)" }
    public func subnet(ofKey key: String) -> CIDRv4? {
        guard key.hasPrefix(subnets) else { return nil }
        return CIDRv4(key.dropFirst(subnets.count).replacingDash())
    }
}

extension Substring {
    func replacingDash() -> String { String(map { $0 == "-" ? "/" : $0 }) }
}

/// One node's subnet lease record, `PREFIX/subnets/10.244.I.0-24`, attached to the node's etcd
/// lease: `{"BackendData":{"VtepMAC":"…"},"BackendType":"vxlan","Node":"n1","PublicIP":"192.0.2.1"}`.
public struct SubnetRecord: Sendable, Equatable {
    public var subnet: CIDRv4
    public var node: String
    public var publicIP: IPv4Address
    public var backend: Backend
    /// The node's vxlan device MAC (vxlan only).
    public var vtepMAC: String?

    public init(subnet: CIDRv4, node: String, publicIP: IPv4Address, backend: Backend, vtepMAC: String?) {
        self.subnet = subnet; self.node = node; self.publicIP = publicIP; self.backend = backend; self.vtepMAC = vtepMAC
    }

    public var json: String {
        var o: [String: JSON] = ["Node": .string(node), "PublicIP": .string(publicIP.description),
                                 "BackendType": .string(backend.rawValue)]
        if let m = vtepMAC { o["BackendData"] = .object(["VtepMAC": .string(m)]) }
        return JSON.object(o).render()
    }

    public init?(subnet: CIDRv4, json text: String) {
        guard let j = JSON.parse(text), let ip = j["PublicIP"]?.stringValue.flatMap({ IPv4Address($0) }),
              let b = j["BackendType"]?.stringValue.flatMap(Backend.init(rawValue:)) else { return nil }
        self.init(subnet: subnet, node: j["Node"]?.stringValue ?? "", publicIP: ip, backend: b,
                  vtepMAC: j["BackendData"]?["VtepMAC"]?.stringValue)
    }

    /// The node's address on the vxlan device: its subnet's network address (10.244.I.0/32).
    public var tunnelAddress: IPv4Address { subnet.network }

    /// The vxlan device's MAC, derived from the tunnel address (so a rejoin keeps it):
    /// 0e:48:10:244:I:0 in hex — locally administered, unicast, not hutch's container prefix 02:42.
    public static func vtepMAC(for subnet: CIDRv4) -> String {
        (["0e", "48"] + subnet.network.octets.map { b in let h = String(b, radix: 16); return h.count == 1 ? "0" + h : h })
            .joined(separator: ":")
    }
}

/// What `node join` records locally (the store's meta key `node`), read by every `hutch-node`
/// command and the agent (and its `ClusterCIDR` by `Store.nodeClusterCIDR`, for `network reload`).
public struct NodeSettings: Sendable, Equatable {
    public var name: String
    /// etcd's client URLs (`--etcd a,b,c`), tried in this order.
    public var endpoints: [String]
    public var prefix: String
    public var backend: Backend
    public var clusterCIDR: CIDRv4
    public var subnet: CIDRv4
    public var nodeIP: IPv4Address
    public var leaseTTL: Int
    public var lease: Int64
    public var mtu: Int
    /// The TLS files given at join (absolute paths), used by every later command and the agent.
    public var tls: EtcdTLS

    /// `etcd`: one URL, or a comma-separated list.
    public init(name: String, etcd: String, prefix: String, backend: Backend, clusterCIDR: CIDRv4, subnet: CIDRv4,
                nodeIP: IPv4Address, leaseTTL: Int, lease: Int64, mtu: Int, tls: EtcdTLS = .none) {
        self.name = name; endpoints = etcd.split(separator: ",").map(String.init); self.prefix = prefix; self.backend = backend; self.clusterCIDR = clusterCIDR
        self.subnet = subnet; self.nodeIP = nodeIP; self.leaseTTL = leaseTTL; self.lease = lease; self.mtu = mtu
        self.tls = tls
    }

    /// The first endpoint (the record's `Etcd`, as before lists).
    public var etcd: String { endpoints.first ?? "" }
    /// The list as `--etcd` takes it.
    public var etcdList: String { EtcdEndpoints.render(endpoints) }

    public var json: String {
        JSON.object(["Name": .string(name), "Etcd": .string(etcd), "Prefix": .string(prefix), "Backend": .string(backend.rawValue),
                     "ClusterCIDR": .string(clusterCIDR.description), "Subnet": .string(subnet.description),
                     "NodeIP": .string(nodeIP.description), "LeaseTTL": .int(Int64(leaseTTL)),
                     "Lease": .string(String(lease)), "MTU": .int(Int64(mtu))].merging(tls.jsonFields) { a, _ in a }
                        // Several members: the list too (one: `Etcd` only, as before lists).
                        .merging(endpoints.count > 1 ? ["EtcdEndpoints": .array(endpoints.map { .string($0) })] : [:]) { a, _ in a }).render()
    }

    public init(json text: String) throws {
        guard let j = JSON.parse(text), let name = j["Name"]?.stringValue, let etcd = j["Etcd"]?.stringValue,
              let prefix = j["Prefix"]?.stringValue, let b = j["Backend"]?.stringValue.flatMap(Backend.init(rawValue:)),
              let c = j["ClusterCIDR"]?.stringValue.flatMap({ CIDRv4($0) }), let s = j["Subnet"]?.stringValue.flatMap({ CIDRv4($0) }),
              let ip = j["NodeIP"]?.stringValue.flatMap({ IPv4Address($0) }) else {
            throw HutchError("the node record in the state store is damaged: leave the cluster (hutch node leave) and join again")
        }
        let list = j["EtcdEndpoints"]?.arrayValue.compactMap(\.stringValue) ?? []
        self.init(name: name, etcd: list.isEmpty ? etcd : EtcdEndpoints.render(list), prefix: prefix, backend: b, clusterCIDR: c, subnet: s, nodeIP: ip,
                  leaseTTL: Int(j["LeaseTTL"]?.int64Value ?? 30), lease: j["Lease"]?.int64Value ?? 0,
                  mtu: Int(j["MTU"]?.int64Value ?? 0), tls: EtcdTLS(json: j))
    }

    /// The node's cluster firewall rules.
    public var rules: ClusterRules { ClusterRules(cidr: clusterCIDR, bridge: Store.defaultNetwork.bridge, gateway: subnet.firstHost) }

    public var keys: ClusterKeys { (try? ClusterKeys(prefix: prefix)) ?? (try! ClusterKeys(prefix: "/hutch/")) }
    public var record: SubnetRecord {
        SubnetRecord(subnet: subnet, node: name, publicIP: nodeIP, backend: backend,
                     vtepMAC: backend == .vxlan ? SubnetRecord.vtepMAC(for: subnet) : nil)
    }
}

/// A node name: what a hostname may be (letters, digits, '-', '.', '_'), at most 63 characters.
public enum NodeName {
    public static func validate(_ n: String) throws {
        func alnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
        let b = Array(n.utf8)
        guard let first = b.first, alnum(first), b.count <= 63, b.allSatisfy({ alnum($0) || $0 == 45 || $0 == 46 || $0 == 95 }) else {
            throw HutchError("invalid --name \"\(n)\": a node name is 1-63 letters, digits, '-', '.' or '_', starting with a letter or digit")
        }
    }
}
