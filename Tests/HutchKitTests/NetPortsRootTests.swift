import XCTest
import Foundation
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Published ports with real packets, on both backends (same harness as the rest of
/// NetlinkRootTests: the test process in a throwaway netns, "containers" and an "outside" host in
/// child netns).
extension NetlinkRootTests {
    func testPortsNftables() throws { try exercisePorts(NftablesFirewall(), tag: "pn", third: 211) }
    func testPortsIptables() throws {
        try exercisePorts(try iptables(), tag: "pi", third: 212)
    }

    /// A UDP echo server answering with the client's address.
    func udpServer(netns pid: Int32, port: Int) throws {
        let code = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", \(port)))
        while True:
            d, a = s.recvfrom(100); s.sendto(a[0].encode(), a)
        """
        _ = try background(inNetns(pid, [Self.python, "-c", code]))
    }

    func udpAsk(from pid: Int32?, to address: String, port: Int) throws -> String? {
        let code = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
        for i in range(6):
            s.sendto(b"x", ("\(address)", \(port)))
            try:
                print(s.recvfrom(100)[0].decode()); sys.exit(0)
            except OSError: pass
        sys.exit(1)
        """
        let argv = [Self.python, "-c", code]
        let r = try sh(pid.map { inNetns($0, argv) } ?? argv)
        return r.status == 0 ? r.output.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    func exercisePorts(_ fw: any Firewall, tag: String, third: Int) throws {
        let n = BridgeNetwork(name: "net-\(tag)", bridge: "hbr-\(tag)", subnet: CIDRv4("10.\(third).0.0/24")!,
                              gateway: IPv4Address("10.\(third).0.1")!)
        let driver = BridgeDriver(firewall: fw)
        defer { try? driver.remove(n); try? fw.removeAll() }
        try driver.ensure(n)
        XCTAssertEqual(Sysctl.read("net/ipv4/conf/\(n.bridge)/route_localnet"), "1")
        XCTAssertEqual(Sysctl.read("net/ipv4/conf/all/route_localnet"), "0", "never on all")
        let outside = try makeOutside(tag)
        let c = try spawnNetns()
        let cip = IPv4Address("10.\(third).0.2")!
        try driver.attach(n, containerPid: c, hostVeth: "hv-\(tag)", address: cip, mac: cip.derivedMAC)
        let port = try out(["/usr/sbin/bridge", "-d", "link", "show", "dev", "hv-\(tag)"])
        XCTAssertTrue(port.contains("hairpin on"), "hairpin on the container's bridge port: \(port)")
        try server(netns: c, address: "0.0.0.0", port: 8000)
        try udpServer(netns: c, port: 5300)

        let id = "c0ffee\(tag)"
        func fwd(_ ip: String?, _ hp: UInt16, _ cp: UInt16, _ pr: PortMapping.Proto = .tcp) -> PortForward {
            PortForward(owner: id, mapping: PortMapping(hostIP: ip.flatMap { IPv4Address($0) }, hostPort: hp, containerPort: cp, proto: pr),
                        containerIP: cip, network: n)
        }
        let ports = [fwd(nil, 8080, 8000), fwd("127.0.0.1", 8081, 8000), fwd("198.51.100.1", 8082, 8000),
                     fwd(nil, 5353, 5300, .udp)]
        // Before publishing, a UDP "flow" to the port exists (stale entry that must be flushed).
        _ = try udpAsk(from: outside, to: "198.51.100.1", port: 5353)
        try fw.addPorts(ports)
        try fw.addPorts(ports)  // idempotent
        let rules = try ruleset(fw) + (fw.kind == .iptables ? out(["/usr/sbin/iptables-save", "-t", "raw"]) : "")
        if fw.kind == .iptables {
            XCTAssertEqual(count("-j DNAT", in: rules), 4, rules)
            let l = try out(["/usr/sbin/iptables", "-t", "nat", "-L", "HUTCH", "-n"])
            XCTAssertTrue(l.contains("tcp dpt:8080 /* hutch:\(id) */ to:10.\(third).0.2:8000"), l)
            XCTAssertTrue(rules.contains("! -i lo"), rules)
        } else {
            XCTAssertEqual(count("comment \"hutch:\(id)\"", in: rules), 3 + 3, rules)  // 4 ports + 2 hairpin (no udp? see below)
            XCTAssertTrue(rules.contains("8080 comment \"hutch:\(id)\" : 10.\(third).0.2 . 8000"), rules)
            XCTAssertTrue(rules.contains("127.0.0.1 . 8081 comment"), rules)
            XCTAssertTrue(rules.contains("iifname != \"lo\" ip daddr 127.0.0.0/8 drop"), rules)
        }

        // From outside: DNAT keeps the client's address.
        XCTAssertEqual(try connect(from: outside, to: "198.51.100.1", port: 8080), "198.51.100.2")
        XCTAssertEqual(try connect(from: outside, to: "198.51.100.1", port: 8082), "198.51.100.2", "hostIP-restricted, matching")
        XCTAssertNil(try connect(from: outside, to: "198.51.100.1", port: 8081, timeout: 0.3), "127.0.0.1-only is not reachable from outside")
        // From the host: its own address and 127.0.0.1 (route_localnet + masquerade).
        XCTAssertEqual(try connect(from: nil, to: "198.51.100.1", port: 8080), "198.51.100.1")
        XCTAssertEqual(try connect(from: nil, to: "127.0.0.1", port: 8080), "10.\(third).0.1")
        XCTAssertEqual(try connect(from: nil, to: "127.0.0.1", port: 8081), "10.\(third).0.1")
        // Hairpin: the container to its own published port through the host's address.
        XCTAssertEqual(try connect(from: c, to: "198.51.100.1", port: 8080), "10.\(third).0.1")
        // UDP from outside, despite the flow seen before the mapping existed.
        XCTAssertEqual(try udpAsk(from: outside, to: "198.51.100.1", port: 5353), "198.51.100.2")

        // Unpublish: gone, and twice is fine.
        try fw.removePorts(ports)
        try fw.removePorts(ports)
        let after = try ruleset(fw)
        XCTAssertEqual(count("hutch:\(id)", in: after), 0, after)
        XCTAssertNil(try connect(from: outside, to: "198.51.100.1", port: 8080, timeout: 0.3))
        XCTAssertNil(try udpAsk(from: outside, to: "198.51.100.1", port: 5353))

        // Rebuild after a wipe: the first port write finds no map and creates the skeleton.
        if fw.kind == .nftables {
            try NftablesFirewall.run("flush ruleset")
        }
        try fw.addPorts([ports[0]])
        XCTAssertEqual(try connect(from: outside, to: "198.51.100.1", port: 8080), "198.51.100.2")
        try fw.setupNetwork(n)
        XCTAssertEqual(try connect(from: outside, to: "198.51.100.1", port: 8080), "198.51.100.2")
        try fw.removePorts([ports[0]])
        try driver.remove(n)
        var gone = try ruleset(fw)
        XCTAssertFalse(gone.contains("hutch:\(id)") || gone.contains(n.ruleComment), gone)
        // A backend switch's last step: nothing of hutch's is left.
        try fw.removeAll()
        try fw.removeAll()
        gone = try ruleset(fw) + (fw.kind == .iptables ? out(["/usr/sbin/iptables-save", "-t", "raw"]) : "")
        XCTAssertFalse(gone.contains("hutch") || gone.contains("HUTCH"), gone)
    }
}
