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

    // MARK: nftables: the elements libnftnl sends (nft's register layout: fields padded to 4 bytes)

    func el(_ set: String, _ key: [UInt8], _ data: [UInt8] = [], _ comment: String = "hutch:3f2a") -> NftElement {
        NftElement(set: set, key: key, data: data, comment: comment)
    }
    let cip: [UInt8] = [10, 87, 0, 2]
    /// ifname keys: IFNAMSIZ bytes, NUL padded
    let hutch1: [UInt8] = Array("hutch1".utf8) + [UInt8](repeating: 0, count: 10)

    func testNftAnyAddressTCP() {
        XCTAssertEqual(NftablesFirewall.elements(fwd("8080:8000"), adding: true), [
            el("tcp_any", [0x1f, 0x90], cip + [0x1f, 0x40, 0, 0]),
            el("hairpin", cip + cip + [6, 0, 0, 0] + [0x1f, 0x40, 0, 0]),
            el("bridge_ifs", hutch1, [], "hutch:web"),
        ])
    }

    func testNftHostIPUDP() {
        XCTAssertEqual(NftablesFirewall.elements(fwd("192.0.2.7:5353:53/udp"), adding: true), [
            el("udp_ports", [192, 0, 2, 7, 0x14, 0xe9, 0, 0], cip + [0, 53, 0, 0]),
            el("hairpin", cip + cip + [17, 0, 0, 0] + [0, 53, 0, 0]),
            el("bridge_ifs", hutch1, [], "hutch:web"),
        ])
    }

    func testNftLocalhostOnlyHasNoHairpin() {
        XCTAssertEqual(NftablesFirewall.elements(fwd("127.0.0.1:8081:80"), adding: true), [
            el("tcp_ports", [127, 0, 0, 1, 0x1f, 0x91, 0, 0], cip + [0, 80, 0, 0]),
            el("bridge_ifs", hutch1, [], "hutch:web"),
        ])
    }

    /// Removal sends the same keys (the bridge stays in bridge_ifs until the network goes).
    func testNftRangeRemoval() {
        XCTAssertEqual(NftablesFirewall.elements(fwd("8000-8001:9000-9001"), adding: false), [
            el("tcp_any", [0x1f, 0x40], cip + [0x23, 0x28, 0, 0]),
            el("tcp_any", [0x1f, 0x41], cip + [0x23, 0x29, 0, 0]),
            el("hairpin", cip + cip + [6, 0, 0, 0] + [0x23, 0x28, 0, 0]),
            el("hairpin", cip + cip + [6, 0, 0, 0] + [0x23, 0x29, 0, 0]),
        ])
    }

    /// Grouped by set (one message per set), duplicates sent once, the owner's comment capped at
    /// nft's 128 bytes.
    func testNftElementsGroupedAndDeduplicated() {
        let e = NftablesFirewall.elements(fwd("192.0.2.7:8080:8000/udp") + fwd("8081:80") + fwd("8081:80"), adding: true)
        XCTAssertEqual(e.map(\.set), ["tcp_any", "udp_ports", "hairpin", "hairpin", "bridge_ifs"])
        let long = NftablesFirewall.elements(fwd("8081:80", owner: String(repeating: "f", count: 200)), adding: false)
        XCTAssertEqual(long[0].comment.utf8.count, 128)
    }

    // MARK: iptables

    func testIptAddAnyAddressFromScratch() {
        XCTAssertEqual(IptablesFirewall.renderAddPorts(fwd("8080:8000"), nat: SavedTable()), """
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
        -A PREROUTING -j HUTCH-PREROUTING
        -A OUTPUT -j HUTCH-OUTPUT
        -I POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH-POSTROUTING -j HUTCH-NETWORKS-MASQ
        -A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-POSTROUTING -j HUTCH-PORTS-MASQ
        -A HUTCH-PREROUTING -j HUTCH-SERVICES
        -A HUTCH-OUTPUT -j HUTCH-SERVICES
        -A HUTCH-POSTROUTING -j HUTCH-SERVICES-MASQ
        -A HUTCH-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS
        -A HUTCH-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A HUTCH-SERVICES-MASQ -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A HUTCH-SERVICES-MASQ -j MARK --set-xmark 0x4000/0x0
        -A HUTCH-SERVICES-MASQ -j MASQUERADE --random-fully
        -A HUTCH -p tcp -m tcp --dport 8080 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:8000
        -A HUTCH-PORTS-MASQ -s 10.87.0.2/32 -d 10.87.0.2/32 -p tcp -m tcp --dport 8000 -m comment --comment "hutch:3f2a" -j MASQUERADE
        -A HUTCH-PORTS-MASQ -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 8000 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT

        """)
    }

    /// With the skeleton there (as iptables-save prints it: comments quoted or not, a foreign jump
    /// in a hutch base chain), only the rules.
    func testIptAddHostIPUDPAndLocalhostIdempotent() {
        let nat = SavedTable("""
        :HUTCH - [0:0]
        :HUTCH-OUTPUT - [0:0]
        :HUTCH-POSTROUTING - [0:0]
        :HUTCH-PREROUTING - [0:0]
        :HUTCH-NETWORKS-MASQ - [0:0]
        :HUTCH-PORTS-MASQ - [0:0]
        :HUTCH-SERVICES - [0:0]
        :HUTCH-NODEPORTS - [0:0]
        :HUTCH-MARK-MASQ - [0:0]
        :HUTCH-SERVICES-MASQ - [0:0]
        :OTHER - [0:0]
        -A PREROUTING -j HUTCH-PREROUTING
        -A OUTPUT -j HUTCH-OUTPUT
        -A POSTROUTING -j HUTCH-POSTROUTING
        -A HUTCH-OUTPUT -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-POSTROUTING -j HUTCH-NETWORKS-MASQ
        -A HUTCH-POSTROUTING -j HUTCH-PORTS-MASQ
        -A HUTCH-PREROUTING -j OTHER
        -A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH
        -A HUTCH-PREROUTING -j HUTCH-SERVICES
        -A HUTCH-OUTPUT -j HUTCH-SERVICES
        -A HUTCH-POSTROUTING -j HUTCH-SERVICES-MASQ
        -A HUTCH-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j HUTCH-NODEPORTS
        -A HUTCH-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
        -A HUTCH-SERVICES-MASQ -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A HUTCH-SERVICES-MASQ -j MARK --set-xmark 0x4000/0x0
        -A HUTCH-SERVICES-MASQ -j MASQUERADE --random-fully
        -A HUTCH -d 127.0.0.1/32 -p tcp -m tcp --dport 8081 -m comment --comment hutch:3f2a -j DNAT --to-destination 10.87.0.2:80
        -A HUTCH-PORTS-MASQ -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:3f2a" -j MASQUERADE
        """)
        XCTAssertNil(IptablesFirewall.renderAddPorts(fwd("127.0.0.1:8081:80"), nat: nat), "all there: no batch")
        XCTAssertEqual(IptablesFirewall.renderAddPorts(fwd("192.0.2.7:5353:53/udp"), nat: nat), """
        *nat
        -A HUTCH -d 192.0.2.7/32 -p udp -m udp --dport 5353 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:53
        -A HUTCH-PORTS-MASQ -s 10.87.0.2/32 -d 10.87.0.2/32 -p udp -m udp --dport 53 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT

        """)
        XCTAssertEqual(IptablesFirewall.renderRemovePorts(fwd("127.0.0.1:8081:80") + fwd("9000:90"), nat: nat), """
        *nat
        -D HUTCH -d 127.0.0.1/32 -p tcp -m tcp --dport 8081 -m comment --comment "hutch:3f2a" -j DNAT --to-destination 10.87.0.2:80
        -D HUTCH-PORTS-MASQ -s 127.0.0.0/8 -d 10.87.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment "hutch:3f2a" -j MASQUERADE
        COMMIT

        """, "only what is there; 9000 was never added")
        XCTAssertNil(IptablesFirewall.renderRemovePorts(fwd("9000:90"), nat: nat))
    }

    func testIptRange() {
        let b = IptablesFirewall.renderAddPorts(fwd("8000-8002:9000-9002"), nat: SavedTable())!
        XCTAssertEqual(b.components(separatedBy: "-j DNAT").count - 1, 3)
        XCTAssertTrue(b.contains("--dport 8002 -m comment --comment \"hutch:3f2a\" -j DNAT --to-destination 10.87.0.2:9002"), b)
    }

    /// Every hutch chain and every jump into one go; other software's chains stay (a jump from a
    /// hutch base chain to one goes with the base chain's flush).
    func testIptRemoveAllOnlyHutch() {
        let filter = SavedTable("""
        :FORWARD ACCEPT [0:0]
        :HUTCH-FORWARD - [0:0]
        :HUTCH-NETWORKS - [0:0]
        :DOCKER - [0:0]
        :OTHER - [0:0]
        -A FORWARD -j DOCKER
        -A FORWARD -j HUTCH-FORWARD
        -A HUTCH-FORWARD -j HUTCH-NETWORKS
        -A HUTCH-FORWARD -j OTHER
        -A HUTCH-NETWORKS -o hutch1 -m comment --comment "hutch:web" -j DROP
        """)
        XCTAssertEqual(IptablesFirewall.renderRemoveAll(filter: filter, nat: SavedTable(), raw: SavedTable()), """
        *filter
        -D FORWARD -j HUTCH-FORWARD
        -F HUTCH-FORWARD
        -F HUTCH-NETWORKS
        -X HUTCH-FORWARD
        -X HUTCH-NETWORKS
        COMMIT

        """)
        XCTAssertNil(IptablesFirewall.renderRemoveAll(filter: SavedTable(), nat: SavedTable(), raw: SavedTable()))
    }
}
