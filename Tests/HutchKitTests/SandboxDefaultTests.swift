import XCTest
@testable import HutchOS
@testable import HutchModel

/// Issue 18's default file system view (the host as the image), `--host-rw`, pod cgroup paths
/// and `hutch stats`' columns: the shim's argv pinned byte for byte, and the pure formatting.
final class SandboxDefaultTests: XCTestCase {
    let docker = Sandbox.maskedPaths.flatMap { ["--mask", $0] }
    let readOnly = Sandbox.readOnlyPaths.flatMap { ["--readonly-path", $0] }
    let secrets = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
                   "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key", "/root", "/srv/hutch", "/var/lib/hutch",
                   "/run/docker.sock", "/run/containerd", "/run/podman", "/run/crio",
                   "/var/run/docker.sock", "/var/run/containerd", "/var/run/podman", "/var/run/crio"]

    func argv(_ s: Sandbox) -> [String] {
        var spec = ShimRunSpec()
        spec.command = ["true"]
        spec.sandbox = s.shimView(scratch: "/srv/hutch/containers/1/overlay", stateRoot: "/srv/hutch",
                                  sshKeys: ["ssh_host_rsa_key", "ssh_host_ed25519_key"])
        return spec.arguments
    }

    func testDefaultIsTheHostAsTheImage() {
        let s = Sandbox()
        XCTAssertTrue(s.isHostImage)
        XCTAssertEqual(argv(s), ["run", "--netns", "new", "--workdir", "/", "--rootfs", "/",
                                 "--rootfs-overlay", "/srv/hutch/containers/1/overlay", "--host-submounts",
                                 "--tmpfs", "/tmp:exec,mode=1777", "--tmpfs", "/run:exec,mode=755", "--tmpfs", "/var/tmp:exec,mode=1777"]
                       + docker + secrets.flatMap { ["--mask", $0] } + readOnly + ["--", "true"])
    }

    func testUserMountsReplaceOrUncoverTheDefaults() {
        var s = Sandbox()
        s.readOnly = true
        s.tmpfs = [Sandbox.Tmpfs(path: "/tmp", options: "size=1m")]
        s.volumes = [Sandbox.Volume(source: "/run/docker.sock", target: "/run/docker.sock", readOnly: false),
                     Sandbox.Volume(source: "/h", target: "/root", readOnly: true)]
        let a = argv(s)
        // parents first: the user's /tmp replaces the default one; /run stays, the socket volume goes on top
        XCTAssertEqual(a.enumerated().filter { $0.element == "--tmpfs" || $0.element == "--volume" }.map { a[$0.offset + 1] },
                       ["/h:/root:ro", "/run:exec,mode=755", "/tmp:size=1m", "/run/docker.sock:/run/docker.sock:rw",
                        "/var/tmp:exec,mode=1777"])
        // a path the user mounted is not masked over
        XCTAssertFalse(a.contains("/run/docker.sock") && a[a.firstIndex(of: "/run/docker.sock")! - 1] == "--mask")
        XCTAssertFalse(zip(a, a.dropFirst()).contains { $0 == "--mask" && $1 == "/root" })
        XCTAssertTrue(a.contains("--read-only"))
    }

    func testHostRWAndRootfsAreNotTheImage() {
        var s = Sandbox()
        s.hostRW = true
        XCTAssertFalse(s.isHostImage)
        XCTAssertEqual(argv(s), ["run", "--netns", "new", "--workdir", "/"] + docker + readOnly + ["--", "true"])
        var r = Sandbox()
        r.rootfs = "/img"; r.rootfsOverlay = true
        XCTAssertEqual(argv(r), ["run", "--netns", "new", "--workdir", "/", "--rootfs", "/img",
                                 "--rootfs-overlay", "/srv/hutch/containers/1/overlay"] + docker + readOnly + ["--", "true"])
        var both = Sandbox()
        both.hostRW = true; both.rootfs = "/img"
        XCTAssertThrowsError(try both.validate())
        var p = Sandbox()
        p.privileged = true
        XCTAssertEqual(argv(p), ["run", "--netns", "new", "--workdir", "/", "--rootfs", "/",
                                 "--rootfs-overlay", "/srv/hutch/containers/1/overlay", "--host-submounts",
                                 "--tmpfs", "/tmp:exec,mode=1777", "--tmpfs", "/run:exec,mode=755", "--tmpfs", "/var/tmp:exec,mode=1777"]
                       + secrets.flatMap { ["--mask", $0] } + ["--", "true"])
    }

    func testSeccompCacheGoesWithTheProfile() {
        var s = ShimSandbox()
        s.seccompCache = "/r/seccomp-cache"
        XCTAssertEqual(s.processArguments, [])  // no profile (unconfined): no cache either
        s.seccomp = "/r/c/1/seccomp"
        XCTAssertEqual(s.processArguments, ["--seccomp", "/r/c/1/seccomp", "--seccomp-cache", "/r/seccomp-cache"])
    }

    func testStoredHostRWAndCgroupParent() {
        var s = Sandbox()
        s.hostRW = true; s.cgroupParent = String(repeating: "a", count: 64)
        XCTAssertEqual(Sandbox(stored: s.stored), s)
    }

    func testPodCgroupPaths() {
        let pod = String(repeating: "p", count: 64), id = String(repeating: "c", count: 64)
        XCTAssertEqual(Cgroups.paths(for: id, version: .v2, parent: pod)[""]!.hasSuffix("/hutch/\(pod)/\(id)"), true)
        XCTAssertTrue(Cgroups.paths(for: id, version: .v1, parent: pod).values.allSatisfy { $0.hasSuffix("/hutch/\(pod)/\(id)") })
        XCTAssertEqual(Cgroups.paths(for: id, version: .v1)["memory"], "/sys/fs/cgroup/memory/hutch/\(id)")
    }

    func testStatsColumns() {
        XCTAssertEqual(Stats.size(0), "0B")
        XCTAssertEqual(Stats.size(512 << 10), "512KiB")
        XCTAssertEqual(Stats.size(2_000_000), "1.907MiB")
        XCTAssertEqual(Stats.size(64 << 20), "64MiB")
        XCTAssertEqual(Stats.size(Int64(7.668 * Double(1 << 30))), "7.668GiB")
        XCTAssertEqual(Stats.size(1023 << 10), "1023KiB")
        XCTAssertEqual(Stats.fixed(0, 2), "0.00")
        XCTAssertEqual(Stats.fixed(12.345, 2), "12.35")
        XCTAssertEqual(Stats.fixed(0.5, 2), "0.50")
        XCTAssertEqual(Stats.cpuPercent(before: 0, after: 500_000_000, elapsed: 1_000_000_000), 50)
        XCTAssertEqual(Stats.cpuPercent(before: nil, after: 5, elapsed: 1), 0)
        XCTAssertEqual(Stats.cpuPercent(before: 9, after: 5, elapsed: 1), 0)
        let c = ContainerRecord(id: String(repeating: "ab", count: 32), name: "web", command: ["x"], hostname: "h", env: [],
                                workdir: "/", networkMode: "none", autoRemove: false, detached: true, useInit: true,
                                noNewPrivs: true, status: .running, shimPid: 1, shimStart: 1, pid: 2, pidStart: 2,
                                createdAt: "2026-12-07T00:00:00Z", bootId: "b")
        let row = Stats.row(c, given: "web", cpu: 12.5, sample: Cgroups.Sample(memory: 16 << 20, memoryLimit: 64 << 20, pids: 3),
                            hostMemory: 8 << 30, full: false)
        XCTAssertEqual(row, Stats.Row(container: "web", id: c.shortId, name: "web", cpuPerc: "12.50%",
                                      memUsage: "16MiB / 64MiB", memPerc: "25.00%", pids: "3"))
        let unlimited = Stats.row(c, given: "web", cpu: 0, sample: Cgroups.Sample(memory: 1 << 20), hostMemory: 8 << 30, full: true)
        XCTAssertEqual(unlimited.memUsage, "1MiB / 8GiB")
        XCTAssertEqual(unlimited.id, c.id)
        XCTAssertEqual(Stats.table([row]), """
            CONTAINER ID   NAME   CPU %    MEM USAGE / LIMIT   MEM %    PIDS
            \(c.shortId)   web    12.50%   16MiB / 64MiB       25.00%   3
            """)
    }
}
