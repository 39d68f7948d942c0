import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Golden tests of the published-port batches, both backends, for every combination that matters:
/// any address or a host address, tcp/udp, a range, hairpin, localhost. Applied for real in
/// NetlinkRootTests.testPorts*.
final class NetPortRenderTests: XCTestCase {
    let web = BridgeNetwork(name: "web", bridge: "hutch1", subnet: CIDRv4("10.87.0.0/16")!, gateway: IPv4Address("10.87.0.1")!)

    func fwd(_ spec: String, owner: String = "3f2a") -> [PortForward] {
        try! PublishSpec.parse(spec).mappings.map {
            PortForward(owner: owner, mapping: $0, containerIP: IPv4Address("10.87.0.2")!, network: web)
        }
    }

    // MARK: nftables

    func testNftAnyAddressTCP() {
        XCTAssertEqual(NftablesFirewall.renderPorts(fwd("8080:8000"), adding: true), """
        add element ip hutch tcp_any { 8080 comment "hutch:3f2a" : 10.87.0.2 . 8000 }
        add element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . tcp . 8000 comment "hutch:3f2a" }
        add element ip hutch bridge_ifs { "hutch1" comment "hutch:web" }

        """)
    }

    func testNftHostIPUDP() {
        XCTAssertEqual(NftablesFirewall.renderPorts(fwd("192.0.2.7:5353:53/udp"), adding: true), """
        add element ip hutch udp_ports { 192.0.2.7 . 5353 comment "hutch:3f2a" : 10.87.0.2 . 53 }
        add element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . udp . 53 comment "hutch:3f2a" }
        add element ip hutch bridge_ifs { "hutch1" comment "hutch:web" }

        """)
    }

    func testNftLocalhostOnlyHasNoHairpin() {
        XCTAssertEqual(NftablesFirewall.renderPorts(fwd("127.0.0.1:8081:80"), adding: true), """
        add element ip hutch tcp_ports { 127.0.0.1 . 8081 comment "hutch:3f2a" : 10.87.0.2 . 80 }
        add element ip hutch bridge_ifs { "hutch1" comment "hutch:web" }

        """)
    }

    func testNftRangeRemoval() {
        XCTAssertEqual(NftablesFirewall.renderPorts(fwd("8000-8001:9000-9001"), adding: false), """
        add element ip hutch tcp_any { 8000 comment "hutch:3f2a" : 10.87.0.2 . 9000 }
        add element ip hutch tcp_any { 8001 comment "hutch:3f2a" : 10.87.0.2 . 9001 }
        add element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . tcp . 9000 comment "hutch:3f2a" }
        add element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . tcp . 9001 comment "hutch:3f2a" }
        delete element ip hutch tcp_any { 8000 }
        delete element ip hutch tcp_any { 8001 }
        delete element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . tcp . 9000 }
        delete element ip hutch hairpin { 10.87.0.2 . 10.87.0.2 . tcp . 9001 }

        """)
    }

    /// The bytes sent through libnftnl: nft's register layout (fields padded to 4 bytes).
    func testNftElementBytes() {
        let e = NftablesFirewall.elements(fwd("192.0.2.7:8080:8000/udp") + fwd("8081:80"), adding: true)
        XCTAssertEqual(e.map(\.set), ["tcp_any", "udp_ports", "hairpin", "hairpin", "bridge_ifs"])
        XCTAssertEqual(e[0].key, [0x1f, 0x91])
        XCTAssertEqual(e[0].data, [10, 87, 0, 2, 0, 80, 0, 0])
        XCTAssertEqual(e[1].key, [192, 0, 2, 7, 0x1f, 0x90, 0, 0])
        XCTAssertEqual(e[1].data, [10, 87, 0, 2, 0x1f, 0x40, 0, 0])
        XCTAssertEqual(e[2].key, [10, 87, 0, 2, 10, 87, 0, 2, 17, 0, 0, 0, 0x1f, 0x40, 0, 0])
        XCTAssertEqual(e[4].key.count, 16)
        XCTAssertEqual(e[1].comment, "hutch:3f2a")
        XCTAssertEqual(NftablesFirewall.elements(fwd("8081:80"), adding: false).map(\.set), ["tcp_any", "hairpin"],
                       "the bridge stays in bridge_ifs until the network goes")
    }

    // MARK: iptables

    func testIptAddAnyAddressFromScratch() {
        XCTAssertEqual(IptablesFirewall.renderAddPorts(fwd("8080:8000"), nat: .init(), raw: .init()), """
        *nat
        :HUTCH - [0:0]
        :HUTCH-POSTROUTING - [0:0]
        -A PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -I POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH -p tcp -m tcp --dport 8080 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:8000
        -A HUTCH-POSTROUTING -s 10.87.0.2/32 -d 10.87.0.2/32 -p tcp -m tcp --dport 8000 -m comment --comment "hutch:3f2a" -j MASQUERADE
        -A HUTCH-POSTROUTING -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 8000 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT
        *raw
        :HUTCH-RAW - [0:0]
        -I PREROUTING -j HUTCH-RAW
        -A HUTCH-RAW -d 127.0.0.0/8 ! -i lo -m comment --comment "hutch:CVE-2020-8558" -j DROP
        COMMIT

        """)
    }

    /// With the skeleton there (as iptables-save prints it: comments quoted or not), only the rules.
    func testIptAddHostIPUDPAndLocalhostIdempotent() {
        let nat = IptablesFirewall.SaveState("""
        :HUTCH - [0:0]
        :HUTCH-POSTROUTING - [0:0]
        -A PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -A POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH -d 127.0.0.1/32 -p tcp -m tcp --dport 8081 -m comment --comment hutch:3f2a -j DNAT --to-destination 10.87.0.2:80
        -A HUTCH-POSTROUTING -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:3f2a" -j MASQUERADE
        """)
        let raw = IptablesFirewall.SaveState("""
        :HUTCH-RAW - [0:0]
        -A PREROUTING -j HUTCH-RAW
        -A HUTCH-RAW -d 127.0.0.0/8 ! -i lo -m comment --comment "hutch:CVE-2020-8558" -j DROP
        """)
        XCTAssertNil(IptablesFirewall.renderAddPorts(fwd("127.0.0.1:8081:80"), nat: nat, raw: raw), "all there: no batch")
        XCTAssertEqual(IptablesFirewall.renderAddPorts(fwd("192.0.2.7:5353:53/udp"), nat: nat, raw: raw), """
        *nat
        -A HUTCH -d 192.0.2.7/32 -p udp -m udp --dport 5353 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:53
        -A HUTCH-POSTROUTING -s 10.87.0.2/32 -d 10.87.0.2/32 -p udp -m udp --dport 53 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT

        """)
        XCTAssertEqual(IptablesFirewall.renderRemovePorts(fwd("127.0.0.1:8081:80") + fwd("9000:90"), nat: nat), """
        *nat
        -D HUTCH -d 127.0.0.1/32 -p tcp -m tcp --dport 8081 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:80
        -D HUTCH-POSTROUTING -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT

        """, "only what is there; 9000 was never added")
        XCTAssertNil(IptablesFirewall.renderRemovePorts(fwd("9000:90"), nat: nat))
    }

    func testIptRange() {
        let b = IptablesFirewall.renderAddPorts(fwd("8000-8002:9000-9002"), nat: .init(), raw: .init())!
        XCTAssertEqual(b.components(separatedBy: "-j DNAT").count - 1, 3)
        XCTAssertTrue(b.contains("--dport 8002 -m comment --comment \"hutch:3f2a\" -j DNAT --to-destination 10.87.0.2:9002"), b)
    }

    func testIptRemoveAllOnlyHutch() {
        let filter = IptablesFirewall.SaveState("""
        :FORWARD ACCEPT [0:0]
        :HUTCH-FORWARD - [0:0]
        :DOCKER - [0:0]
        -A FORWARD -j DOCKER
        -A FORWARD -j HUTCH-FORWARD
        -A HUTCH-FORWARD -o hutch1 -m comment --comment "hutch:web" -j DROP
        """)
        XCTAssertEqual(IptablesFirewall.renderRemoveAll(filter: filter, nat: .init(), raw: .init()), """
        *filter
        -D FORWARD -j HUTCH-FORWARD
        -F HUTCH-FORWARD
        -X HUTCH-FORWARD
        COMMIT

        """)
        XCTAssertNil(IptablesFirewall.renderRemoveAll(filter: .init(), nat: .init(), raw: .init()))
    }
}
