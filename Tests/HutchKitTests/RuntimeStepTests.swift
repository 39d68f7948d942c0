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

/// Runtime's steps and their undo, without root: a recording fake of the host's network and of
/// the shim (whose "processes" are plain `sleep`s this test starts and reaps). The store is real,
/// in a temporary folder.
final class RuntimeStepTests: XCTestCase {
    /// The calls, in order, shared by the fakes.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        /// The steps that throw (prefixes of the entries).
        var failAt: [String] = []
        func add(_ e: String) throws {
            lock.lock(); entries.append(e); lock.unlock()
            if failAt.contains(where: { e.hasPrefix($0 + " ") || e == $0 }) { throw HutchError("injected failure at \(e)") }
        }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return entries }
        func clear() { lock.lock(); entries = []; lock.unlock() }
    }

    struct RecordingHost: HostNetwork {
        let log: Log
        let firewall: FirewallKind
        func ensureBridge(_ n: BridgeNetwork) throws { try log.add("ensure-bridge \(n.bridge)") }
        func attach(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, address: IPv4Address) throws {
            try log.add("attach \(hostVeth) \(address)")
        }
        func connect(_ n: BridgeNetwork, containerPid: Int32, hostVeth: String, iface: String, address: IPv4Address) throws {
            try log.add("connect \(hostVeth) \(iface) \(address)")
        }
        func detach(hostVeth: String) throws { try log.add("detach \(hostVeth)") }
        func detachLater(hostVeth: String) throws { try log.add("detach-later \(hostVeth)") }
        func removeBridge(_ n: BridgeNetwork) throws { try log.add("remove-bridge \(n.bridge)") }
        func installRules(_ n: BridgeNetwork) throws { try log.add("install-rules \(n.name)") }
        func installClusterRules(_ c: ClusterRules) throws { try log.add("install-cluster-rules \(c.cidr) \(c.gateway)") }
        func removeRules(_ n: BridgeNetwork) throws { try log.add("remove-rules \(n.name) \(firewall)") }
        func removeAllRules() throws { try log.add("remove-all-rules \(firewall)") }
        func publish(_ ports: [PortForward]) throws { try log.add("publish " + Self.ports(ports)) }
        func unpublish(_ ports: [PortForward]) throws { try log.add("unpublish " + Self.ports(ports)) }
        func isPortFree(_ m: PortMapping) -> Bool { true }
        func linkExists(_ name: String) throws -> Bool { false }
        func routedSubnets() throws -> [CIDRv4] { [] }
        func links() throws -> [(name: String, master: Int32)] { [] }
        func linkIndex(_ name: String) -> Int32? { nil }
        func deleteLink(_ name: String) throws -> Bool { try log.add("delete-link \(name)"); return true }
        func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws {
            try log.add("services " + changes.map { "\($0.name):\($0.old?.endpoints.count ?? -1)->\($0.new?.endpoints.count ?? -1)" }.joined(separator: ","))
        }
        func replaceServices(_ all: [ServiceState]) throws { try log.add("replace-services \(all.count)") }
        func ensureServiceRoute(_ range: CIDRv4) throws { try log.add("service-route \(range)") }
        func removeServiceRoute(_ range: CIDRv4) throws { try log.add("no-service-route \(range)") }
        func serviceRouteExists(_ range: CIDRv4) throws -> Bool { false }
        static func ports(_ p: [PortForward]) -> String {
            p.map { "\($0.mapping.hostPort)->\($0.containerIP):\($0.mapping.containerPort)" }.joined(separator: ",")
        }
    }

    /// A child process that only sleeps: the fake shim's and container's pids are real processes,
    /// so liveness checks and kills behave as with a real shim.
    static func sleeper() -> pid_t {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("600"), nil]
        defer { for a in argv { free(a) } }
        XCTAssertEqual(posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, environ), 0)
        return pid
    }
    static func reap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var st: Int32 = 0
        _ = waitpid(pid, &st, 0)
    }

    final class FakeShim: RunningShim {
        let log: Log
        let pid: pid_t
        var child: pid_t = 0
        init(log: Log) throws {
            self.log = log
            try log.add("shim-start")
            pid = RuntimeStepTests.sleeper()
        }
        func readContainerPid() throws -> pid_t {
            try log.add("shim-read-pid")
            child = RuntimeStepTests.sleeper()
            return child
        }
        func release() throws { try log.add("shim-release") }
        func abort() { try? log.add("shim-abort"); finish() }
        func waitExit() -> Int32 { try? log.add("shim-wait"); finish(); return 0 }
        private var done = false
        func finish() {
            if child > 0 { RuntimeStepTests.reap(child); child = 0 }
            if !done { RuntimeStepTests.reap(pid); done = true }
        }
    }

    /// Keeps every started shim (a detached container's monitor outlives `run`); the test's
    /// tearDown reaps what is left.
    final class FakeShims: ShimLauncher, @unchecked Sendable {
        let log: Log
        private let lock = NSLock()
        private var started: [FakeShim] = []
        init(log: Log) { self.log = log }
        func start(_ spec: ShimRunSpec, detached: Bool, stdin: Bool, terminal: Bool) throws -> any RunningShim {
            let s = try FakeShim(log: log)
            lock.lock(); started.append(s); lock.unlock()
            return s
        }
        /// Kills a shim and its container, as a crash would.
        func crash(shimPid: pid_t) {
            lock.lock(); for s in started where s.pid == shimPid { s.finish() }; lock.unlock()
        }
        func reapAll() { lock.lock(); for s in started { s.finish() }; started = []; lock.unlock() }
    }

    var root = ""
    let log = Log()
    lazy var shims = FakeShims(log: log)

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "hutch-steps-" + Sys.randomID().prefix(8)
    }
    override func tearDown() {
        shims.reapAll()
        // The real cgroups its containers were given (Cgroups.create runs as root): a test's
        // leftovers would be another test's "vanished container" in gc's report.
        if let store = try? Store(root: root), let cs = try? store.containers() {
            for c in cs { _ = Cgroups.remove(c.sandbox.cgroups) }
        }
        Sys.removeTree(root)
    }

    /// `kind` nil: the backend recorded in the store (as without --firewall).
    func runtime(_ kind: FirewallKind? = nil) throws -> Runtime {
        let log = self.log
        return try Runtime(root: root, firewall: kind, host: { RecordingHost(log: log, firewall: $0) }, shims: shims)
    }

    func options(detach: Bool = false, publish: String? = "8080:80") throws -> Validated<RunOptions> {
        var o = RunOptions()
        o.name = "web"
        o.command = ["true"]
        o.detach = detach
        o.autoRemove = !detach
        if let p = publish { o.publish = [try PublishSpec.parse(p)] }
        return try o.validated()
    }

    /// Nothing of the container is left in the store or the state root.
    func assertNothingLeft(_ rt: Runtime, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try rt.containers(all: true).map(\.name), [], file: file, line: line)
        let leftovers = try rt.store.read { db in try Store.resourceOwners(in: db) }
        XCTAssertEqual(leftovers, [], "leases or ports still held", file: file, line: line)
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: root + "/containers")) ?? []
        XCTAssertEqual(folders, [], file: file, line: line)
    }

    func testForegroundRunStepOrder() throws {
        let rt = try runtime()
        XCTAssertEqual(try rt.run(try options()), 0)
        XCTAssertEqual(log.all, [
            "ensure-bridge hutch0", "shim-start", "shim-read-pid", "attach hv\(log.all.veth) 10.87.0.2",
            "publish 8080->10.87.0.2:80", "shim-release", "shim-wait",
            "unpublish 8080->10.87.0.2:80", "detach-later hv\(log.all.veth)",
        ])
        try assertNothingLeft(rt)
    }

    /// A failure at each step undoes every earlier one, newest first, and leaves nothing.
    func testUndoAfterAFailureAtEachStep() throws {
        let expectations: [(String, [String])] = [
            ("ensure-bridge", []),
            ("shim-start", []),
            ("shim-read-pid", ["shim-abort"]),
            ("attach", ["shim-abort"]),
            ("publish", ["detach VETH", "shim-abort"]),
            ("shim-release", ["shim-wait", "unpublish 8080->10.87.0.2:80", "detach VETH", "shim-abort"]),
        ]
        for (step, undo) in expectations {
            try setUpWithError()
            log.clear()
            log.failAt = [step]
            let rt = try runtime()
            XCTAssertThrowsError(try rt.run(try options()), "failing at \(step)") { e in
                XCTAssertTrue("\(e)".contains("injected failure at \(step)"), "\(e)")
            }
            log.failAt = []
            let all = log.all
            let failed = try XCTUnwrap(all.firstIndex { $0.hasPrefix(step) }, step)
            let veth = all.veth
            XCTAssertEqual(Array(all[(failed + 1)...]), undo.map { $0.replacingOccurrences(of: "VETH", with: "hv" + veth) },
                           "undo after a failure at \(step)")
            try assertNothingLeft(rt)
            tearDown()
        }
    }

    /// An undo step that fails is reported with the error that made the run undo itself.
    func testUndoFailuresAreReported() throws {
        let rt = try runtime()
        // The publish fails, and then the veth's deletion in the undo too: both in one line.
        log.failAt = ["publish", "detach"]
        XCTAssertThrowsError(try rt.run(try options())) { e in
            let veth = log.all.veth
            XCTAssertEqual("\(e)", "injected failure at publish 8080->10.87.0.2:80; undoing it also failed (hutch gc retries): "
                           + "delete veth hv\(veth): injected failure at detach hv\(veth)")
        }
    }

    func testRemoveForceStepOrder() throws {
        let rt = try runtime()
        XCTAssertEqual(try rt.run(try options(detach: true)), 0)
        let veth = log.all.veth
        log.clear()
        _ = try rt.remove("web", force: true)
        XCTAssertEqual(log.all, ["unpublish 8080->10.87.0.2:80", "detach-later hv\(veth)"])
        try assertNothingLeft(rt)
    }

    /// A monitor that died (the shim's process killed) is repaired by gc: rules, veth, lease.
    func testGCRepairsAContainerWhoseMonitorDied() throws {
        let rt = try runtime()
        XCTAssertEqual(try rt.run(try options(detach: true)), 0)
        let c = try rt.container("web")
        let veth = log.all.veth
        shims.crash(shimPid: c.shimPid)
        log.clear()
        let report = try rt.gc()
        XCTAssertEqual(report.cleaned, ["container web (\(c.shortId)): its monitor was gone; cleaned up"])
        XCTAssertTrue(report.failures.isEmpty)
        XCTAssertEqual(log.all, ["unpublish 8080->10.87.0.2:80", "detach-later hv\(veth)"])
        XCTAssertEqual(try rt.container("web").status, .exited)
        XCTAssertEqual(try rt.store.read { try Store.resourceOwners(in: $0) }, [])
    }

    /// gc reports what it could not remove, and keeps going with the rest.
    func testGCReportsWhatItCouldNotRemove() throws {
        let rt = try runtime()
        XCTAssertEqual(try rt.run(try options(detach: true)), 0)
        let c = try rt.container("web")
        shims.crash(shimPid: c.shimPid)
        log.failAt = ["unpublish"]
        let report = try rt.gc()
        XCTAssertEqual(report.cleaned, [])
        XCTAssertEqual(report.failures.lines.count, 1)
        XCTAssertTrue(report.failures.lines[0].contains("injected failure at unpublish"), report.failures.lines[0])
        // The lease and ports stay until the rules are gone (a stale DNAT must not outlive them).
        XCTAssertEqual(try rt.store.read { try Store.resourceOwners(in: $0) }, [c.id])
        log.failAt = []
        XCTAssertTrue(try rt.gc().failures.isEmpty)
        XCTAssertEqual(try rt.store.read { try Store.resourceOwners(in: $0) }, [])
    }

    /// A store that never recorded a backend used the default (nftables): asking for iptables
    /// moves its rules too, rather than only recording the choice.
    func testFirstExplicitBackendMovesTheDefaultBackendsRules() throws {
        XCTAssertEqual(try runtime().run(try options(publish: nil)), 0)
        log.clear()
        XCTAssertEqual(try runtime(.iptables).firewall, .iptables)
        XCTAssertEqual(log.all, ["remove-rules bridge nftables", "remove-all-rules nftables"])
        log.clear()
        XCTAssertEqual(try runtime().firewall, .iptables)
        XCTAssertEqual(log.all, [])
    }

    /// Switching the backend removes the old backend's rules before recording the new one; if the
    /// old one cannot be cleaned, nothing is switched.
    func testFirewallSwitchRemovesTheOldBackendsRulesFirst() throws {
        XCTAssertEqual(try runtime(.nftables).run(try options(publish: nil)), 0)
        log.clear()
        _ = try runtime(.iptables)
        XCTAssertEqual(log.all, ["remove-rules bridge nftables", "remove-all-rules nftables"])
        log.failAt = ["remove-rules"]
        XCTAssertThrowsError(try runtime(.nftables)) { e in
            XCTAssertTrue("\(e)".hasPrefix("cannot switch the firewall from iptables to nftables"), "\(e)")
        }
        log.failAt = []
        XCTAssertEqual(try runtime().firewall, .iptables)
    }

    /// A cluster node's default network (issue 16): it moves onto the node's subnet with the
    /// pods' MTU (old bridge and rules removed, the new one set up), containers get addresses and
    /// the MTU there; the move is refused while a container holds an address on it; `network
    /// reload` re-installs the cluster's rules from the node record.
    func testDefaultNetworkMovesOntoTheNodeSubnet() throws {
        let rt = try runtime()
        try rt.moveDefaultNetwork(to: CIDRv4("10.244.3.0/24")!, mtu: 1450)
        XCTAssertEqual(log.all, ["remove-bridge hutch0", "ensure-bridge hutch0"])
        let n = try rt.defaultNetwork()
        XCTAssertEqual(n.subnet, CIDRv4("10.244.3.0/24")); XCTAssertEqual(n.gateway, IPv4Address("10.244.3.1")); XCTAssertEqual(n.mtu, 1450)
        XCTAssertEqual(BridgeNetwork(n).mtu, 1450)
        log.clear()
        _ = try rt.run(try options(detach: true, publish: nil))
        XCTAssertTrue(log.all.contains { $0.hasPrefix("attach ") && $0.hasSuffix(" 10.244.3.2") }, "\(log.all)")
        log.clear()
        XCTAssertThrowsError(try rt.moveDefaultNetwork(to: nil, mtu: 0)) { e in
            XCTAssertEqual("\(e)", "containers hold addresses on the default network bridge (web): remove them first (hutch rm -f web)")
        }
        XCTAssertThrowsError(try rt.checkDefaultNetworkFree())
        XCTAssertEqual(log.all, [], "nothing touched")
        XCTAssertEqual(try rt.defaultNetwork().subnet, CIDRv4("10.244.3.0/24"))
        _ = try rt.remove("web", force: true)
        log.clear()
        try rt.setNodeRecord(#"{"ClusterCIDR":"10.244.0.0/16","Name":"n3","Subnet":"10.244.3.0/24"}"#)
        XCTAssertTrue(try rt.reload().contains("cluster network 10.244.0.0/16: rules installed (nftables)"))
        XCTAssertTrue(log.all.contains("install-cluster-rules 10.244.0.0/16 10.244.3.1"), "\(log.all)")
        log.clear()
        try rt.moveDefaultNetwork(to: nil, mtu: 0)
        XCTAssertEqual(log.all, ["remove-bridge hutch0"], "back to the default: the bridge comes back on the next run")
        XCTAssertEqual(try rt.defaultNetwork().subnet, CIDRv4("10.87.0.0/16")); XCTAssertEqual(try rt.defaultNetwork().mtu, 0)
    }

    /// The services' variables and hosts lines are files per version of the services: the store
    /// raises the version on every change, `service create` / `rm` make the next version's files
    /// from the previous one's, and a version with no files is rendered from the store; either
    /// way the same lines. A container's `services.env` is a snapshot.
    func testServiceFilesFollowTheStoresVersion() throws {
        let rt = try runtime()
        func create(_ name: String, port: UInt16) throws {
            var o = ServiceOptions(name: name)
            o.selector = ServiceSelector(["app": name])
            o.ports = [ServicePort(port: port, targetPort: port, proto: .tcp)]
            _ = try rt.createService(try o.validated())
        }
        func version() throws -> Int { try rt.store.read { try ServiceStore.version(in: $0) } }
        func lines(_ path: String) -> [String] { (Sys.readFile(path) ?? "<missing>").split(separator: "\n").map(String.init).sorted() }
        /// The files of the current version, and those the store renders for it afresh.
        func derivedAndRendered() throws -> ([String], [String]) {
            let base = rt.serviceFilesDir + "/\(try version())"
            let derived = lines(base + ".env") + lines(base + ".hosts")
            unlink(base + ".env"); unlink(base + ".hosts")
            let f = try rt.serviceFiles()
            XCTAssertEqual(f.base, base)
            return (derived, lines(base + ".env") + lines(base + ".hosts"))
        }
        XCTAssertEqual(try version(), 0)
        XCTAssertTrue(try rt.serviceFiles().none)
        try create("web-api", port: 80)
        XCTAssertEqual(try version(), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: rt.serviceFilesDir + "/1.env"), "no version 0 files to start from")
        XCTAssertEqual(lines(try rt.serviceFiles().base + ".env"), ["WEB_API_SERVICE_HOST=" + (try rt.service("web-api").0.clusterIP.description), "WEB_API_SERVICE_PORT=80"])
        try create("db", port: 5432)
        XCTAssertEqual(try version(), 2)
        var (derived, rendered) = try derivedAndRendered()
        XCTAssertEqual(derived, rendered)
        XCTAssertEqual(derived.count, 6)
        // A container's snapshot stays what it was; the previous version's files go.
        let dir = root + "/snapshot"
        try Sys.mkdirs(dir, mode: 0o700)
        try rt.withServiceFiles { try rt.linkServiceEnvironment($0, into: dir) }
        try rt.removeService("web-api")
        XCTAssertEqual(try version(), 3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: rt.serviceFilesDir + "/2.env"))
        XCTAssertEqual(lines(dir + "/services.env").count, 4)
        (derived, rendered) = try derivedAndRendered()
        XCTAssertEqual(derived, rendered)
        XCTAssertEqual(derived.count, 3)
        XCTAssertFalse(derived.joined().contains("WEB_API"))
    }
}

extension Array where Element == String {
    /// The 11 characters after `hv` in the first veth name the log mentions.
    var veth: String {
        for e in self { if let r = e.range(of: " hv") { return String(e[r.upperBound...].prefix(11)) } }
        return "?"
    }
}
