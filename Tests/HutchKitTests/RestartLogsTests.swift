import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState

/// Issue 14 §3 without root: --restart parsing, the log's framing as `hutch logs` reads it,
/// --tail/--since/--until, the record's new fields in the store, the shim's restart arguments,
/// and how `ps`/`inspect` show a container waiting to restart.
final class RestartLogsTests: XCTestCase {
    // MARK: --restart

    func testRestartPolicies() throws {
        XCTAssertEqual(try RestartPolicy(parsing: "no"), .no)
        XCTAssertEqual(try RestartPolicy(parsing: "always"), RestartPolicy(.always))
        XCTAssertEqual(try RestartPolicy(parsing: "unless-stopped"), RestartPolicy(.unlessStopped))
        XCTAssertEqual(try RestartPolicy(parsing: "on-failure"), RestartPolicy(.onFailure))
        XCTAssertEqual(try RestartPolicy(parsing: "on-failure:3"), RestartPolicy(.onFailure, maximumRetryCount: 3))
        XCTAssertEqual(try RestartPolicy(parsing: "on-failure:3").description, "on-failure:3")
        XCTAssertEqual(try RestartPolicy(parsing: "on-failure:0").description, "on-failure")
        XCTAssertEqual(RestartPolicy(.onFailure, maximumRetryCount: 2).json.render(),
                       #"{"MaximumRetryCount":2,"Name":"on-failure"}"#)
    }

    func testBadRestartPolicies() {
        func message(_ s: String) -> String {
            do { _ = try RestartPolicy(parsing: s); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(message("foo"), "invalid --restart \"foo\": use no, on-failure[:MAX-RETRIES], always or unless-stopped")
        XCTAssertEqual(message("on-failure:x"), "invalid --restart \"on-failure:x\": the maximum retry count must be a number from 0 (no maximum) up")
        XCTAssertEqual(message("on-failure:-1"), "invalid --restart \"on-failure:-1\": the maximum retry count must be a number from 0 (no maximum) up")
        XCTAssertEqual(message("on-failure:"), "invalid --restart \"on-failure:\": the maximum retry count must be a number from 0 (no maximum) up")
        XCTAssertEqual(message("always:2"), "invalid --restart \"always:2\": only on-failure takes a maximum retry count")
        XCTAssertEqual(message(""), "invalid --restart \"\": use no, on-failure[:MAX-RETRIES], always or unless-stopped")
    }

    func testRestartNeedsDetachAndNoRm() {
        var o = RunOptions()
        o.command = ["true"]
        o.restart = RestartPolicy(.always)
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("needs -d")) }
        o.detach = true
        XCTAssertNoThrow(try o.validate())
        o.autoRemove = true
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".contains("--rm")) }
    }

    func testShimArgumentsCarryThePolicy() {
        var spec = ShimRunSpec()
        spec.command = ["sh"]
        spec.restart = "on-failure:2"
        spec.stopFile = "/r/c/stopped"
        spec.restartCommand = ["hutch", "shim-event", "ID"]
        XCTAssertEqual(spec.arguments, ["run", "--netns", "new", "--workdir", "/", "--restart", "on-failure:2",
                                        "--stop-file", "/r/c/stopped", "--restart-cmd", "hutch", "--restart-cmd", "shim-event",
                                        "--restart-cmd", "ID", "--", "sh"])
        spec.restart = "no"
        XCTAssertEqual(spec.arguments, ["run", "--netns", "new", "--workdir", "/", "--", "sh"])
    }

    // MARK: the log

    func bytes(_ s: String) -> ArraySlice<UInt8> { Array(s.utf8)[...] }

    func testLogEntriesKeepStreamsAndJoinPieces() {
        var r = LogReader()
        let log = """
        2026-12-07T10:00:00.000000001Z stdout F one
        2026-12-07T10:00:00.000000002Z stderr P err-
        2026-12-07T10:00:00.000000003Z stdout P tw
        2026-12-07T10:00:00.000000004Z stdout F o
        2026-12-07T10:00:00.000000005Z stderr F line
        2026-12-07T10:00:00.000000006Z stdout F\u{20}
        not a log line
        2026-12-07T10:00:00.000000007Z stdout P tail

        """
        // Fed in two pieces cut in the middle of a line.
        let cut = log.utf8.count / 2
        var entries = r.feed(bytes(String(log.prefix(cut))))
        entries += r.feed(bytes(String(log.dropFirst(cut))))
        entries += r.finish()
        XCTAssertEqual(entries.map { "\($0.stream.rawValue):\(String(decoding: $0.text, as: UTF8.self))" },
                       ["stdout:one\n", "stdout:two\n", "stderr:err-line\n", "stdout:\n", "stdout:tail"])
        XCTAssertEqual(entries[1].time, "2026-12-07T10:00:00.000000003Z", "a joined line has its first piece's time")
        XCTAssertEqual(entries[0].nanos, 1_796_637_600_000_000_001)
    }

    func testTailAndTimeWindow() {
        let e = (1...5).map { LogEntry(time: "t\($0)", nanos: Int64($0), stream: .stdout, text: Array("\($0)\n".utf8)) }
        XCTAssertEqual(LogFilter(tail: 2).apply(e).map(\.nanos), [4, 5])
        XCTAssertEqual(LogFilter(tail: 0).apply(e).map(\.nanos), [])
        XCTAssertEqual(LogFilter(since: 2, until: 4).apply(e).map(\.nanos), [2, 3, 4])
        XCTAssertEqual(LogFilter(tail: 2, since: 5).apply(e).map(\.nanos), [5])
        XCTAssertEqual(try LogFilter.tail(parsing: "all"), nil)
        XCTAssertEqual(try LogFilter.tail(parsing: "7"), 7)
        for bad in ["abc", "-1", "", "+3", "1.5"] {
            XCTAssertThrowsError(try LogFilter.tail(parsing: bad), bad)
        }
    }

    func testLogTimes() throws {
        let now: Int64 = 1_796_637_600_000_000_000 // 2026-12-07T10:00:00Z
        func t(_ s: String) throws -> Int64 { try LogTime.parse(s, now: now, flag: "--since") }
        XCTAssertEqual(try t("2026-12-07T10:00:00Z"), now)
        XCTAssertEqual(try t("2026-12-07T10:00:00.5Z"), now + 500_000_000)
        XCTAssertEqual(try t("2026-12-07T10:00:00.123456789Z"), now + 123_456_789)
        XCTAssertEqual(try t("2026-12-07T11:00:00+01:00"), now)
        XCTAssertEqual(try t("2026-12-07T09:30:00-00:30"), now)
        XCTAssertEqual(try t("2026-12-07T10:00"), now)
        XCTAssertEqual(try t("2026-12-07"), now - 10 * 3600 * 1_000_000_000)
        XCTAssertEqual(try t("1796637600"), now)
        XCTAssertEqual(try t("1796637600.25"), now + 250_000_000)
        XCTAssertEqual(try t("10m"), now - 600_000_000_000)
        XCTAssertEqual(try t("1h30m"), now - 5400_000_000_000)
        XCTAssertEqual(try t("1.5h"), now - 5400_000_000_000)
        XCTAssertEqual(try t("250ms"), now - 250_000_000)
        XCTAssertEqual(LogTime.rfc3339("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(LogTime.rfc3339("2000-02-29T00:00:00Z"), 951_782_400_000_000_000)
        for bad in ["yesterday", "10x", "2026-13-01", "2026-12-07T25:00:00Z", "2026-12-07T10:00:00+0100", "", "m", "1.2.3"] {
            XCTAssertThrowsError(try t(bad), bad) { XCTAssertTrue("\($0)".hasPrefix("invalid --since \"\(bad)\"")) }
        }
    }

    // MARK: the record, ps, inspect

    func testRecordKeepsPolicyPortsAndStdio() throws {
        var template = Array("/tmp/hutch-unit-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try XCTUnwrap(p))
        defer { Sys.removeTree(root) }
        let store = try Store(root: root)
        var r = ContainerRecord(id: String(repeating: "a", count: 64), name: "x", command: ["true"], hostname: "h", env: [],
                                workdir: "/", networkMode: "bridge", autoRemove: false, detached: true, useInit: true,
                                noNewPrivs: true, status: .running, shimPid: 1, shimStart: 2, pid: 3, pidStart: 4,
                                createdAt: Sys.now(), bootId: Sys.bootID)
        r.restartPolicy = RestartPolicy(.onFailure, maximumRetryCount: 5)
        r.restartCount = 2
        r.restarting = true
        r.tty = true
        r.published = [PortMapping(hostIP: nil, hostPort: 8080, containerPort: 80, proto: .tcp),
                       PortMapping(hostIP: IPv4Address("127.0.0.1"), hostPort: 5353, containerPort: 53, proto: .udp)]
        try store.write { try r.insert($0) }
        let back = try XCTUnwrap(store.findContainer("x"))
        XCTAssertEqual(back, r)
        XCTAssertEqual(r.published.map(\.stored), ["tcp/0.0.0.0/8080/80", "udp/127.0.0.1/5353/53"])
    }

    func testRestartingStatus() {
        var r = ContainerRecord(id: String(repeating: "b", count: 64), name: "y", command: ["true"], hostname: "h", env: [],
                                workdir: "/", networkMode: "none", autoRemove: false, detached: true, useInit: true,
                                noNewPrivs: true, status: .running, shimPid: 1, shimStart: 2, pid: 3, pidStart: 4,
                                exitCode: 1, createdAt: Sys.now(), finishedAt: Sys.now(), bootId: Sys.bootID)
        r.restarting = true
        r.restartCount = 3
        XCTAssertTrue(Table.status(r).hasPrefix("Restarting (1) "), Table.status(r))
        XCTAssertTrue(Table.status(r).hasSuffix(" ago"))
        let json = ContainerJSON(r, network: nil, ports: [], logPath: "/l").json.render()
        XCTAssertTrue(json.contains(#""Restarting":true"#) && json.contains(#""Status":"restarting""#), json)
        XCTAssertTrue(json.contains(#""RestartCount":3"#), json)
        XCTAssertTrue(json.contains(#""RestartPolicy":{"MaximumRetryCount":0,"Name":"no"}"#), json)
    }
}
