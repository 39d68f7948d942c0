import XCTest
import Foundation
import Synchronization
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Root tests of the network layer with real links, namespaces, rules and packets.
///
///     HUTCH_NETNS_TEST=1 unshare --net swift test --scratch-path .build-net --filter NetlinkRootTests
///
/// The whole test process lives in a throwaway netns (it refuses to run in PID 1's netns).
/// "Containers" and an "outside" host are `unshare --net sleep` children, killed at the end.
final class NetlinkRootTests: XCTestCase {
    var children: [Process] = []

    override func setUpWithError() throws {
        guard ProcessInfo.processInfo.environment["HUTCH_NETNS_TEST"] == "1" else {
            throw XCTSkip("root netns test: set HUTCH_NETNS_TEST=1 and run under `unshare --net`")
        }
        guard getuid() == 0 else { throw XCTSkip("needs root") }
        guard Self.nsID("/proc/self/ns/net") != Self.nsID("/proc/1/ns/net") else {
            throw XCTSkip("refusing to touch PID 1's network namespace: run under `unshare --net`")
        }
        // Foundation's run loop (Process) needs loopback for its wakeup sockets.
        try NetlinkSession().setUp("lo")
    }

    override func tearDown() {
        for p in children where p.isRunning { p.terminate(); p.waitUntilExit() }
        children.removeAll()
        if let d = scratch { try? FileManager.default.removeItem(atPath: d); scratch = nil }
    }

    /// A folder of this test's own (removed in tearDown).
    var scratch: String?

    /// The iptables backend with its lock in this test's folder (not the real host's lock file,
    /// and nothing left in /tmp).
    func iptables() throws -> IptablesFirewall {
        if scratch == nil {
            let d = NSTemporaryDirectory() + "hutch-netlink-test-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false)
            scratch = d
        }
        return IptablesFirewall(lockPath: scratch! + "/iptables.lock")
    }

    // MARK: helpers

    static func nsID(_ path: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
    }

    /// A process in a fresh netns; returns once the namespace switch happened.
    func spawnNetns() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["--net", "sleep", "60"]
        try p.run()
        children.append(p)
        let mine = Self.nsID("/proc/self/ns/net")
        for _ in 0..<500 {
            let theirs = Self.nsID("/proc/\(p.processIdentifier)/ns/net")
            if theirs != mine && theirs.hasPrefix("net:") { return p.processIdentifier }
            usleep(2000)
        }
        throw HutchError("unshare child did not switch netns")
    }

    /// Starts a background process (killed in tearDown).
    func background(_ argv: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        children.append(p)
        return p
    }

    @discardableResult
    func sh(_ argv: [String], input: String = "") throws -> (status: Int32, output: String) {
        try Command.run(argv, input: input)
    }

    func out(_ argv: [String]) throws -> String {
        let r = try sh(argv)
        XCTAssertEqual(r.status, 0, "\(argv.joined(separator: " ")): \(r.output)")
        return r.output
    }

    func inNetns(_ pid: Int32, _ argv: [String]) -> [String] {
        ["/usr/bin/nsenter", "--target", "\(pid)", "--net"] + argv
    }

    static let ip = "/usr/sbin/ip"
    static let python = "/usr/bin/python3"

    /// A one-shot TCP server in a netns that answers with the client's address.
    func server(netns pid: Int32, address: String, port: Int) throws {
        let code = """
        import socket
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("\(address)", \(port))); s.listen(8)
        while True:
            c, a = s.accept(); c.sendall(a[0].encode()); c.close()
        """
        _ = try background(inNetns(pid, [Self.python, "-c", code]))
    }

    /// Connects from a netns (nil: the test's own) and returns what the server said, or nil.
    func connect(from pid: Int32?, to address: String, port: Int, timeout: Double = 1.0) throws -> String? {
        let code = """
        import socket, sys, time
        for i in range(40):
            try:
                c = socket.create_connection(("\(address)", \(port)), timeout=\(timeout))
                print(c.recv(100).decode()); sys.exit(0)
            except ConnectionRefusedError:
                time.sleep(0.05)
            except OSError as e:
                print("ERR", e); sys.exit(1)
        sys.exit(1)
        """
        let argv = [Self.python, "-c", code]
        let r = try sh(pid.map { inNetns($0, argv) } ?? argv)
        return r.status == 0 ? r.output.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// An "outside" host: a netns reachable from the test's netns over hx-NAME 198.51.100.1/24
    /// <-> ox0 198.51.100.2/24, with no route back to container subnets (so only MASQUERADE works).
    func makeOutside(_ tag: String) throws -> Int32 {
        let pid = try spawnNetns()
        let host = try NetlinkSession()
        try host.createVeth("hx-\(tag)", peer: "ox0", peerNetnsPid: pid, master: nil, hostUp: true, peerMAC: nil)
        try host.addAddress("hx-\(tag)", CIDRv4("198.51.100.1/24")!)
        let ns = try NetlinkSession(netnsOfPid: pid)
        try ns.addAddress("ox0", CIDRv4("198.51.100.2/24")!)
        try ns.setUp("ox0")
        try ns.setUp("lo")
        try server(netns: pid, address: "198.51.100.2", port: 8081)
        return pid
    }

    func ruleset(_ fw: any Firewall) throws -> String {
        switch fw.kind {
        case .nftables: return try NftablesFirewall.run("list ruleset")
        case .iptables: return try out(["/usr/sbin/iptables-save", "-t", "filter"]) + out(["/usr/sbin/iptables-save", "-t", "nat"])
        }
    }

    func count(_ needle: String, in hay: String) -> Int { hay.components(separatedBy: needle).count - 1 }

    func ms(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }

    // MARK: tests

    func testSessionInOtherNetns() throws {
        let pid = try spawnNetns()
        let a = try NetlinkSession(netnsOfPid: pid)
        let b = try NetlinkSession(netnsPath: "/proc/\(pid)/ns/net")
        try a.createBridge("zz0", mac: "02:42:0a:00:00:09")
        XCTAssertNotNil(b.linkIndex("zz0"), "the two sessions see the same netns")
        XCTAssertNil(try NetlinkSession().linkIndex("zz0"), "but not the test's own netns")
        XCTAssertEqual(try a.linkList().map(\.name).sorted(), ["lo", "zz0"])
        XCTAssertFalse(try NetlinkSession().linkList().map(\.name).contains("zz0"))
        XCTAssertFalse(try a.createBridge("zz0"), "EEXIST tolerated")
        try a.setUp("zz0")
        XCTAssertTrue(try a.link("zz0")!.isUp)
        XCTAssertTrue(try a.addAddress("zz0", CIDRv4("10.9.0.1/24")!))
        XCTAssertFalse(try a.addAddress("zz0", CIDRv4("10.9.0.1/24")!), "EEXIST tolerated")
        XCTAssertTrue(try a.routes().contains(CIDRv4("10.9.0.0/24")!))
        XCTAssertFalse(try NetlinkSession().routes().contains(CIDRv4("10.9.0.0/24")!))
        let link = try out(inNetns(pid, [Self.ip, "link", "show", "zz0"]))
        XCTAssertTrue(link.contains("02:42:0a:00:00:09"), link)
        XCTAssertTrue(try a.deleteLink("zz0"))
        XCTAssertFalse(try a.deleteLink("zz0"), "missing tolerated")
        XCTAssertThrowsError(try NetlinkSession(netnsOfPid: 999_999_999))
        XCTAssertThrowsError(try a.setUp("nope0")) { XCTAssertTrue("\($0)".contains("No such device"), "\($0)") }
    }

    func testBridgeNftables() throws { try exercise(NftablesFirewall(), tag: "n", third: 201) }
    func testBridgeIptables() throws {
        try exercise(try iptables(), tag: "i", third: 202)
    }
    func testInternalNftables() throws { try exerciseInternal(NftablesFirewall(), tag: "ni", third: 203) }
    func testInternalIptables() throws {
        try exerciseInternal(try iptables(), tag: "ii", third: 204)
    }

    /// The full life of a normal network on one backend, with real packets.
    func exercise(_ fw: any Firewall, tag: String, third: Int) throws {
        let n = BridgeNetwork(name: "net-\(tag).x", bridge: "hbr-\(tag)", subnet: CIDRv4("10.\(third).0.0/24")!,
                              gateway: IPv4Address("10.\(third).0.1")!, isInternal: false)
        let driver = BridgeDriver(firewall: fw)
        let host = try NetlinkSession()

        // ensure: creates, then is idempotent and cheap.
        var created = false
        let first = try ms { created = try driver.ensure(n) }
        XCTAssertTrue(created)
        XCTAssertFalse(try driver.ensure(n))
        let loops = 200
        let fast = try ms { for _ in 0..<loops { _ = try driver.ensure(n) } } / Double(loops)
        XCTAssertEqual(Sysctl.read("net/ipv4/ip_forward"), "1")
        let br = try out([Self.ip, "-4", "addr", "show", "dev", n.bridge])
        XCTAssertTrue(br.contains("inet 10.\(third).0.1/24"), br)
        XCTAssertTrue(try host.link(n.bridge)!.isUp)
        XCTAssertTrue(try out([Self.ip, "link", "show", n.bridge]).contains(n.gateway.derivedMAC))
        XCTAssertTrue(try host.routes().contains(n.subnet))

        // firewall rules present, once, even after a second setup.
        try fw.setupNetwork(n)
        var rules = try ruleset(fw)
        // nft: 4 forward rules + masquerade; iptables also accepts bridge-internal traffic first.
        XCTAssertEqual(count(n.ruleComment + "\"", in: rules), fw.kind == .iptables ? 6 : 5, rules)
        XCTAssertTrue(rules.contains("masquerade") || rules.contains("MASQUERADE"), rules)

        // attach: eth0 in the container with address, MAC, route; host end on the bridge.
        let outside = try makeOutside(tag)
        let c = try spawnNetns()
        let addr = IPv4Address("10.\(third).0.2")!
        let attachMS = try ms {
            try driver.attach(n, containerPid: c, hostVeth: "hv-\(tag)", address: addr, mac: addr.derivedMAC)
        }
        let eth0 = try out(inNetns(c, [Self.ip, "addr", "show", "eth0"]))
        XCTAssertTrue(eth0.contains("inet 10.\(third).0.2/24 brd 10.\(third).0.255"), eth0)
        XCTAssertTrue(eth0.contains(addr.derivedMAC), eth0)
        XCTAssertTrue(eth0.contains(",UP"), eth0)
        let route = try out(inNetns(c, [Self.ip, "route"]))
        XCTAssertTrue(route.contains("default via 10.\(third).0.1 dev eth0"), route)
        let hv = try out([Self.ip, "link", "show", "hv-\(tag)"])
        XCTAssertTrue(hv.contains("master \(n.bridge)") && hv.contains("state UP"), hv)

        // packets: host -> container, container -> gateway, container -> outside (masqueraded).
        try server(netns: c, address: "0.0.0.0", port: 8080)
        XCTAssertEqual(try connect(from: nil, to: "10.\(third).0.2", port: 8080), "10.\(third).0.1")
        XCTAssertEqual(try connect(from: c, to: "198.51.100.2", port: 8081), "198.51.100.1",
                       "forwarded and masqueraded to the outside host's view")
        // Unsolicited connections routed into the bridge are dropped (no published port).
        try sh(inNetns(outside, [Self.ip, "route", "add", "10.\(third).0.0/24", "via", "198.51.100.1"]))
        XCTAssertNil(try connect(from: outside, to: "10.\(third).0.2", port: 8080, timeout: 0.5))

        // attach failing half-way leaves nothing: eth0 already exists in that netns.
        XCTAssertThrowsError(try driver.attach(n, containerPid: c, hostVeth: "hw-\(tag)", address: IPv4Address("10.\(third).0.3")!, mac: "02:42:00:00:00:03"))
        XCTAssertNil(host.linkIndex("hw-\(tag)"))
        XCTAssertThrowsError(try driver.attach(n, containerPid: c, hostVeth: "hw-\(tag)", address: IPv4Address("10.99.0.3")!, mac: "02:42:00:00:00:03"))

        // detach
        let detachMS = try ms { try driver.detach(hostVeth: "hv-\(tag)") }
        XCTAssertNil(host.linkIndex("hv-\(tag)"))
        XCTAssertNotEqual(try sh(inNetns(c, [Self.ip, "link", "show", "eth0"])).status, 0, "peer gone with the host end")
        try driver.detach(hostVeth: "hv-\(tag)") // missing tolerated

        // attach/detach cycles on the same container, timed.
        var att: [Double] = [], det: [Double] = []
        for _ in 0..<20 {
            att.append(try ms { try driver.attach(n, containerPid: c, hostVeth: "hv-\(tag)", address: addr, mac: addr.derivedMAC) })
            det.append(try ms { try driver.detach(hostVeth: "hv-\(tag)") })
        }
        func med(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }

        // remove: bridge and rules gone, twice is fine.
        let removeMS = try ms { try driver.remove(n) }
        try driver.remove(n)
        XCTAssertNil(host.linkIndex(n.bridge))
        rules = try ruleset(fw)
        XCTAssertFalse(rules.contains(n.ruleComment), rules)
        XCTAssertFalse(rules.contains("fwd-\(n.name)"), rules)
        try sh([Self.ip, "link", "del", "hx-\(tag)"])

        print(String(format: "[hutch-net %@] ensure create %.2f ms, ensure exists %.3f ms, attach first %.2f ms / median %.2f ms, detach first %.2f ms / median %.2f ms, remove %.2f ms",
                     fw.kind.rawValue, first, fast, attachMS, med(att), detachMS, med(det), removeMS))
    }

    /// An internal network: containers reach each other and the gateway, nothing leaves or enters.
    func exerciseInternal(_ fw: any Firewall, tag: String, third: Int) throws {
        let n = BridgeNetwork(name: "int-\(tag)", bridge: "hbr-\(tag)", subnet: CIDRv4("10.\(third).0.0/24")!,
                              gateway: IPv4Address("10.\(third).0.1")!, isInternal: true)
        let driver = BridgeDriver(firewall: fw)
        XCTAssertTrue(try driver.ensure(n))
        var rules = try ruleset(fw)
        XCTAssertEqual(count(n.ruleComment + "\"", in: rules), fw.kind == .nftables ? 2 : 3, rules)

        _ = try makeOutside(tag)
        let c1 = try spawnNetns(), c2 = try spawnNetns()
        let a1 = IPv4Address("10.\(third).0.2")!, a2 = IPv4Address("10.\(third).0.3")!
        try driver.attach(n, containerPid: c1, hostVeth: "hv1-\(tag)", address: a1, mac: a1.derivedMAC)
        try driver.attach(n, containerPid: c2, hostVeth: "hv2-\(tag)", address: a2, mac: a2.derivedMAC)
        try server(netns: c2, address: "0.0.0.0", port: 8080)
        XCTAssertEqual(try connect(from: c1, to: "\(a2)", port: 8080), "\(a1)", "same bridge")
        XCTAssertEqual(try connect(from: nil, to: "\(a2)", port: 8080), "\(n.gateway)", "host to container")
        XCTAssertNil(try connect(from: c1, to: "198.51.100.2", port: 8081, timeout: 0.5), "nothing leaves an internal network")

        try driver.detach(hostVeth: "hv1-\(tag)")
        try driver.detach(hostVeth: "hv2-\(tag)")
        try driver.remove(n)
        rules = try ruleset(fw)
        XCTAssertFalse(rules.contains(n.ruleComment), rules)
        try sh([Self.ip, "link", "del", "hx-\(tag)"])
    }

    /// Many hutch processes may create the same network at once ("chain already exists" races).
    func testConcurrentEnsure() throws {
        for fw in [NftablesFirewall(), try iptables()] as [any Firewall] {
            let n = BridgeNetwork(name: "par-\(fw.kind.rawValue)", bridge: "hbr-par", subnet: CIDRv4("10.205.0.0/24")!,
                                  gateway: IPv4Address("10.205.0.1")!)
            let driver = BridgeDriver(firewall: fw)
            let errors = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try driver.ensure(n) } catch { errors.withLock { $0.append("\(error)") } }
            }
            XCTAssertEqual(errors.withLock { $0 }, [])
            XCTAssertEqual(count(n.ruleComment + "\"", in: try ruleset(fw)), fw.kind == .iptables ? 6 : 5)
            try driver.remove(n)
            XCTAssertFalse(try ruleset(fw).contains(n.ruleComment))
        }
    }

    /// Rules that other software installed stay as they are, in the built-in chains and tables of
    /// their own, and also in hutch's base chains (a chain of its own jumped to from there): setting
    /// networks up and down and publishing ports never flush a base chain. A network that turns
    /// internal loses its MASQUERADE.
    func testForeignRulesUntouchedAndInternalSwitch() throws {
        _ = try out(["/usr/sbin/iptables", "-w", "-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "ACCEPT"])
        _ = try out(["/usr/sbin/iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24", "-j", "MASQUERADE"])
        try NftablesFirewall.run("add table ip other\nadd chain ip other c { type filter hook forward priority 0; }\nadd rule ip other c counter\n")
        let before = try ruleset(IptablesFirewall()) + NftablesFirewall.run("list table ip other")
        for fw in [NftablesFirewall(), try iptables()] as [any Firewall] {
            var n = BridgeNetwork(name: "sw-\(fw.kind.rawValue)", bridge: "hbr-sw", subnet: CIDRv4("10.206.0.0/24")!,
                                  gateway: IPv4Address("10.206.0.1")!)
            try fw.setupNetwork(n)
            // Another feature's chain, jumped to from a hutch base chain.
            if fw.kind == .nftables {
                try NftablesFirewall.run("""
                    add chain ip hutch othersvc
                    add rule ip hutch othersvc ip daddr 10.96.0.10 counter comment "another feature"
                    add rule ip hutch prerouting jump othersvc

                    """)
            } else {
                try IptablesFirewall().restore("""
                    *nat
                    :OTHER-SVC - [0:0]
                    -A OTHER-SVC -d 10.96.0.10/32 -m comment --comment "another feature" -j RETURN
                    -A HUTCH-PREROUTING -j OTHER-SVC
                    COMMIT

                    """, step: "test: foreign chain")
            }
            func foreignInHutch() throws -> [String] {
                let text = fw.kind == .nftables
                    ? try NftablesFirewall.run("list chain ip hutch othersvc") + NftablesFirewall.run("list chain ip hutch prerouting")
                    : try out(["/usr/sbin/iptables-save", "-t", "nat"])
                return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { $0.contains("another feature") || $0.contains("jump othersvc") || $0.contains("-j OTHER-SVC") }
            }
            let foreignBefore = try foreignInHutch()
            XCTAssertEqual(foreignBefore.count, 2, "\(foreignBefore)")
            // iptables-save also shows the foreign MASQUERADE; nft: hutch's table only.
            func masq() throws -> Int {
                count("MASQUERADE", in: try (fw.kind == .iptables ? ruleset(fw) : NftablesFirewall.run("list table ip hutch")).uppercased())
            }
            // The network's outbound masquerade goes when it becomes internal (the other
            // features' masquerades, hairpin, localhost and services, stay).
            let masqBefore = try masq()
            n.isInternal = true
            try fw.setupNetwork(n)
            XCTAssertEqual(try masq(), masqBefore - 1)
            var other = n
            other.name = "sw2-\(fw.kind.rawValue)"; other.bridge = "hbr-sw2"; other.subnet = CIDRv4("10.207.0.0/24")!
            other.gateway = IPv4Address("10.207.0.1")!
            try fw.setupNetwork(other)
            let p = PortForward(owner: "f00d", mapping: PortMapping(hostIP: nil, hostPort: 8099, containerPort: 80, proto: .tcp),
                                containerIP: IPv4Address("10.207.0.2")!, network: other)
            try fw.addPorts([p])
            try fw.removePorts([p])
            try fw.teardownNetwork(other)
            try fw.teardownNetwork(n)
            try fw.teardownNetwork(n)
            XCTAssertFalse(try ruleset(fw).contains(n.ruleComment))
            XCTAssertEqual(try foreignInHutch(), foreignBefore, "another feature's chain, rule and jump survive")
            if fw.kind == .nftables {
                let base = try NftablesFirewall.run("list chain ip hutch prerouting")
                XCTAssertEqual(count("jump ports-dnat", in: base), 1, base)
                try fw.removeAll()
                XCTAssertFalse(try NftablesFirewall.run("list ruleset").contains("table ip hutch"))
            } else {
                let nat = try out(["/usr/sbin/iptables-save", "-t", "nat"])
                XCTAssertEqual(count("-A HUTCH-PREROUTING -m addrtype --dst-type LOCAL -j HUTCH", in: nat), 1, nat)
                try IptablesFirewall().restore("*nat\n-D HUTCH-PREROUTING -j OTHER-SVC\n-F OTHER-SVC\n-X OTHER-SVC\nCOMMIT\n", step: "test: cleanup")
            }
        }
        let after = try ruleset(IptablesFirewall()) + NftablesFirewall.run("list table ip other")
        func foreign(_ s: String) -> [Substring] {
            s.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.contains("HUTCH") }
        }
        XCTAssertEqual(foreign(before), foreign(after))
    }

    /// flushUDPConntrack (hn_conntrack_delete_udp): deletes the UDP entries of the given host ports
    /// in this netns, and only those: the same port over TCP and another UDP port keep theirs.
    func testFlushUDPConntrack() throws {
        // A `ct` rule on output makes this netns track connections (loopback included).
        try NftablesFirewall.run("add table ip cttest\nadd chain ip cttest out { type filter hook output priority 0; }\nadd rule ip cttest out ct state new counter\n")
        defer { _ = try? NftablesFirewall.run("delete table ip cttest\n") }
        // Two UDP flows to 127.0.0.1:41001 (two source ports), one to 41002, TCP to 41001.
        let code = """
        import socket
        for port in (41001, 41001, 41002):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", port)); u.close()
        l = socket.socket(); l.bind(("127.0.0.1", 41001)); l.listen(1)
        c = socket.create_connection(("127.0.0.1", 41001)); c.close(); l.close()
        """
        _ = try out([Self.python, "-c", code])
        /// Entries of `proto` whose original destination port is `port` (`conntrack -L`).
        func entries(_ proto: String, _ port: Int) throws -> Int {
            try out(["/usr/sbin/conntrack", "-L", "-p", proto]).split(separator: "\n").filter { line in
                guard line.hasPrefix(proto + " "), let d = line.range(of: " dport=") else { return false }
                return line[d.upperBound...].prefix(while: { $0.isNumber }) == "\(port)"
            }.count
        }
        XCTAssertEqual(try entries("udp", 41001), 2)
        XCTAssertEqual(try entries("udp", 41002), 1)
        XCTAssertEqual(try entries("tcp", 41001), 1)

        let n = BridgeNetwork(name: "ct", bridge: "hbr-ct", subnet: CIDRv4("10.207.0.0/24")!, gateway: IPv4Address("10.207.0.1")!)
        func forward(_ port: UInt16, _ proto: PortMapping.Proto) -> PortForward {
            PortForward(owner: "ct", mapping: PortMapping(hostIP: nil, hostPort: port, containerPort: 80, proto: proto),
                        containerIP: IPv4Address("10.207.0.2")!, network: n)
        }
        // 41001/udp (twice: one port), 41003/udp (no entries), 41002/tcp (not UDP: ignored).
        let ports = [forward(41001, .udp), forward(41001, .udp), forward(41003, .udp), forward(41002, .tcp)]
        XCTAssertEqual(flushUDPConntrack(ports), 2)
        XCTAssertEqual(try entries("udp", 41001), 0)
        XCTAssertEqual(try entries("udp", 41002), 1)
        XCTAssertEqual(try entries("tcp", 41001), 1)
        XCTAssertEqual(flushUDPConntrack(ports), 0)
        XCTAssertEqual(flushUDPConntrack([forward(41002, .tcp)]), 0)
    }

    /// The overlay verbs of a cluster node (issue 16), each against what `ip`/`bridge` print.
    func testOverlayVerbs() throws {
        let nl = try NetlinkSession()
        try sh([Self.ip, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1"])
        defer { _ = try? nl.deleteLink("hutch.1"); _ = try? nl.deleteLink("ul0") }
        try nl.addAddress("ul0", CIDRv4("192.0.2.1/24")!)
        try nl.setUp("ul0"); try nl.setUp("ul1")
        let ul0 = try XCTUnwrap(nl.linkIndex("ul0"))
        let owner = try XCTUnwrap(try nl.addressOwner(IPv4Address("192.0.2.1")!))
        XCTAssertEqual(owner.index, ul0); XCTAssertEqual(owner.prefix, 24)
        XCTAssertNil(try nl.addressOwner(IPv4Address("192.0.2.9")!))
        XCTAssertEqual(try nl.mtu(ofIndex: ul0), 1500)

        let mac = "0e:48:0a:f4:01:00", peerMAC = "0e:48:0a:f4:02:00"
        XCTAssertTrue(try nl.createVxlan("hutch.1", vni: 1, local: IPv4Address("192.0.2.1")!, link: ul0, port: 8472, mac: mac))
        XCTAssertFalse(try nl.createVxlan("hutch.1", vni: 1, local: IPv4Address("192.0.2.1")!, link: ul0, port: 8472, mac: mac))
        let d = try out([Self.ip, "-d", "link", "show", "hutch.1"])
        XCTAssertTrue(d.contains("vxlan id 1 local 192.0.2.1 dev ul0"), d)
        XCTAssertTrue(d.contains("dstport 8472 nolearning"), d)
        XCTAssertTrue(d.contains("link/ether \(mac)"), d)
        let vx = try XCTUnwrap(nl.linkIndex("hutch.1"))
        XCTAssertEqual(try nl.mtu(ofIndex: vx), 1450)
        try nl.addAddress("hutch.1", CIDRv4("10.244.1.0/32")!)
        try nl.setUp("hutch.1")

        let subnet = CIDRv4("10.244.2.0/24")!, tunnel = IPv4Address("10.244.2.0")!
        for _ in 0..<2 {  // replace: twice is fine
            try nl.replaceRoute(subnet, via: tunnel, dev: vx, onlink: true)
            try nl.replaceNeighbour(tunnel, mac: peerMAC, dev: vx)
            try nl.replaceFDB(peerMAC, dst: IPv4Address("192.0.2.2")!, dev: vx)
        }
        XCTAssertTrue(try out([Self.ip, "route"]).contains("10.244.2.0/24 via 10.244.2.0 dev hutch.1 onlink"))
        XCTAssertTrue(try out([Self.ip, "neigh", "show", "dev", "hutch.1"]).contains("10.244.2.0 lladdr \(peerMAC) PERMANENT"))
        XCTAssertTrue(try out(["/usr/sbin/bridge", "fdb", "show", "dev", "hutch.1"]).contains("\(peerMAC) dst 192.0.2.2 self permanent"))
        XCTAssertTrue(try nl.routeTable().contains { $0.dst == subnet && $0.oif == vx })

        try nl.deleteFDB(peerMAC, dev: vx)
        try nl.deleteFDB(peerMAC, dev: vx)  // missing is fine
        try nl.deleteNeighbour(tunnel, dev: vx)
        try nl.deleteNeighbour(tunnel, dev: vx)
        XCTAssertTrue(try nl.deleteRoute(subnet))
        XCTAssertFalse(try nl.deleteRoute(subnet))
        XCTAssertFalse(try out(["/usr/sbin/bridge", "fdb", "show", "dev", "hutch.1"]).contains(peerMAC))
        XCTAssertFalse(try out([Self.ip, "neigh", "show", "dev", "hutch.1"]).contains("10.244.2.0 "))

        // host-gw: a route via the other node's IP, with the pod gateway as the source
        try nl.addAddress("ul1", CIDRv4("10.244.1.1/24")!)
        try nl.replaceRoute(CIDRv4("10.244.3.0/24")!, via: IPv4Address("192.0.2.3")!, dev: ul0, onlink: false,
                            src: IPv4Address("10.244.1.1")!)
        XCTAssertTrue(try out([Self.ip, "route"]).contains("10.244.3.0/24 via 192.0.2.3 dev ul0 src 10.244.1.1"))
        // off-link next hop: refused by the kernel
        XCTAssertThrowsError(try nl.replaceRoute(CIDRv4("10.244.4.0/24")!, via: IPv4Address("198.51.100.4")!, dev: ul0, onlink: false))
    }
}
