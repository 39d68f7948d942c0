import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// Issue 14 §3/§4 without root: --env-file, --add-host and --dns parsing and rendering, the
/// special-purpose subnet check, the messages of the defects, and (with RuntimeStepTests' fakes)
/// network connect/disconnect, rename and the exit status kept after a record goes.
final class CLILifecycleTests: XCTestCase {
    // MARK: --env-file

    func testEnvFileInDockersFormat() throws {
        let text = "\u{FEFF}# settings\n\nA=1\n  B=two words  \r\nQUOTED=\"kept as is\"\nFROM_CALLER\nUNSET\nEMPTY=\nURL=a=b=c\n\t# indented comment\n"
        let env = try EnvFile.parse(text, path: "app.env", lookup: { $0 == "FROM_CALLER" ? "passed" : nil })
        XCTAssertEqual(env, ["A=1", "B=two words  ", "QUOTED=\"kept as is\"", "FROM_CALLER=passed", "EMPTY=", "URL=a=b=c"])
    }

    func testEnvFileErrorsNameTheFileAndLine() {
        func message(_ text: String) -> String {
            do { _ = try EnvFile.parse(text, path: "f.env", lookup: { _ in nil }); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(message("A=1\n=x\n"), "invalid --env-file f.env line 2: no variable name before '=' in \"=x\"")
        XCTAssertEqual(message("MY VAR=1\n"), "invalid --env-file f.env line 1: variable name \"MY VAR\" contains whitespace")
        XCTAssertTrue(message("1X=y").hasPrefix("invalid --env-file f.env line 1: invalid variable name \"1X\""))
        XCTAssertThrowsError(try EnvFile.entries(files: ["/nope"], read: { _ in nil }, lookup: { _ in nil })) { e in
            XCTAssertEqual("\(e)", "cannot read --env-file /nope: no such file or not readable")
        }
        // Files in order; -e entries come after them in RunOptions.env, so they win (Runtime.environment).
        XCTAssertEqual(try EnvFile.entries(files: ["a", "b"], read: { $0 == "a" ? "X=1\n" : "X=2\nY=3" }, lookup: { _ in nil }),
                       ["X=1", "X=2", "Y=3"])
    }

    // MARK: --add-host, --dns

    func testExtraHostParsing() throws {
        XCTAssertEqual(try ExtraHost(parsing: "db.local:10.1.2.3").description, "db.local:10.1.2.3")
        XCTAssertEqual(try ExtraHost(parsing: "db=10.1.2.3").description, "db:10.1.2.3")
        XCTAssertNil(try ExtraHost(parsing: "gw:host-gateway").address)
        for bad in ["db", "db:", ":10.0.0.1", "a b:10.0.0.1", "db:10.0.0.300", "db:::1", "-x:10.0.0.1"] {
            XCTAssertThrowsError(try ExtraHost(parsing: bad), bad) { e in
                XCTAssertTrue("\(e)".hasPrefix("invalid --add-host \"\(bad)\": "), "\(e)")
            }
        }
    }

    func testHostsFileWithExtraHostsAndMoreAddresses() {
        var h = HostsFile(hostname: "abc", name: "web", address: IPv4Address("10.90.0.3"), gateway: IPv4Address("10.90.0.1"))
        h.extraHosts = Runtime.extraHostLines(["db.local:10.1.2.3", "gw:host-gateway", "junk"], gateway: h.gateway)
        h.moreAddresses = [IPv4Address("10.91.0.7")!]
        h.peers = [(IPv4Address("10.91.0.2")!, ["db"])]
        XCTAssertEqual(h.rendered, """
            127.0.0.1\tlocalhost
            ::1\tlocalhost ip6-localhost ip6-loopback
            10.90.0.3\tabc web
            10.91.0.7\tabc web
            10.90.0.1\thost.hutch.internal
            10.1.2.3\tdb.local
            10.90.0.1\tgw
            10.91.0.2\tdb

            """)
    }

    func testResolvConfWithDNSKeepsSearchAndOptions() {
        let host = "# generated\nsearch corp.example\nnameserver 10.0.0.2\nnameserver 127.0.0.53\noptions ndots:2\n"
        XCTAssertEqual(ResolvConf.forContainer(host: host, dns: [IPv4Address("192.0.2.53")!, IPv4Address("192.0.2.54")!]),
                       "# generated\nsearch corp.example\noptions ndots:2\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n")
        XCTAssertEqual(ResolvConf.forContainer(host: host),
                       "# generated\nsearch corp.example\nnameserver 10.0.0.2\noptions ndots:2\n")
    }

    func testDNSAndAddHostConflicts() throws {
        var o = RunOptions()
        o.command = ["true"]
        o.dns = [IPv4Address("192.0.2.53")!]
        o.network = .host
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".hasPrefix("--dns cannot be used with --network host")) }
        o.network = .container("db")
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--network container:")) }
        o.network = .none
        XCTAssertNoThrow(try o.validate())
        o.extraHosts = [try ExtraHost(parsing: "gw:host-gateway")]
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("host-gateway needs a bridge network")) }
    }

    // MARK: §4 messages

    func testSpecialPurposeSubnetsAreRefused() throws {
        for s in ["224.0.0.0/24", "0.0.0.0/8", "127.0.0.0/24", "255.255.255.0/30", "169.254.0.0/16", "240.0.0.0/4",
                  "255.255.255.255/32", "0.0.0.0/0", "192.0.0.0/2"] {
            var o = NetworkOptions(name: "n")
            o.subnet = CIDRv4(s)!
            XCTAssertThrowsError(try o.validate(), s) { e in
                XCTAssertTrue("\(e)".hasPrefix("invalid --subnet \(s): it overlaps the special-purpose range "), "\(e)")
            }
        }
        for s in ["10.90.0.0/24", "172.16.0.0/12", "192.168.1.0/24", "100.64.0.0/10", "223.255.255.0/24"] {
            var o = NetworkOptions(name: "n")
            o.subnet = CIDRv4(s)!
            XCTAssertNoThrow(try o.validate(), s)
        }
        XCTAssertEqual(CIDRv4("224.0.0.0/24")!.specialPurposeOverlap, "224.0.0.0/4 (multicast)")
    }

    func testLongNameMessageNamesTheLimit() {
        XCTAssertThrowsError(try Validate.name(String(repeating: "a", count: 300))) { e in
            XCTAssertEqual("\(e)", "invalid --name \"aaaaaaaaaaaaaaaaaaaa...\": names are at most 128 characters long (this one has 300)")
        }
        XCTAssertNoThrow(try Validate.name(String(repeating: "a", count: 128)))
    }

    func testExecFailuresAreDockersMessages() {
        let empty = ShimProcess.childError("exec\t2\t")
        XCTAssertEqual(empty.message, "exec: \"\": executable file not found in $PATH")
        XCTAssertEqual(empty.exitCode, 127)
        let image = ShimProcess.childError("exec\t2\talpine")
        XCTAssertTrue(image.message.hasPrefix("exec: \"alpine\": executable file not found in $PATH (hutch runs the host's commands, not images"))
        XCTAssertEqual(image.exitCode, 127)
        XCTAssertEqual(ShimProcess.childError("exec\t2\t/no/such").message, "exec failed: /no/such: no such file or directory")
        XCTAssertEqual(ShimProcess.childError("exec\t13\t/etc").exitCode, 126)
    }

    func testHelpTakesABooleanValue() throws {
        guard case .print(let t) = try CLITests.parser.parse(["run", "--help=true"]) else { return XCTFail("no help") }
        XCTAssertTrue(t.contains("USAGE"))
        guard case .print = try CLITests.parser.parse(["pod", "--help=1"]) else { return XCTFail("no help") }
        let (c, v) = try CLITests.parse(["run", "--help=false", "-d", "--", "true"])
        XCTAssertEqual(c, "run")
        XCTAssertEqual(v.all(CLITests.command), ["true"])
        XCTAssertThrowsError(try CLITests.parser.parse(["run", "--help=maybe"])) { e in
            XCTAssertTrue("\(e)".hasPrefix("invalid value \"maybe\" for --help"), "\(e)")
        }
    }

    func testPSNetworkColumnOfAPodMember() {
        var c = ContainerRecord(id: String(repeating: "a", count: 64), name: "app", command: ["sh"], hostname: "web", env: [],
                                workdir: "/", networkMode: "container:" + String(repeating: "b", count: 64), autoRemove: false,
                                detached: true, useInit: true, noNewPrivs: true, status: .running, shimPid: 0, shimStart: 0,
                                pid: 0, pidStart: 0, createdAt: "", bootId: "", pod: "p1")
        XCTAssertEqual(Table.network(c, podName: "web"), "pod:web")
        c.pod = nil
        c.networkMode = "container:db"
        XCTAssertEqual(Table.network(c, podName: nil), "container:db")
    }
}

/// connect/disconnect/rename/wait on Runtime, with the recording fakes of RuntimeStepTests.
extension RuntimeStepTests {
    func makeNetwork(_ rt: Runtime, _ name: String, _ subnet: String) throws {
        var o = NetworkOptions(name: name)
        o.subnet = CIDRv4(subnet)!
        _ = try rt.createNetwork(try o.validated())
    }

    func detachedOptions(_ name: String, net: String) throws -> Validated<RunOptions> {
        var o = RunOptions()
        o.name = name; o.command = ["sleep"]; o.detach = true; o.network = .bridge(net)
        return try o.validated()
    }

    func testConnectAndDisconnectSteps() throws {
        let rt = try runtime()
        try makeNetwork(rt, "front", "10.94.0.0/24")
        try makeNetwork(rt, "back", "10.95.0.0/24")
        XCTAssertEqual(try rt.run(try detachedOptions("app", net: "front")), 0)
        log.clear()
        XCTAssertTrue(try rt.connect(network: "back", container: "app", ip: nil, aliases: ["api"]))
        let j = try XCTUnwrap(try rt.joinedNetworks(try rt.container("app")).first)
        XCTAssertEqual(log.all, ["ensure-bridge \(try rt.network("back").bridge)", "connect \(j.hostVeth) eth1 10.95.0.2"])
        XCTAssertEqual(j.aliases, ["api"])
        // Again: nothing to do. A different address: an error, nothing done.
        log.clear()
        XCTAssertFalse(try rt.connect(network: "back", container: "app", ip: nil, aliases: []))
        XCTAssertThrowsError(try rt.connect(network: "back", container: "app", ip: IPv4Address("10.95.0.9"), aliases: []))
        XCTAssertEqual(log.all, [])
        XCTAssertEqual(try rt.attached(to: "back").map(\.name), ["app"])
        XCTAssertEqual(try rt.attached(to: "back").first?.ipAddress, IPv4Address("10.95.0.2"))

        XCTAssertTrue(try rt.disconnect(network: "back", container: "app"))
        XCTAssertEqual(log.all, ["detach \(j.hostVeth)"])
        XCTAssertFalse(try rt.disconnect(network: "back", container: "app"))
        XCTAssertEqual(try rt.store.read { try IPAM_leases($0, "back") }, [])
        XCTAssertThrowsError(try rt.disconnect(network: "front", container: "app")) {
            XCTAssertTrue("\($0)".contains("is the network container app was started on"))
        }
    }

    func testConnectUndoesItselfOnFailure() throws {
        let rt = try runtime()
        try makeNetwork(rt, "front", "10.94.0.0/24")
        try makeNetwork(rt, "back", "10.95.0.0/24")
        XCTAssertEqual(try rt.run(try detachedOptions("app", net: "front")), 0)
        log.clear()
        log.failAt = ["connect"]
        XCTAssertThrowsError(try rt.connect(network: "back", container: "app", ip: nil, aliases: []))
        XCTAssertEqual(try rt.store.read { try IPAM_leases($0, "back") }, [])
        XCTAssertEqual(try rt.joinedNetworks(try rt.container("app")), [])
        log.failAt = []
        // A later connect works and gets the address back.
        XCTAssertTrue(try rt.connect(network: "back", container: "app", ip: nil, aliases: []))
    }

    func testExitOfAConnectedContainerRemovesItsInterfaces() throws {
        let rt = try runtime()
        try makeNetwork(rt, "front", "10.94.0.0/24")
        try makeNetwork(rt, "back", "10.95.0.0/24")
        XCTAssertEqual(try rt.run(try detachedOptions("app", net: "front")), 0)
        XCTAssertTrue(try rt.connect(network: "back", container: "app", ip: nil, aliases: []))
        let j = try XCTUnwrap(try rt.joinedNetworks(try rt.container("app")).first)
        log.clear()
        _ = try rt.remove("app", force: true)
        XCTAssertTrue(log.all.contains("detach-later \(j.hostVeth)"), "\(log.all)")
        XCTAssertEqual(try rt.store.read { try AttachmentRecord.all(in: $0) }, [])
        XCTAssertEqual(try rt.store.read { try Store.resourceOwners(in: $0) }, [])
    }

    func testRename() throws {
        // Names that are no id prefix ("a" would find a container whose random id starts with a).
        let rt = try runtime()
        XCTAssertEqual(try rt.run(try detachedOptions("old", net: "bridge")), 0)
        XCTAssertEqual(try rt.run(try detachedOptions("other", net: "bridge")), 0)
        let id = try rt.container("old").id
        try rt.rename("old", to: "new")
        XCTAssertEqual(try rt.container("new").id, id)
        XCTAssertNil(try rt.findContainer("old"))
        XCTAssertThrowsError(try rt.rename("new", to: "other")) { XCTAssertTrue("\($0)".contains("already in use")) }
        XCTAssertThrowsError(try rt.rename("new", to: "bad name")) { XCTAssertTrue("\($0)".contains("bad name")) }
        XCTAssertTrue(Sys.readFile(rt.containerDir(id) + "/hosts")?.contains(" new\n") ?? false)
    }

    /// The exit status of a removed (--rm) container is kept for `wait`, and expires.
    func testExitStatusOutlivesTheRecord() throws {
        let rt = try runtime()
        var o = RunOptions()
        o.name = "x"; o.command = ["sh"]; o.detach = true; o.autoRemove = true
        XCTAssertEqual(try rt.run(try o.validated()), 0)
        let c = try rt.container("x")
        try rt.cleanup(c.id, exitCode: 3)
        XCTAssertNil(try rt.findContainer("x"))
        XCTAssertEqual(try rt.waitExited(c).exitCode, 3)
        XCTAssertEqual(try rt.waitStatus("x"), 3)
        XCTAssertThrowsError(try rt.waitStatus("y"))
        // Expired ones go (gc, and every new exit).
        try rt.store.write { try $0.execute(sql: "UPDATE exits SET at = at - 1000") }
        XCTAssertThrowsError(try rt.waitStatus("x"))
        XCTAssertTrue(try rt.gc().cleaned.contains { $0.contains("expired exit status") })
    }
}

private func IPAM_leases(_ db: Database, _ network: String) throws -> [String] {
    try db.strings(sql: "SELECT ip FROM leases WHERE network = ?", arguments: [network])
}
