import XCTest
import CSQLite
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

final class StoreTests: XCTestCase {
    var root = ""
    var store: Store!

    override func setUpWithError() throws {
        var template = Array("/tmp/hutch-unit-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        root = String(cString: try XCTUnwrap(p))
        store = try Store(root: root)
    }

    override func tearDown() { Sys.removeTree(root) }

    func record(_ id: String, name: String) -> ContainerRecord {
        ContainerRecord(id: id, name: name, command: ["true"], hostname: "h", env: [], workdir: "/", networkMode: "bridge",
                        network: "bridge", ipAddress: nil, macAddress: nil, hostVeth: nil, joinedId: nil, autoRemove: false,
                        detached: false, useInit: true, capMask: nil, noNewPrivs: true, status: .created, shimPid: 0,
                        shimStart: 0, pid: 0, pidStart: 0, exitCode: nil, createdAt: Sys.now(), startedAt: nil,
                        finishedAt: nil, bootId: Sys.bootID)
    }

    func testDefaultNetworkAndSequentialAllocation() throws {
        let ips = try store.write { db -> [String] in
            let n = try XCTUnwrap(try Store.network("bridge", in: db))
            XCTAssertEqual(n.bridge, "hutch0")
            XCTAssertEqual(n.subnet.description, "10.87.0.0/16")
            var out: [String] = []
            for i in 0..<3 {
                let cur = try XCTUnwrap(try Store.network("bridge", in: db))
                out.append(try IPAM.allocate(in: db, network: cur, owner: "c\(i)").description)
            }
            return out
        }
        XCTAssertEqual(ips, ["10.87.0.2", "10.87.0.3", "10.87.0.4"])
    }

    func testReleasedAddressIsNotReusedAtOnce() throws {
        try store.write { db in
            let n = try XCTUnwrap(try Store.network("bridge", in: db))
            _ = try IPAM.allocate(in: db, network: n, owner: "a")
            try IPAM.release(in: db, owner: "a")
            let again = try XCTUnwrap(try Store.network("bridge", in: db))
            XCTAssertEqual(try IPAM.allocate(in: db, network: again, owner: "b").description, "10.87.0.3")
        }
    }

    /// Allocation looks candidates up one by one; in a crowded run of leases it reads them all once
    /// instead, and still finds the first free address after the last one handed out.
    func testAllocationPastACrowdedRun() throws {
        try store.write { db in
            var n = try XCTUnwrap(try Store.network("bridge", in: db))
            for i in 0..<100 { _ = try IPAM.allocate(in: db, network: n, owner: "o\(i)") }
            n.lastIP = nil  // start over from the beginning: 10.87.0.2 ... 10.87.0.101 are taken
            XCTAssertEqual(try IPAM.allocate(in: db, network: n, owner: "late").description, "10.87.0.102")
            _ = try IPAM.release(in: db, owner: "o50")
            XCTAssertEqual(try IPAM.allocate(in: db, network: n, owner: "gap").description, "10.87.0.52")
        }
    }

    func testFullSubnetAndStaticErrors() throws {
        let tiny = CIDRv4("10.9.0.0/30")!
        let gw = IPv4Address("10.9.0.1")!
        // /30: .1 is the gateway, .2 the only host address.
        XCTAssertEqual(IPAM.nextFree(subnet: tiny, gateway: gw, after: nil, isTaken: { _ in false })?.description, "10.9.0.2")
        XCTAssertNil(IPAM.nextFree(subnet: tiny, gateway: gw, after: nil, isTaken: { $0.description == "10.9.0.2" }))
        // Wraps around past the end.
        XCTAssertEqual(IPAM.nextFree(subnet: CIDRv4("10.9.0.0/29")!, gateway: gw, after: IPv4Address("10.9.0.6"),
                                     isTaken: { _ in false })?.description, "10.9.0.2")
        try store.write { db in
            let n = try XCTUnwrap(try Store.network("bridge", in: db))
            for bad in ["10.87.0.0", "10.87.0.1", "10.87.255.255", "10.88.0.5"] {
                XCTAssertThrowsError(try IPAM.allocate(in: db, network: n, owner: "x", requested: IPv4Address(bad)!), bad)
            }
            _ = try IPAM.allocate(in: db, network: n, owner: "x", requested: IPv4Address("10.87.9.9")!)
            XCTAssertThrowsError(try IPAM.allocate(in: db, network: n, owner: "y", requested: IPv4Address("10.87.9.9")!))
        }
    }

    func testFindByNameIdAndPrefix() throws {
        let a = "abc" + String(repeating: "0", count: 61), b = "abd" + String(repeating: "1", count: 61)
        try store.write { db in
            try record(a, name: "web").insert(db)
            try record(b, name: "db").insert(db)
        }
        XCTAssertEqual(try store.findContainer("web")?.id, a)
        XCTAssertEqual(try store.findContainer(a)?.name, "web")
        XCTAssertEqual(try store.findContainer("abd")?.name, "db")
        XCTAssertThrowsError(try store.findContainer("ab"))
        XCTAssertNil(try store.findContainer("nope"))
        XCTAssertThrowsError(try store.container("nope")) { e in
            XCTAssertEqual((e as? HutchError)?.message, "no such container: nope")
        }
    }

    func testNamesAreUnique() throws {
        try store.write { try record(Sys.randomID(), name: "web").insert($0) }
        XCTAssertThrowsError(try store.write { try record(Sys.randomID(), name: "web").insert($0) })
    }

    func testConcurrentAllocationsAcrossConnectionsNeverCollide() throws {
        // Separate Store instances = separate SQLite connections, as separate hutch processes have.
        let stores = try (0..<4).map { _ in try Store(root: root) }
        final class Box: @unchecked Sendable { let lock = NSLock(); var all: [String] = [] }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            let s = stores[i % stores.count]
            let ip = try? s.write { db -> String in
                let n = try Store.network("bridge", in: db)!
                return try IPAM.allocate(in: db, network: n, owner: "c\(i)").description
            }
            box.lock.lock(); if let ip { box.all.append(ip) }; box.lock.unlock()
        }
        XCTAssertEqual(box.all.count, 40)
        XCTAssertEqual(Set(box.all).count, 40)
    }

    func testInspectJSONShape() throws {
        var r = record(Sys.randomID(), name: "web")
        r.status = .running; r.pid = 42; r.ipAddress = IPv4Address("10.87.0.2"); r.macAddress = "02:42:0a:57:00:02"
        let json = ContainerJSON.render([ContainerJSON(r, network: Store.defaultNetwork, ports: try PublishSpec.parse("8080:80").mappings, logPath: "/x")])
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]).first!
        XCTAssertEqual(obj["Id"] as? String, r.id)
        XCTAssertEqual(obj["Name"] as? String, "web")
        let state = try XCTUnwrap(obj["State"] as? [String: Any])
        XCTAssertEqual(state["Status"] as? String, "running")
        XCTAssertEqual(state["Running"] as? Bool, true)
        XCTAssertEqual(state["Pid"] as? Int, 42)
        let ns = try XCTUnwrap(obj["NetworkSettings"] as? [String: Any])
        XCTAssertEqual(ns["IPAddress"] as? String, "10.87.0.2")
        XCTAssertEqual(ns["Gateway"] as? String, "10.87.0.1")
        XCTAssertEqual(ns["MacAddress"] as? String, "02:42:0a:57:00:02")
        XCTAssertEqual(ns["SandboxKey"] as? String, "/proc/42/ns/net")
        let ports = try XCTUnwrap(ns["Ports"] as? [String: Any])
        XCTAssertEqual(ports["80/tcp"] as? [[String: String]], [["HostIp": "0.0.0.0", "HostPort": "8080"]])
        XCTAssertEqual((obj["HostConfig"] as? [String: Any])?["NetworkMode"] as? String, "bridge")
        XCTAssertEqual((obj["Config"] as? [String: Any])?["Cmd"] as? [String], ["true"])
    }

    func testRecordsSurviveReopenAndTheWALFilesStay() throws {
        // Start from an empty WAL: creating the schema may have filled it past the automatic
        // checkpoint (wal_autocheckpoint), which the one insert below must not reach.
        XCTAssertEqual(sqlite3_wal_checkpoint_v2(store.db.handle, nil, SQLITE_CHECKPOINT_TRUNCATE, nil, nil), SQLITE_OK)
        var r = record(Sys.randomID(), name: "web")
        r.command = ["sh", "-c", "echo \"/x\""]; r.env = ["A=1", "PATH=/bin"]; r.aliases = ["db"]; r.exitCode = 3
        r.shimStart = UInt64.max; r.pod = "p"; r.capMask = "ff"
        try store.write { try r.insert($0) }
        store = nil
        // Closing does not checkpoint the WAL into the database (two fdatasyncs per command): the
        // database file alone, read as immutable (WAL ignored), does not have the record yet.
        var raw: OpaquePointer?
        XCTAssertEqual(sqlite3_open_v2("file:\(root)/hutch.db?immutable=1", &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil), SQLITE_OK)
        var stmt: OpaquePointer?
        let prepared = sqlite3_prepare_v2(raw, "SELECT COUNT(*) FROM containers", -1, &stmt, nil)
        let inFile = prepared == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0
        sqlite3_finalize(stmt)
        sqlite3_close(raw)
        XCTAssertEqual(inFile, 0, "the close checkpointed the WAL into the database file")
        XCTAssertEqual(access(root + "/hutch.db-wal", F_OK), 0)
        let again = try Store(root: root)
        XCTAssertEqual(try again.container("web"), r)
        XCTAssertEqual(try again.read { try $0.int(sql: "PRAGMA user_version") }, Store.schemaVersion)
        XCTAssertEqual(try again.read { try $0.strings(sql: "PRAGMA journal_mode") }, ["wal"])
    }
}
