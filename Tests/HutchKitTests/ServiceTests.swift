import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Services: parsing and validation, the nftables elements (golden bytes libnftnl sends), the
/// diff of a change, the store (ClusterIPs, node ports against `-p`, selector index, endpoints).
final class ServiceTests: XCTestCase {
    // MARK: parsing

    func testPortSpecs() throws {
        XCTAssertEqual(try ServicePort.parse("80"), ServicePort(port: 80, targetPort: 80, proto: .tcp))
        XCTAssertEqual(try ServicePort.parse("80:8000"), ServicePort(port: 80, targetPort: 8000, proto: .tcp))
        XCTAssertEqual(try ServicePort.parse("53:5353/udp"), ServicePort(port: 53, targetPort: 5353, proto: .udp))
        XCTAssertEqual(try ServicePort.parse("53/UDP"), ServicePort(port: 53, targetPort: 53, proto: .udp))
        for bad in ["0", "65536", "80:0", "80:65536", "x", "", "80/sctp", "1:2:3", ":80", "80:", "-1", "0080000"] {
            XCTAssertThrowsError(try ServicePort.parse(bad), bad) { e in
                XCTAssertTrue("\(e)".contains("--port"), "\(e)")
            }
        }
        let p = ServicePort(port: 80, targetPort: 8000, proto: .udp, nodePort: 30080)
        XCTAssertEqual(p.stored, "80:8000/udp:30080")
        XCTAssertEqual(ServicePort(stored: p.stored), p)
        XCTAssertNil(ServicePort(stored: "80/udp"))
    }

    func testSelectors() throws {
        XCTAssertEqual(try ServiceSelector.parse(["app=web,tier=front"]).items, ["app": "web", "tier": "front"])
        XCTAssertEqual(try ServiceSelector.parse(["app=web", "tier=front"]).entries, ["app=web", "tier=front"])
        XCTAssertEqual(try ServiceSelector.parse(["app="]).items, ["app": ""])
        for bad in [[], [""], ["app"], ["=web"], ["app=web,"], [",app=web"], ["a b=c"], ["app=web", "app=db"]] {
            XCTAssertThrowsError(try ServiceSelector.parse(bad), "\(bad)") { e in
                XCTAssertTrue("\(e)".contains("--selector"), "\(e)")
            }
        }
        let s = try ServiceSelector.parse(["app=web"])
        XCTAssertTrue(s.matches(try Labels(["app=web", "x=y"])))
        XCTAssertFalse(s.matches(try Labels(["app=db"])))
        XCTAssertFalse(s.matches(Labels()))
    }

    func options(_ f: (inout ServiceOptions) -> Void) -> ServiceOptions {
        var o = ServiceOptions(name: "web")
        o.selector = ServiceSelector(["app": "web"])
        o.ports = [ServicePort(port: 80, targetPort: 8000, proto: .tcp)]
        f(&o)
        return o
    }

    func testValidation() throws {
        XCTAssertNoThrow(try options { _ in }.validated())
        XCTAssertNoThrow(try options { $0.type = .nodePort; $0.nodePort = 30080; $0.externalTrafficPolicy = .local }.validated())
        let bad: [(String, (inout ServiceOptions) -> Void)] = [
            ("service name", { $0.name = "Web" }),
            ("service name", { $0.name = "1web" }),
            ("service name", { $0.name = "web-" }),
            ("service name", { $0.name = String(repeating: "a", count: 64) }),
            ("--selector", { $0.selector = ServiceSelector([:]) }),
            ("--port", { $0.ports = [] }),
            ("given twice", { $0.ports.append(ServicePort(port: 80, targetPort: 81, proto: .tcp)) }),
            ("--type NodePort", { $0.nodePort = 30080 }),
            ("30000-32767", { $0.type = .nodePort; $0.nodePort = 29999 }),
            ("30000-32767", { $0.type = .nodePort; $0.nodePort = 32768 }),
            ("single --port", { $0.type = .nodePort; $0.nodePort = 30080; $0.ports.append(ServicePort(port: 81, targetPort: 81, proto: .tcp)) }),
            ("--type NodePort", { $0.externalTrafficPolicy = .local }),
            ("--session-affinity ClientIP", { $0.affinityTimeout = 60 }),
            ("1-86400", { $0.sessionAffinity = .clientIP; $0.affinityTimeout = 0 }),
        ]
        for (mention, f) in bad {
            XCTAssertThrowsError(try options(f).validated(), mention) { e in
                XCTAssertTrue("\(e)".contains(mention), "\(e) should name \(mention)")
            }
        }
        XCTAssertEqual(try ServiceOptions.parseType("nodeport"), .nodePort)
        XCTAssertThrowsError(try ServiceOptions.parseType("LoadBalancer"))
        XCTAssertEqual(try ServiceOptions.parseAffinity("ClientIP"), .clientIP)
        XCTAssertThrowsError(try ServiceOptions.parseAffinity("Cookie"))
        XCTAssertEqual(try ServiceOptions.parsePolicy("local"), .local)
        XCTAssertThrowsError(try ServiceOptions.parsePolicy("Global"))
    }

    func service(_ f: (inout ServiceRecord) -> Void = { _ in }) -> ServiceRecord {
        var s = ServiceRecord(name: "web-api", id: "abc", type: .clusterIP, clusterIP: IPv4Address("10.96.0.10")!,
                              selector: ServiceSelector(["app": "web"]),
                              ports: [ServicePort(port: 80, targetPort: 8000, proto: .tcp)])
        f(&s)
        return s
    }
    let e1 = ServiceEndpoint(ip: IPv4Address("10.87.0.2")!, container: "w1", containerId: "1")
    let e2 = ServiceEndpoint(ip: IPv4Address("10.87.0.3")!, container: "w2", containerId: "2")

    func testEnvironmentAndNames() {
        XCTAssertEqual(service().environment, ["WEB_API_SERVICE_HOST=10.96.0.10", "WEB_API_SERVICE_PORT=80"])
        XCTAssertEqual(service().dnsNames, ["web-api", "web-api.default.svc.cluster.local"])
        var h = HostsFile(hostname: "c", name: "c", address: IPv4Address("10.87.0.9"), gateway: nil)
        h.services = HostsFile.serviceLines([(IPv4Address("10.96.0.10")!, service().dnsNames)])
        XCTAssertTrue(h.rendered.hasSuffix("10.96.0.10\tweb-api web-api.default.svc.cluster.local\n"), h.rendered)
    }

    func testInspectJSON() {
        let s = service { $0.type = .nodePort; $0.ports[0].nodePort = 30080 }
        let j = ServiceJSON.render(s, endpoints: [e2, e1]).render()
        XCTAssertTrue(j.contains(#""Endpoints":[{"Container":"w1","IP":"10.87.0.2","Node":""},{"Container":"w2","IP":"10.87.0.3","Node":""}]"#), j)
        XCTAssertTrue(j.contains(#""Ports":[{"NodePort":30080,"Port":80,"Protocol":"TCP","TargetPort":8000}]"#), j)
        XCTAssertTrue(j.contains(#""ExternalTrafficPolicy":"Cluster""#), j)
        XCTAssertEqual(ServiceJSON.portsColumn(s), "80:30080/TCP")
    }

    // MARK: nftables elements (golden bytes)

    let vip: [UInt8] = [10, 96, 0, 10]
    let tcp: [UInt8] = [6, 0, 0, 0], udp: [UInt8] = [17, 0, 0, 0]
    let p80: [UInt8] = [0, 80, 0, 0], p8000: [UInt8] = [0x1f, 0x40, 0, 0]
    func slot(_ i: UInt8) -> [UInt8] { [i, 0, 0, 0] }  // host byte order (little endian here)
    let c = "hutch:service:web-api"

    func testElementsOfAClusterIPWithTwoEndpoints() {
        let els = NftablesFirewall.serviceElements(ServiceState(service(), [e2, e1]))
        XCTAssertEqual(els.count, 1 + 60)
        XCTAssertEqual(els[0], NftElement(set: "svc-ips", key: vip, data: [], comment: c))
        // 60 slots, round robin over the sorted endpoints: 30 each
        XCTAssertEqual(els[1], NftElement(set: "svc-backends", key: vip + tcp + p80 + slot(0), data: [10, 87, 0, 2] + p8000, comment: c))
        XCTAssertEqual(els[2], NftElement(set: "svc-backends", key: vip + tcp + p80 + slot(1), data: [10, 87, 0, 3] + p8000, comment: c))
        XCTAssertEqual(els[60].key, vip + tcp + p80 + slot(59))
        XCTAssertEqual(els.filter { $0.data.prefix(4) == [10, 87, 0, 2] }.count, 30)
    }

    func testSlotsAreEvenForThreeEndpoints() {
        let e3 = ServiceEndpoint(ip: IPv4Address("10.87.0.4")!, container: "w3", containerId: "3")
        let els = NftablesFirewall.serviceElements(ServiceState(service(), [e1, e2, e3])).filter { $0.set == "svc-backends" }
        XCTAssertEqual(Dictionary(grouping: els, by: { $0.data[3] }).mapValues(\.count), [2: 20, 3: 20, 4: 20])
    }

    func testElementsWithoutEndpointsOnlyTheVIP() {
        XCTAssertEqual(NftablesFirewall.serviceElements(ServiceState(service(), [])),
                       [NftElement(set: "svc-ips", key: vip, data: [], comment: c)])
    }

    func testNodePortClusterAndLocal() {
        let np: [UInt8] = [0x75, 0x9f, 0, 0]  // 30111
        let cluster = service { $0.type = .nodePort; $0.ports = [ServicePort(port: 53, targetPort: 5353, proto: .udp, nodePort: 30111)] }
        let els = NftablesFirewall.serviceElements(ServiceState(cluster, [e1]))
        let sets = Dictionary(grouping: els, by: \.set).mapValues(\.count)
        XCTAssertEqual(sets, ["svc-ips": 1, "svc-backends": 60, "svc-nodeports": 1, "svc-np-masq": 1, "svc-np-backends": 60])
        XCTAssertTrue(els.contains(NftElement(set: "svc-nodeports", key: udp + np, data: [], comment: c)))
        XCTAssertTrue(els.contains(NftElement(set: "svc-np-backends", key: udp + np + slot(7), data: [10, 87, 0, 2, 0x14, 0xe9, 0, 0], comment: c)))
        var local = cluster
        local.externalTrafficPolicy = .local
        let l = NftablesFirewall.serviceElements(ServiceState(local, [e1]))
        XCTAssertFalse(l.contains { $0.set == "svc-np-masq" }, "Local keeps the client address: no masquerade")
        // a remote endpoint (another node) serves Cluster but not Local
        let remote = ServiceEndpoint(ip: IPv4Address("10.244.2.5")!, container: "r", containerId: "r", node: "n2")
        XCTAssertFalse(NftablesFirewall.serviceElements(ServiceState(local, [remote])).contains { $0.set == "svc-np-backends" })
        XCTAssertTrue(NftablesFirewall.serviceElements(ServiceState(cluster, [remote])).contains { $0.set == "svc-np-backends" })
    }

    func testAffinityElements() {
        let s = service { $0.sessionAffinity = .clientIP; $0.affinityTimeout = 600 }
        let els = NftablesFirewall.serviceElements(ServiceState(s, [e1]))
        XCTAssertTrue(els.contains(NftElement(set: "svc-aff-ips", key: vip, data: [], comment: c)))
        XCTAssertTrue(els.contains(NftElement(set: "svc-tports", key: vip + tcp + p80, data: [0x1f, 0x40], comment: c)))
        XCTAssertEqual(els.last, NftElement(set: "svc-aff-t600", key: vip, data: [], comment: c))
        XCTAssertTrue(NftablesFirewall.affinityClass(600).contains("timeout 600s : ip daddr"))
        XCTAssertFalse(els.contains { $0.set.hasPrefix("svc-np-") }, "no node port: no node port affinity")
    }

    func testNodePortAffinityElementsAndClass() {
        let np: [UInt8] = [0x75, 0x9f, 0, 0]  // 30111
        let s = service { $0.type = .nodePort; $0.ports[0].nodePort = 30111; $0.sessionAffinity = .clientIP; $0.affinityTimeout = 600 }
        let els = NftablesFirewall.serviceElements(ServiceState(s, [e1]))
        let np3 = els.filter { $0.set.hasPrefix("svc-np-aff") || $0.set == "svc-np-tports" }
        XCTAssertEqual(np3, [
            NftElement(set: "svc-np-aff-ports", key: tcp + np, data: [], comment: c),
            NftElement(set: "svc-np-tports", key: tcp + np, data: [0x1f, 0x40], comment: c),
            NftElement(set: "svc-np-aff-t600", key: tcp + np, data: [], comment: c),
        ])
        XCTAssertEqual(NftablesFirewall.affinityClass(600), """
            add set ip hutch svc-aff-t600 { type ipv4_addr; }
            add rule ip hutch services-affinity ct original ip daddr @svc-aff-t600 update @svc-aff { ip saddr . ct original ip daddr timeout 600s : ip daddr }
            add set ip hutch svc-np-aff-t600 { type inet_proto . inet_service; }
            add rule ip hutch services-np-affinity meta l4proto tcp meta l4proto . ct original proto-dst @svc-np-aff-t600 update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout 600s : ip daddr }
            add rule ip hutch services-np-affinity meta l4proto udp meta l4proto . ct original proto-dst @svc-np-aff-t600 update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout 600s : ip daddr }
            """)
        // the endpoints a node port pins clients to: all (Cluster) or the local ones (Local)
        let remote = ServiceEndpoint(ip: IPv4Address("10.244.2.5")!, container: "r", containerId: "r", node: "n2")
        XCTAssertEqual(NftablesFirewall.nodePortAffinityTargets(ServiceState(s, [e1, remote])), [tcp + np: [e1.ip, remote.ip]])
        var local = s
        local.externalTrafficPolicy = .local
        XCTAssertEqual(NftablesFirewall.nodePortAffinityTargets(ServiceState(local, [e1, remote])), [tcp + np: [e1.ip]])
        var plain = s
        plain.sessionAffinity = .none
        XCTAssertEqual(NftablesFirewall.nodePortAffinityTargets(ServiceState(plain, [e1])), [:])
        XCTAssertFalse(NftablesFirewall.serviceElements(ServiceState(plain, [e1])).contains { $0.set.hasPrefix("svc-np-aff") })
    }

    func testDiffWritesOnlyWhatChanged() {
        let s = service()
        // join: the slots move from e1 to e1/e2: half of them change
        let join = NftablesFirewall.serviceDiff(ServiceChange(old: ServiceState(s, [e1]), new: ServiceState(s, [e1, e2])))
        XCTAssertEqual(join.delete.count, 30)
        XCTAssertEqual(join.add.count, 30)
        XCTAssertTrue(join.add.allSatisfy { $0.data.prefix(4) == [10, 87, 0, 3] })
        XCTAssertTrue(join.delete.allSatisfy { $0.data.prefix(4) == [10, 87, 0, 2] }, "deletes carry the data they hold")
        // nothing changed: nothing written
        let same = NftablesFirewall.serviceDiff(ServiceChange(old: ServiceState(s, [e1]), new: ServiceState(s, [e1])))
        XCTAssertTrue(same.delete.isEmpty && same.add.isEmpty)
        // removal: everything goes
        let rm = NftablesFirewall.serviceDiff(ServiceChange(old: ServiceState(s, [e1]), new: nil))
        XCTAssertEqual(rm.delete.count, 61)
        XCTAssertTrue(rm.add.isEmpty)
    }

    func testStaleUDPFlows() {
        let s = service { $0.type = .nodePort; $0.ports = [ServicePort(port: 53, targetPort: 5353, proto: .udp, nodePort: 30053),
                                                          ServicePort(port: 80, targetPort: 80, proto: .tcp, nodePort: 30080)] }
        let leave = ServiceChange(old: ServiceState(s, [e1, e2]), new: ServiceState(s, [e2]))
        XCTAssertEqual(leave.staleUDP.map { "\($0.0?.description ?? "*"):\($0.1)" }, ["10.96.0.10:53", "*:30053"])
        let join = ServiceChange(old: ServiceState(s, [e2]), new: ServiceState(s, [e1, e2]))
        XCTAssertTrue(join.staleUDP.isEmpty)
    }

    func testSkeletonHasTheServicesFeature() throws {
        let batch = try XCTUnwrap(NftablesFirewall.renderSkeleton(present: [:]))
        XCTAssertTrue(batch.contains("add chain ip hutch filter-forward { type filter hook forward priority -10; policy accept; }"))
        XCTAssertTrue(batch.contains("add rule ip hutch services-dnat ip daddr @svc-ips dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 60 map @svc-backends"))
        XCTAssertTrue(batch.contains("add rule ip hutch prerouting fib daddr type local jump services-nodeports\n"))
        XCTAssertTrue(batch.contains("add rule ip hutch filter-forward jump services-reject\n"))
        // the typeof maps are recreated (with their rules flushed first) on every install
        let flush = try XCTUnwrap(batch.range(of: "flush chain ip hutch services-dnat"))
        let delete = try XCTUnwrap(batch.range(of: "delete map ip hutch svc-backends"))
        XCTAssertLessThan(flush.lowerBound, delete.lowerBound)
        // the other features are not reinstalled when only services' jumps are missing
        var present: [String: Set<String>] = [:]
        for f in NftablesFirewall.features where f.name != "services" { for j in f.jumps { present[j.from, default: []].insert(j.to) } }
        let only = try XCTUnwrap(NftablesFirewall.renderSkeleton(present: present))
        XCTAssertFalse(only.contains("networks-forward\n"))
        XCTAssertTrue(only.contains("services-dnat"))
    }

    // MARK: iptables (golden batches)

    func testIptablesRulesOfAServiceWithAffinityAndNodePort() {
        let s = service { $0.type = .nodePort; $0.ports[0].nodePort = 30080; $0.sessionAffinity = .clientIP; $0.affinityTimeout = 600 }
        let r = IptablesFirewall.serviceRules(ServiceState(s, [e2, e1]))
        let svc = IptablesFirewall.chainName("HUTCH-SVC-", ["web-api", "80", "tcp"])
        let sep1 = IptablesFirewall.chainName("HUTCH-SEP-", ["web-api", "80", "tcp", "10.87.0.2:8000"])
        let sep2 = IptablesFirewall.chainName("HUTCH-SEP-", ["web-api", "80", "tcp", "10.87.0.3:8000"])
        let ext = IptablesFirewall.chainName("HUTCH-EXT-", ["web-api", "80", "tcp"])
        XCTAssertEqual(svc.count, 26)
        let c = "-m comment --comment \"hutch:service:web-api\""
        XCTAssertEqual(r.chains.map(\.0), [svc, sep1, sep2, ext])
        XCTAssertEqual(r.chains[0].1, [
            "-m recent --rcheck --seconds 600 --reap --name \(sep1) --mask 255.255.255.255 --rsource -j \(sep1)",
            "-m recent --rcheck --seconds 600 --reap --name \(sep2) --mask 255.255.255.255 --rsource -j \(sep2)",
            "-m statistic --mode random --probability 0.50000000000 -j \(sep1)",
            "-j \(sep2)",
        ])
        XCTAssertEqual(r.chains[1].1, [
            "-s 10.87.0.2/32 -j HUTCH-MARK-MASQ",
            "-m recent --set --name \(sep1) --mask 255.255.255.255 --rsource",
            "-p tcp -m tcp -j DNAT --to-destination 10.87.0.2:8000",
        ])
        XCTAssertEqual(r.chains[3].1, ["-j HUTCH-MARK-MASQ", "-j \(svc)"])
        XCTAssertEqual(r.services, ["-d 10.96.0.10/32 -p tcp -m tcp --dport 80 \(c) -j \(svc)"])
        XCTAssertEqual(r.nodePorts, ["-p tcp -m tcp --dport 30080 \(c) -j \(ext)"])
        XCTAssertEqual(r.reject, [
            "-d 10.96.0.10/32 -p tcp \(c) -j REJECT --reject-with tcp-reset",
            "-d 10.96.0.10/32 \(c) -j REJECT --reject-with icmp-port-unreachable",
            "-p tcp -m addrtype --dst-type LOCAL -m tcp --dport 30080 \(c) -j REJECT --reject-with tcp-reset",
        ])
    }

    func testIptablesProbabilities() {
        XCTAssertEqual((0..<3).map { IptablesFirewall.probability($0, of: 3) }, ["0.33333333333", "0.50000000000", "1.00000000000"])
    }

    func testIptablesChangeBatch() {
        let s = service()
        let svc = IptablesFirewall.chainName("HUTCH-SVC-", ["web-api", "80", "tcp"])
        let sep1 = IptablesFirewall.chainName("HUTCH-SEP-", ["web-api", "80", "tcp", "10.87.0.2:8000"])
        let sep2 = IptablesFirewall.chainName("HUTCH-SEP-", ["web-api", "80", "tcp", "10.87.0.3:8000"])
        // what iptables-save prints with e1 and e2 in, the skeleton there, another service's line
        let nat = SavedTable("""
        *nat
        :HUTCH-PREROUTING - [0:0]
        :HUTCH-OUTPUT - [0:0]
        :HUTCH-POSTROUTING - [0:0]
        :HUTCH-NETWORKS-MASQ - [0:0]
        :HUTCH - [0:0]
        :HUTCH-PORTS-MASQ - [0:0]
        :HUTCH-SERVICES - [0:0]
        :HUTCH-NODEPORTS - [0:0]
        :HUTCH-MARK-MASQ - [0:0]
        :HUTCH-SERVICES-MASQ - [0:0]
        :\(svc) - [0:0]
        :\(sep1) - [0:0]
        :\(sep2) - [0:0]
        -A PREROUTING -j HUTCH-PREROUTING
        -A OUTPUT -j HUTCH-OUTPUT
        -A POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH-POSTROUTING -j HUTCH-NETWORKS-MASQ
        -A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-POSTROUTING -j HUTCH-PORTS-MASQ
        -A HUTCH-PREROUTING -j HUTCH-SERVICES
        -A HUTCH-OUTPUT -j HUTCH-SERVICES
        -A HUTCH-POSTROUTING -j HUTCH-SERVICES-MASQ
        -A HUTCH-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:service:web-api" -j \(svc)
        -A HUTCH-SERVICES -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:service:db" -j HUTCH-SVC-X
        -A HUTCH-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS
        -A HUTCH-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A HUTCH-SERVICES-MASQ -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A HUTCH-SERVICES-MASQ -j MARK --set-xmark 0x4000/0x0
        -A HUTCH-SERVICES-MASQ -j MASQUERADE --random-fully
        COMMIT
        """)
        let filter = SavedTable("""
        *filter
        :HUTCH-FORWARD - [0:0]
        :HUTCH-NETWORKS - [0:0]
        :HUTCH-FILTER-INPUT - [0:0]
        :HUTCH-FILTER-FORWARD - [0:0]
        :HUTCH-FILTER-OUTPUT - [0:0]
        :HUTCH-SERVICES-REJECT - [0:0]
        -A INPUT -j HUTCH-FILTER-INPUT
        -A FORWARD -j HUTCH-FILTER-FORWARD
        -A OUTPUT -j HUTCH-FILTER-OUTPUT
        -A FORWARD -j HUTCH-FORWARD
        -A HUTCH-FORWARD -j HUTCH-NETWORKS
        -A HUTCH-FILTER-INPUT -j HUTCH-SERVICES-REJECT
        -A HUTCH-FILTER-FORWARD -j HUTCH-SERVICES-REJECT
        -A HUTCH-FILTER-OUTPUT -j HUTCH-SERVICES-REJECT
        -A HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -p tcp -m comment --comment "hutch:service:web-api" -j REJECT --reject-with tcp-reset
        -A HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -m comment --comment "hutch:service:web-api" -j REJECT --reject-with icmp-port-unreachable
        COMMIT
        """)
        // e1 leaves: its endpoint chain goes, the service chain is rewritten, the other service untouched
        let b = IptablesFirewall.renderServices([ServiceChange(old: ServiceState(s, [e1, e2]), new: ServiceState(s, [e2]))], nat: nat, filter: filter)
        XCTAssertEqual(b, """
        *nat
        :\(svc) - [0:0]
        :\(sep2) - [0:0]
        :\(sep1) - [0:0]
        -D HUTCH-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:service:web-api" -j \(svc)
        -A \(svc) -j \(sep2)
        -A \(sep2) -s 10.87.0.3/32 -j HUTCH-MARK-MASQ
        -A \(sep2) -p tcp -m tcp -j DNAT --to-destination 10.87.0.3:8000
        -I HUTCH-SERVICES 1 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:service:web-api" -j \(svc)
        -X \(sep1)
        COMMIT
        *filter
        -D HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -p tcp -m comment --comment "hutch:service:web-api" -j REJECT --reject-with tcp-reset
        -D HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -m comment --comment "hutch:service:web-api" -j REJECT --reject-with icmp-port-unreachable
        -A HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -p tcp -m comment --comment "hutch:service:web-api" -j REJECT --reject-with tcp-reset
        -A HUTCH-SERVICES-REJECT -d 10.96.0.10/32 -m comment --comment "hutch:service:web-api" -j REJECT --reject-with icmp-port-unreachable
        COMMIT

        """)
        XCTAssertFalse(b.contains("service:db") || b.contains("HUTCH-SVC-X"), b)
        // the last endpoint leaves: no line in HUTCH-SERVICES (the reject answers), chains deleted
        let last = IptablesFirewall.renderServices([ServiceChange(old: ServiceState(s, [e1, e2]), new: ServiceState(s, []))], nat: nat, filter: filter)
        XCTAssertFalse(last.contains("-I HUTCH-SERVICES"), last)
        XCTAssertTrue(last.contains("-X \(svc)\n") && last.contains("-X \(sep1)\n") && last.contains("-X \(sep2)\n"), last)
        // replace (reload, gc): the other service's line goes too when its record is gone
        let all = IptablesFirewall.renderReplaceServices([], nat: nat, filter: filter)
        XCTAssertTrue(all.contains("-D HUTCH-SERVICES -d 10.96.0.11/32"), all)
        XCTAssertTrue(all.contains("-X \(svc)\n"), all)
    }

    // MARK: store

    var root = ""
    var store: Store!

    override func setUpWithError() throws {
        var template = Array("/tmp/hutch-unit-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        root = String(cString: try XCTUnwrap(p))
        store = try Store(root: root)
    }

    override func tearDown() { Sys.removeTree(root) }

    /// The store builds the services' variables and hosts lines in SQL (one query at 1,000
    /// services): exactly what the model's renderers give for the same rows.
    func testStoreRendersServiceEnvironmentAndHostsLikeTheModel() throws {
        try store.write { db in
            XCTAssertEqual(try ServiceStore.environment(in: db), [])
            XCTAssertEqual(try ServiceStore.hostsLines(in: db), "")
            try ServiceStore.insert(service(), in: db)
            try ServiceStore.insert(service { $0.name = "db"; $0.id = "d"; $0.clusterIP = IPv4Address("10.96.3.4")!
                $0.ports = [ServicePort(port: 5432, targetPort: 5432, proto: .tcp), ServicePort(port: 53, targetPort: 53, proto: .udp)] }, in: db)
            try ServiceStore.insert(service { $0.name = "z-9-q"; $0.id = "z"; $0.clusterIP = IPv4Address("10.96.200.1")!
                $0.ports = [ServicePort(port: 65535, targetPort: 1, proto: .udp, nodePort: 30001)] }, in: db)
            let rows = try ServiceStore.all(in: db)
            XCTAssertEqual(rows.map(\.name), ["db", "web-api", "z-9-q"])
            let env = rows.flatMap(\.environment)
            XCTAssertEqual(try ServiceStore.environment(in: db), env)
            XCTAssertEqual(env.first, "DB_SERVICE_HOST=10.96.3.4")
            XCTAssertEqual(env.last, "Z_9_Q_SERVICE_PORT=65535")
            XCTAssertEqual(try ServiceStore.hostsLines(in: db), HostsFile.serviceLines(rows.map { ($0.clusterIP, $0.dnsNames) }))
        }
    }

    func testClusterIPAllocation() throws {
        try store.write { db in
            let range = try ServiceStore.range(in: db, record: true)
            XCTAssertEqual(range.description, "10.96.0.0/16")
            let a = try ServiceStore.allocateClusterIP(in: db, range: range, requested: IPv4Address("10.96.0.10"))
            XCTAssertEqual(a.description, "10.96.0.10")
            try ServiceStore.insert(service(), in: db)
            XCTAssertThrowsError(try ServiceStore.allocateClusterIP(in: db, range: range, requested: IPv4Address("10.96.0.10"))) {
                XCTAssertTrue("\($0)".contains("web-api"), "\($0)")
            }
            for outside in ["10.97.0.1", "10.96.0.0", "10.96.255.255"] {
                XCTAssertThrowsError(try ServiceStore.allocateClusterIP(in: db, range: range, requested: IPv4Address(outside))) {
                    XCTAssertTrue("\($0)".contains("outside"), "\($0)")
                }
            }
            let free = try ServiceStore.allocateClusterIP(in: db, range: range, requested: nil)
            XCTAssertTrue(range.contains(free) && free.description != "10.96.0.10")
        }
        // a tiny range fills up
        try store.write { db in
            let tiny = CIDRv4("10.96.0.8/30")!
            XCTAssertEqual(try ServiceStore.allocateClusterIP(in: db, range: tiny, requested: nil).description, "10.96.0.9")
        }
    }

    func testNodePortsAndPublishedPortsExcludeEachOther() throws {
        try store.write { db in
            try PortRecord(proto: "tcp", hostIP: "0.0.0.0", hostPort: 30080, containerPort: 80, owner: "c1").insert(db)
            let p = [ServicePort(port: 80, targetPort: 80, proto: .tcp)]
            XCTAssertThrowsError(try ServiceStore.reserveNodePorts(in: db, service: "web", ports: p, requested: 30080, isFreeOnHost: { _ in true }))
            // the same number over UDP is free
            let udp = try ServiceStore.reserveNodePorts(in: db, service: "dns", ports: [ServicePort(port: 53, targetPort: 53, proto: .udp)],
                                                        requested: 30080, isFreeOnHost: { _ in true })
            XCTAssertEqual(udp[0].nodePort, 30080)
            let picked = try ServiceStore.reserveNodePorts(in: db, service: "web", ports: p, requested: nil, isFreeOnHost: { _ in true })
            XCTAssertTrue(ServiceOptions.nodePortRange.contains(picked[0].nodePort))
            // a -p on the node port names the service
            let m = PortMapping(hostIP: nil, hostPort: picked[0].nodePort, containerPort: 80, proto: .tcp)
            XCTAssertEqual(try PortReservations.holder(in: db, m), "the node port of service web")
            // node ports are no container's: gc must not release them
            XCTAssertEqual(try Store.resourceOwners(in: db), ["c1"])
            try ServiceStore.delete("web", in: db)
            XCTAssertNil(try PortReservations.holder(in: db, m))
        }
    }

    func testCandidatesAndEndpoints() throws {
        try store.write { db in
            try ServiceStore.insert(service(), in: db)
            var other = service(); other.name = "db"; other.clusterIP = IPv4Address("10.96.0.11")!
            other.selector = ServiceSelector(["app": "db"]); other.id = "def"
            try ServiceStore.insert(other, in: db)
            XCTAssertEqual(try ServiceStore.candidates(pairs: ["app=web"], containerId: "x", in: db).map(\.name), ["web-api"])
            XCTAssertEqual(try ServiceStore.candidates(pairs: ["app=none"], containerId: "x", in: db).map(\.name), [])
            try ServiceStore.setEndpoints([e1], of: "db", in: db)
            XCTAssertEqual(try ServiceStore.candidates(pairs: [], containerId: "1", in: db).map(\.name), ["db"])
            XCTAssertTrue(try ServiceStore.isEndpoint(e1.ip, in: db))
            try ServiceStore.delete("db", in: db)
            XCTAssertFalse(try ServiceStore.isEndpoint(e1.ip, in: db))
            let back = try XCTUnwrap(try ServiceStore.find("web-api", in: db))
            XCTAssertEqual(back, service())
        }
    }
}
