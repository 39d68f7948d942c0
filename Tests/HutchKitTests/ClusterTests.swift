import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchNet
@testable import HutchCluster

/// Issue 16 without root: the etcd gateway's request bodies (the bytes sent), the parsing of its
/// answers, subnet allocation, the records kept in etcd and in the store, the cluster firewall.
final class ClusterTests: XCTestCase {
    func b64(_ s: String) -> String { Base64.encode(s) }

    // MARK: encodings

    func testBase64() {
        XCTAssertEqual(Base64.encode(""), "")
        XCTAssertEqual(Base64.encode("f"), "Zg==")
        XCTAssertEqual(Base64.encode("fo"), "Zm8=")
        XCTAssertEqual(Base64.encode("foo"), "Zm9v")
        XCTAssertEqual(Base64.encode("/hutch/"), "L2h1dGNoLw==")
        for s in ["", "a", "ab", "abc", "/hutch/subnets/10.244.1.0-24", "{\"Node\":\"n1\"}"] {
            XCTAssertEqual(Base64.decode(Base64.encode(s)), s)
        }
        XCTAssertNil(Base64.decode("not base64!"))
    }

    /// The gateway's int64 fields are strings, its int32 ones numbers: both read as Int64.
    func testGatewayNumbers() throws {
        let j = try XCTUnwrap(JSON.parse(#" {"a": [1, -2, "x\"y", true], "id": "7587868", "TTL": 30} "#))
        XCTAssertEqual(j["a"]?.arrayValue.count, 4)
        XCTAssertEqual(j["a"]?.arrayValue[1].int64Value, -2)
        XCTAssertEqual(j["a"]?.arrayValue[2].stringValue, "x\"y")
        XCTAssertTrue(j["a"]?.arrayValue[3].boolValue ?? false)
        XCTAssertEqual(j["id"]?.int64Value, 7_587_868)
        XCTAssertEqual(j["TTL"]?.int64Value, 30)
        XCTAssertEqual(j["missing"]?.arrayValue ?? [], [])
    }

    func testStreamSplitterKeepsUnfinishedTails() {
        var s = JSONStreamSplitter()
        XCTAssertEqual(s.feed(Array(#"{"result":{"a":"}"}}"#.utf8) + Array("\n{\"res".utf8)), [#"{"result":{"a":"}"}}"#])
        XCTAssertEqual(s.feed(Array("ult\":{}}\n".utf8)), [#"{"result":{}}"#])
        XCTAssertEqual(s.feed([]), [])
    }

    // MARK: request bodies (golden: what goes on the wire)

    func testRequestBodies() {
        XCTAssertEqual(EtcdRequest.prefixEnd("/hutch/"), "/hutch0")
        XCTAssertEqual(EtcdRequest.rangePrefix("/hutch/"), #"{"key":"L2h1dGNoLw==","range_end":"L2h1dGNoMA=="}"#)
        XCTAssertEqual(EtcdRequest.put("/k", "v", lease: 42), #"{"key":"L2s=","lease":"42","value":"dg=="}"#)
        XCTAssertEqual(EtcdRequest.put("/k", "v"), #"{"key":"L2s=","value":"dg=="}"#)
        XCTAssertEqual(EtcdRequest.grant(ttl: 30), #"{"TTL":"30"}"#)
        XCTAssertEqual(EtcdRequest.keepAlive(7587868), #"{"ID":"7587868"}"#)
        XCTAssertEqual(EtcdRequest.revoke(7587868), #"{"ID":"7587868"}"#)
        XCTAssertEqual(EtcdRequest.watch("/hutch/", from: 8),
                       #"{"create_request":{"key":"L2h1dGNoLw==","range_end":"L2h1dGNoMA==","start_revision":"8"}}"#)
    }

    /// The subnet lease: created only if absent (create revision 0), with its lease, and the
    /// allocation cursor moved in the same transaction; the loser reads the key back.
    func testCreateIfAbsentTxn() {
        XCTAssertEqual(EtcdRequest.createIfAbsent("/s", "v", lease: 9, alsoPut: [("/c", "n")]),
                       #"{"compare":[{"create_revision":"0","key":"L3M=","result":"EQUAL","target":"CREATE"}],"#
                       + #""failure":[{"request_range":{"key":"L3M="}}],"#
                       + #""success":[{"request_put":{"key":"L3M=","lease":"9","value":"dg=="}},{"request_put":{"key":"L2M=","value":"bg=="}}]}"#)
        XCTAssertEqual(EtcdRequest.putIfLease("/s", "v", lease: 9),
                       #"{"compare":[{"key":"L3M=","lease":"9","result":"EQUAL","target":"LEASE"}],"success":[{"request_put":{"key":"L3M=","lease":"9","value":"dg=="}}]}"#)
        XCTAssertEqual(EtcdRequest.deleteIfEmpty("/h/subnets/", keys: ["/h/config"]),
                       #"{"compare":[{"create_revision":"0","key":"L2gvc3VibmV0cy8=","range_end":"L2gvc3VibmV0czA=","result":"EQUAL","target":"CREATE"}],"success":[{"request_delete_range":{"key":"L2gvY29uZmln"}}]}"#)
    }

    // MARK: answers

    func testWatchMessages() throws {
        let put = #"{"result":{"header":{"revision":"12"},"events":[{"kv":{"key":"\#(b64("/hutch/subnets/10.244.2.0-24"))","create_revision":"12","mod_revision":"12","version":"1","value":"\#(b64("{}"))","lease":"77"}}]}}"#
        let w = try XCTUnwrap(EtcdRequest.parseWatch(put))
        XCTAssertEqual(w.revision, 12)
        XCTAssertEqual(w.events, [.put(KeyValue(key: "/hutch/subnets/10.244.2.0-24", value: "{}", createRevision: 12, modRevision: 12, lease: 77))])
        let del = #"{"result":{"header":{"revision":"13"},"events":[{"type":"DELETE","kv":{"key":"\#(b64("/k"))","mod_revision":"13"}}]}}"#
        XCTAssertEqual(try XCTUnwrap(EtcdRequest.parseWatch(del)).events, [.delete(key: "/k", revision: 13)])
        let created = #"{"result":{"header":{"revision":"11"},"created":true}}"#
        XCTAssertEqual(try XCTUnwrap(EtcdRequest.parseWatch(created)).events, [])
        let compacted = #"{"result":{"header":{"revision":"20"},"compact_revision":"15","canceled":true}}"#
        XCTAssertTrue(try XCTUnwrap(EtcdRequest.parseWatch(compacted)).compacted)
        XCTAssertNil(EtcdRequest.parseWatch("nonsense"))
    }

    // MARK: cluster model

    func testClusterConfigAndAllocation() throws {
        let c = ClusterConfig(network: CIDRv4("10.244.0.0/16")!, backend: .vxlan)
        XCTAssertEqual(c.json, #"{"Backend":{"Type":"vxlan"},"Network":"10.244.0.0/16","SubnetLen":24}"#)
        XCTAssertEqual(try ClusterConfig(json: c.json), c)
        XCTAssertThrowsError(try ClusterConfig(json: #"{"Network":"10.244.0.0/16","Backend":{"Type":"udp"}}"#))
        XCTAssertEqual(c.subnets.count, 255)
        XCTAssertEqual(c.subnets.first, CIDRv4("10.244.1.0/24"))
        XCTAssertEqual(c.subnets.last, CIDRv4("10.244.255.0/24"))
        let taken: Set = [CIDRv4("10.244.1.0/24")!, CIDRv4("10.244.2.0/24")!]
        XCTAssertEqual(c.firstFree(taken: taken), CIDRv4("10.244.3.0/24"))
        // round-robin from the cursor: a just-freed subnet is not handed out again at once
        XCTAssertEqual(c.firstFree(taken: [CIDRv4("10.244.2.0/24")!], from: CIDRv4("10.244.3.0/24")), CIDRv4("10.244.3.0/24"))
        XCTAssertEqual(c.firstFree(taken: [], from: CIDRv4("10.244.255.0/24")), CIDRv4("10.244.255.0/24"))
        XCTAssertEqual(c.firstFree(taken: [CIDRv4("10.244.255.0/24")!], from: CIDRv4("10.244.255.0/24")), CIDRv4("10.244.1.0/24"))
        XCTAssertNil(c.firstFree(taken: Set(c.subnets)))
        XCTAssertEqual(c.after(CIDRv4("10.244.255.0/24")!), CIDRv4("10.244.1.0/24"))
        let small = ClusterConfig(network: CIDRv4("10.50.0.0/22")!, backend: .hostGW)
        XCTAssertEqual(small.subnets.map(\.description), ["10.50.1.0/24", "10.50.2.0/24", "10.50.3.0/24"])
    }

    func testKeysAndRecords() throws {
        let k = try ClusterKeys(prefix: "/hutch")
        XCTAssertEqual(k.prefix, "/hutch/")
        XCTAssertEqual(k.subnet(CIDRv4("10.244.3.0/24")!), "/hutch/subnets/10.244.3.0-24")
        XCTAssertEqual(k.subnet(ofKey: "/hutch/subnets/10.244.3.0-24"), CIDRv4("10.244.3.0/24"))
        XCTAssertNil(k.subnet(ofKey: "/hutch/config"))
        XCTAssertThrowsError(try ClusterKeys(prefix: "hutch/"))
        let r = SubnetRecord(subnet: CIDRv4("10.244.3.0/24")!, node: "n3", publicIP: IPv4Address("192.0.2.3")!,
                             backend: .vxlan, vtepMAC: SubnetRecord.vtepMAC(for: CIDRv4("10.244.3.0/24")!))
        XCTAssertEqual(r.vtepMAC, "0e:48:0a:f4:03:00")
        XCTAssertEqual(r.tunnelAddress, IPv4Address("10.244.3.0"))
        XCTAssertEqual(r.json, #"{"BackendData":{"VtepMAC":"0e:48:0a:f4:03:00"},"BackendType":"vxlan","Node":"n3","PublicIP":"192.0.2.3"}"#)
        XCTAssertEqual(SubnetRecord(subnet: r.subnet, json: r.json), r)
        let s = NodeSettings(name: "n1", etcd: "http://192.0.2.254:2379", prefix: "/hutch/", backend: .hostGW,
                             clusterCIDR: CIDRv4("10.244.0.0/16")!, subnet: CIDRv4("10.244.1.0/24")!,
                             nodeIP: IPv4Address("192.0.2.1")!, leaseTTL: 30, lease: 7668682735608645127, mtu: 0)
        XCTAssertEqual(try NodeSettings(json: s.json), s)
        XCTAssertNil(s.record.vtepMAC)
    }

    func testJoinOptionsValidation() {
        func err(_ f: (inout JoinOptions) -> Void) -> String {
            var o = JoinOptions(name: "n1", etcd: "http://192.0.2.254:2379", nodeIP: IPv4Address("192.0.2.1")!)
            f(&o)
            do { try o.validate(); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(err { _ in }, "")
        XCTAssertTrue(err { $0.name = "-n1" }.hasPrefix("invalid --name"))
        XCTAssertTrue(err { $0.name = String(repeating: "a", count: 64) }.hasPrefix("invalid --name"))
        XCTAssertTrue(err { $0.leaseTTL = 1 }.hasPrefix("invalid --lease-ttl"))
        XCTAssertTrue(err { $0.clusterCIDR = CIDRv4("10.244.0.0/24") }.hasPrefix("invalid --cluster-cidr"))
        XCTAssertTrue(err { $0.clusterCIDR = CIDRv4("127.0.0.0/16") }.contains("special-purpose"))
        XCTAssertTrue(err { $0.prefix = "x" }.hasPrefix("invalid --etcd-prefix"))
        XCTAssertTrue(err { $0.etcd = "192.0.2.254:2379" }.hasPrefix("invalid --etcd"))
        XCTAssertTrue(err { $0.nodeIP = IPv4Address("127.0.0.1")! }.hasPrefix("invalid --node-ip"))
    }

    // MARK: the cluster firewall feature

    func testNftClusterFeature() throws {
        let c = ClusterRules(cidr: CIDRv4("10.244.0.0/16")!, bridge: "hutch0", gateway: IPv4Address("10.244.3.1")!)
        XCTAssertEqual(NftablesFirewall.renderClusterSetup(c), """
        add element ip hutch cluster_cidrs { 10.244.0.0/16 }
        add element ip hutch cluster_bridges { "hutch0" }
        flush chain ip hutch cluster-postrouting
        add rule ip hutch cluster-postrouting ip saddr != @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges ct status dnat snat to 10.244.3.1 comment "hutch:cluster"
        add rule ip hutch cluster-postrouting ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept comment "hutch:cluster"

        """)
        XCTAssertEqual(NftablesFirewall.renderClusterTeardown(c), """
        add table ip hutch
        add set ip hutch cluster_cidrs { type ipv4_addr; flags interval; }
        add set ip hutch cluster_bridges { type ifname; }
        add element ip hutch cluster_cidrs { 10.244.0.0/16 }
        add element ip hutch cluster_bridges { "hutch0" }
        delete element ip hutch cluster_cidrs { 10.244.0.0/16 }
        delete element ip hutch cluster_bridges { "hutch0" }
        add chain ip hutch cluster-postrouting
        flush chain ip hutch cluster-postrouting
        add rule ip hutch cluster-postrouting ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept comment "hutch:cluster"

        """)
        // opt-in: not in a plain host's skeleton; inserted first in forward and postrouting
        XCTAssertFalse(try XCTUnwrap(NftablesFirewall.renderSkeleton(present: [:])).contains("cluster"))
        // every always-installed feature's jumps are there (a node's first setup)
        var all: [String: Set<String>] = [:]
        for f in NftablesFirewall.features { for j in f.jumps { all[j.from, default: []].insert(j.to) } }
        let b = try XCTUnwrap(NftablesFirewall.renderSkeleton(present: all, with: [NftablesFirewall.cluster]))
        XCTAssertTrue(b.hasSuffix("""
            add rule ip hutch cluster-postrouting ip saddr @cluster_cidrs ip daddr @cluster_cidrs oifname != @cluster_bridges accept comment "hutch:cluster"
            insert rule ip hutch forward jump cluster-forward
            insert rule ip hutch postrouting jump cluster-postrouting

            """), b)
        XCTAssertFalse(b.contains("networks-"), b)
        var withCluster = all
        withCluster["forward"]!.insert("cluster-forward"); withCluster["postrouting"]!.insert("cluster-postrouting")
        XCTAssertNil(NftablesFirewall.renderSkeleton(present: withCluster, with: [NftablesFirewall.cluster]))
    }

    /// What iptables-save prints of `table` once every always-installed feature is set up (plus `extra` lines).
    func saved(_ table: String, _ extra: [String] = []) -> SavedTable {
        var lines = ["*\(table)"]
        for b in IptablesFirewall.baseChains where b.table == table { lines.append(":\(b.name) - [0:0]"); lines.append(b.jump) }
        for f in IptablesFirewall.features {
            for c in f.chains where c.table == table { lines.append(":\(c.name) - [0:0]") }
            for j in f.jumps where j.table == table { lines.append(j.rule) }
            for r in f.fixed where r.table == table { lines.append(r.rule) }
        }
        return SavedTable((lines + extra + ["COMMIT"]).joined(separator: "\n"))
    }

    func testIptablesClusterFeature() {
        let c = ClusterRules(cidr: CIDRv4("10.244.0.0/16")!, bridge: "hutch0", gateway: IPv4Address("10.244.3.1")!)
        let filter = saved("filter")
        // the nat half installed before (its chain, its jump, its rule)
        let nat = saved("nat", [":HUTCH-CLUSTER-MASQ - [0:0]", "-A HUTCH-POSTROUTING -j HUTCH-CLUSTER-MASQ",
                                "-A HUTCH-CLUSTER-MASQ -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0 -m comment --comment hutch:cluster -j ACCEPT"])
        XCTAssertEqual(IptablesFirewall.renderClusterSetup(c, filter: filter, nat: nat), """
        *filter
        :HUTCH-CLUSTER - [0:0]
        -I HUTCH-FORWARD -j HUTCH-CLUSTER
        -A HUTCH-CLUSTER -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "hutch:cluster" -j ACCEPT
        COMMIT
        *nat
        -D HUTCH-CLUSTER-MASQ -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0 -m comment --comment hutch:cluster -j ACCEPT
        -A HUTCH-CLUSTER-MASQ ! -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0 -m conntrack --ctstate DNAT -m comment --comment "hutch:cluster" -j SNAT --to-source 10.244.3.1
        -A HUTCH-CLUSTER-MASQ -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0 -m comment --comment "hutch:cluster" -j ACCEPT
        COMMIT

        """)
        XCTAssertEqual(IptablesFirewall.renderClusterTeardown(filter: filter, nat: nat), """
        *nat
        -D HUTCH-CLUSTER-MASQ -s 10.244.0.0/16 -d 10.244.0.0/16 ! -o hutch0 -m comment --comment hutch:cluster -j ACCEPT
        COMMIT

        """)
        XCTAssertNil(IptablesFirewall.renderClusterTeardown(filter: filter, nat: SavedTable()))
        // a plain host's skeleton has no cluster chain
        XCTAssertFalse(IptablesFirewall.renderSkeleton("nat", SavedTable()).contains("CLUSTER"))
        XCTAssertFalse(IptablesFirewall.renderSkeleton("filter", SavedTable()).contains("CLUSTER"))
    }
}
