import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

final class AddressTests: XCTestCase {
    func testIPv4Parsing() {
        XCTAssertEqual(IPv4Address("10.87.0.1")?.description, "10.87.0.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-1", "a.b.c.d", " 1.2.3.4", "1..2.3"] {
            XCTAssertNil(IPv4Address(bad), bad)
        }
        XCTAssertEqual(IPv4Address("10.87.0.2")?.derivedMAC, "02:42:0a:57:00:02")
    }

    func testCIDR() throws {
        let c = try XCTUnwrap(CIDRv4("10.87.0.1/16"))
        XCTAssertEqual(c.network.description, "10.87.0.0")
        XCTAssertEqual(c.broadcast.description, "10.87.255.255")
        XCTAssertEqual(c.subnet.description, "10.87.0.0/16")
        XCTAssertTrue(c.contains(IPv4Address("10.87.3.4")!))
        XCTAssertFalse(c.contains(IPv4Address("10.88.0.1")!))
        XCTAssertTrue(c.overlaps(CIDRv4("10.0.0.0/8")!))
        XCTAssertTrue(c.overlaps(CIDRv4("10.87.5.0/24")!))
        XCTAssertFalse(c.overlaps(CIDRv4("10.88.0.0/16")!))
        XCTAssertTrue(CIDRv4("0.0.0.0/0")!.overlaps(c))
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/8", "10.0.0.0/08", "x/8"] {
            XCTAssertNil(CIDRv4(bad), bad)
        }
    }
}

final class ValidateTests: XCTestCase {
    func testNames() {
        for good in ["web", "a", "db-1", "x_y.z", "A9"] { XCTAssertTrue(Validate.isName(good), good) }
        for bad in ["", "-web", ".x", "_x", "a b", "a/b", "é", "a:b"] { XCTAssertFalse(Validate.isName(bad), bad) }
    }

    func testHostnames() {
        for good in ["box1", "a.b.c", "x-y", String(repeating: "a", count: 63)] { XCTAssertTrue(Validate.isHostname(good), good) }
        for bad in ["", "-a", "a-", "a..b", "a_b", String(repeating: "a", count: 64), "a b"] {
            XCTAssertFalse(Validate.isHostname(bad), bad)
        }
    }

    func testEnvironment() throws {
        let env = try Runtime.environment(["A=1", "PATH=/x", "EMPTY="])
        XCTAssertTrue(env.contains("A=1"))
        XCTAssertTrue(env.contains("PATH=/x"))
        XCTAssertFalse(env.contains("PATH=\(Runtime.defaultPath)"))
        XCTAssertTrue(env.contains("EMPTY="))
        let merged = try Runtime.environment(["PATH=/y", "NEW=1"], base: ["PATH=/x", "HOSTNAME=h", "E="])
        XCTAssertEqual(merged, ["HOSTNAME=h", "E=", "PATH=/y", "NEW=1"])
        for bad in ["=x", "A B=1", "1A=2", ""] {
            XCTAssertThrowsError(try Runtime.environment([bad]), bad)
        }
    }

    func testNetworkModes() throws {
        XCTAssertEqual(try NetworkMode(parsing: "bridge"), .bridge("bridge"))
        XCTAssertEqual(try NetworkMode(parsing: "host"), .host)
        XCTAssertEqual(try NetworkMode(parsing: "none"), .none)
        XCTAssertEqual(try NetworkMode(parsing: "container:web"), .container("web"))
        XCTAssertEqual(try NetworkMode(parsing: "mynet"), .bridge("mynet"))
        XCTAssertThrowsError(try NetworkMode(parsing: "container:"))
        XCTAssertThrowsError(try NetworkMode(parsing: "bad name"))
    }

    func testSignals() {
        XCTAssertEqual(Signals.parse("TERM"), 15)
        XCTAssertEqual(Signals.parse("sigkill"), 9)
        XCTAssertEqual(Signals.parse("SIGHUP"), 1)
        XCTAssertEqual(Signals.parse("10"), 10)
        XCTAssertNil(Signals.parse("0"))
        XCTAssertNil(Signals.parse("NOPE"))
    }
}

final class EtcFilesTests: XCTestCase {
    func testHosts() {
        let h = HostsFile(hostname: "box1", name: "web", address: IPv4Address("10.87.0.2"), gateway: IPv4Address("10.87.0.1"))
        XCTAssertEqual(h.rendered, """
            127.0.0.1\tlocalhost
            ::1\tlocalhost ip6-localhost ip6-loopback
            10.87.0.2\tbox1 web
            10.87.0.1\thost.hutch.internal

            """)
        let none = HostsFile(hostname: "web", name: "web", address: nil, gateway: nil)
        XCTAssertTrue(none.rendered.contains("127.0.1.1\tweb\n"))
        XCTAssertFalse(none.rendered.contains("host.hutch.internal"))
    }

    func testResolvConfDropsLoopbackNameservers() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\nsearch example.org\noptions edns0"
        XCTAssertEqual(ResolvConf.forContainer(host: host),
                       "# generated\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n")
    }
}

final class TableTests: XCTestCase {
    func testDurations() {
        XCTAssertEqual(Table.humanDuration(0), "Less than a second")
        XCTAssertEqual(Table.humanDuration(5), "5 seconds")
        XCTAssertEqual(Table.humanDuration(90), "About a minute")
        XCTAssertEqual(Table.humanDuration(600), "10 minutes")
        XCTAssertEqual(Table.humanDuration(3 * 86400), "3 days")
    }

    func testRender() {
        XCTAssertEqual(Table.render([["A", "BB"], ["CCC", "D"]]), "A     BB\nCCC   D")
    }

    func testTimestamps() {
        let now = Sys.now()
        XCTAssertEqual(now.count, 30)
        XCTAssertTrue(now.hasSuffix("Z"))
        XCTAssertEqual(Sys.epochSeconds(ofRFC3339: "1970-01-02T00:00:00.000000000Z"), 86400)
    }

    func testRandomID() {
        let a = Sys.randomID(), b = Sys.randomID()
        XCTAssertEqual(a.count, 64)
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(a.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }
}

final class CapabilityTests: XCTestCase {
    func testMasks() throws {
        XCTAssertEqual(try Capabilities.mask(add: [], drop: []), 0xa80425fb)
        XCTAssertEqual(try Capabilities.mask(add: ["NET_ADMIN"], drop: ["ALL"]), 1 << 12)
        XCTAssertEqual(try Capabilities.mask(add: ["cap_sys_admin"], drop: []), 0xa80425fb | (1 << 21))
        XCTAssertEqual(try Capabilities.mask(add: [], drop: ["NET_RAW"]), 0xa80425fb & ~UInt64(1 << 13))
        XCTAssertEqual(Capabilities.bits("CHECKPOINT_RESTORE"), 1 << 40)
        XCTAssertThrowsError(try Capabilities.mask(add: ["NOPE"], drop: []))
        XCTAssertThrowsError(try Capabilities.mask(add: [], drop: ["CAP_"]))
    }
}

final class NameResolutionTests: XCTestCase {
    func testHostsWithPeersAndAliases() {
        var h = HostsFile(hostname: "abc123", name: "web", address: IPv4Address("10.90.0.3"), gateway: IPv4Address("10.90.0.1"))
        h.aliases = ["www"]
        h.peers = [(IPv4Address("10.90.0.9")!, ["db", "database"]), (IPv4Address("10.90.0.2")!, ["cache"])]
        XCTAssertEqual(h.rendered, """
            127.0.0.1\tlocalhost
            ::1\tlocalhost ip6-localhost ip6-loopback
            10.90.0.3\tabc123 web www
            10.90.0.1\thost.hutch.internal
            10.90.0.2\tcache
            10.90.0.9\tdb database

            """)
    }

    func testRewriteKeepsInodeWithoutPadding() throws {
        let path = "/tmp/hutch-hosts-\(Sys.randomID().prefix(8))"
        try Sys.writeFile(path, "old\n")
        defer { unlink(path) }
        var before = stat(); stat(path, &before)
        var h = HostsFile(hostname: "x", name: "x", address: IPv4Address("10.90.0.2"), gateway: nil)
        h.peers = [(IPv4Address("10.90.0.3")!, ["a-rather-long-peer-name", "and-its-alias"])]
        h.rewrite(at: path)
        var after = stat(); stat(path, &after)
        XCTAssertEqual(before.st_ino, after.st_ino)
        XCTAssertEqual(Sys.readFile(path), h.rendered)
        // Shrinking: exactly the new text again, same inode.
        h.peers = []
        h.rewrite(at: path)
        stat(path, &after)
        XCTAssertEqual(before.st_ino, after.st_ino)
        XCTAssertEqual(Sys.readFile(path), h.rendered)
    }

    /// Every intermediate state of an in-place rewrite resolves as the old or the new file: the
    /// lines that are not comments are exactly the old or the new ones.
    func testInPlaceWritesNeverShowAHalfFile() {
        func lines(_ b: [UInt8]) -> [String] {
            String(decoding: b, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        }
        let cases: [(String, String)] = [("a\tone\n", "b\ttwo three\nc\tfour\n"), ("b\ttwo three\nc\tfour\n", "a\tone\n"),
                                         ("x\ty\n", "p\tq\n"), ("no-newline", "a\tb\n"), ("", "a\tb\n")]
        for (old, new) in cases {
            var file = Array(old.utf8)
            let plan = HostsFile.inPlaceWrites(oldSize: file.count, oldEndsWithNewline: file.last == 10 || file.isEmpty,
                                               text: Array(new.utf8))
            func check() {
                let l = lines(file)
                XCTAssertTrue(l == lines(Array(old.utf8)) || l == lines(Array(new.utf8)), "\(old.debugDescription) -> \(new.debugDescription): \(l)")
            }
            for (offset, bytes) in plan.writes {
                if file.count < offset + bytes.count { file += [UInt8](repeating: 0, count: offset + bytes.count - file.count) }
                file.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
                check()
            }
            if let n = plan.truncate { file = Array(file.prefix(n)); check() }
            XCTAssertEqual(String(decoding: file, as: UTF8.self), new)
        }
    }

    /// The check `service create` makes before appending its line: whole lines only.
    func testHostsContainsWholeLinesOnly() {
        let text = Array("127.0.0.1\tlocalhost\n10.96.0.10\tweb web.default.svc.cluster.local\n10.96.0.1\tapi\n".utf8)
        XCTAssertTrue(HostsFile.contains(line: Array("10.96.0.1\tapi\n".utf8), in: text))
        XCTAssertTrue(HostsFile.contains(line: Array("127.0.0.1\tlocalhost\n".utf8), in: text))
        XCTAssertFalse(HostsFile.contains(line: Array("10.96.0.1\tweb\n".utf8), in: text))   // a prefix of another line
        XCTAssertFalse(HostsFile.contains(line: Array("0.0.1\tlocalhost\n".utf8), in: text)) // inside a line
        XCTAssertFalse(HostsFile.contains(line: Array("10.96.0.1\tapi\n".utf8), in: Array("10.96.0.1\tapi".utf8)))
        XCTAssertFalse(HostsFile.contains(line: [], in: text))
    }

    func testSubnetPoolAvoidsDefaultsAndIsOrdered() {
        let pool = Runtime.subnetPool()
        XCTAssertEqual(pool.first?.description, "10.90.0.0/24")
        XCTAssertFalse(pool.contains { $0.overlaps(CIDRv4("10.87.0.0/16")!) || $0.overlaps(CIDRv4("10.88.0.0/16")!) })
    }
}
