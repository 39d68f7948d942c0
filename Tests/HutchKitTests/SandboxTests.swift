import XCTest
@testable import HutchOS
@testable import HutchModel

/// Issue 18: the sandbox's pure parts: flag parsing, user lookup, seccomp compilation, cgroup
/// files, the shim's argv, the stored form.
final class SandboxTests: XCTestCase {
    func testSizesCpusPids() throws {
        XCTAssertEqual(try Sandbox.Limits.bytes("512m", flag: "--memory"), 512 << 20)
        XCTAssertEqual(try Sandbox.Limits.bytes("2g", flag: "--memory"), 2 << 30)
        XCTAssertEqual(try Sandbox.Limits.bytes("64MB", flag: "--memory"), 64 << 20)
        XCTAssertEqual(try Sandbox.Limits.bytes("1000", flag: "--memory"), 1000)
        for bad in ["12zz", "", "m", "-1m", "1.5g"] { XCTAssertThrowsError(try Sandbox.Limits.bytes(bad, flag: "--memory"), bad) }
        XCTAssertEqual(try Sandbox.Limits.nanoCPUs("0.25"), 250_000_000)
        XCTAssertEqual(try Sandbox.Limits.nanoCPUs("2"), 2_000_000_000)
        XCTAssertEqual(try Sandbox.Limits.nanoCPUs(".5"), 500_000_000)
        for bad in ["-1", "0", "abc", "", "1.2.3"] { XCTAssertThrowsError(try Sandbox.Limits.nanoCPUs(bad), bad) }
        XCTAssertThrowsError(try Sandbox.Limits.integer("abc", flag: "--pids-limit", min: -1))
    }

    func testVolumesMountsTmpfs() throws {
        XCTAssertEqual(try Sandbox.Volume.parse("/a:/b:ro"), Sandbox.Volume(source: "/a", target: "/b", readOnly: true))
        XCTAssertEqual(try Sandbox.Volume.parse("/a:/b"), Sandbox.Volume(source: "/a", target: "/b", readOnly: false))
        for bad in ["a:/b", "/a:b", "/a", "/a:/b:rx"] { XCTAssertThrowsError(try Sandbox.Volume.parse(bad), bad) }
        XCTAssertEqual(try Sandbox.Mount.parse("type=bind,source=/s,target=/t,readonly"),
                       .bind(Sandbox.Volume(source: "/s", target: "/t", readOnly: true)))
        XCTAssertEqual(try Sandbox.Mount.parse("type=tmpfs,target=/t,tmpfs-size=1m"), .tmpfs(Sandbox.Tmpfs(path: "/t", options: "size=1048576")))
        XCTAssertThrowsError(try Sandbox.Mount.parse("type=volume,target=/t"))
        XCTAssertEqual(try Sandbox.Tmpfs.parse("/tmp:size=64m,noexec").shimArgument, "/tmp:size=64m,noexec")
        XCTAssertThrowsError(try Sandbox.Tmpfs.parse("tmp"))
        XCTAssertThrowsError(try Sandbox.Tmpfs.parse("/tmp:bogus"))
        var s = Sandbox()
        s.tmpfs = [Sandbox.Tmpfs(path: "/a/b")]
        s.volumes = [Sandbox.Volume(source: "/x", target: "/a", readOnly: false)]
        XCTAssertEqual(s.orderedMounts.first, .bind(s.volumes[0]))  // parents first
    }

    func testUserLookup() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n"
        let group = "root:x:0:\nusers:x:100:\n"
        XCTAssertEqual(try UserLookup.resolve(user: "nobody", passwd: passwd, group: group).uid, 65534)
        XCTAssertEqual(try UserLookup.resolve(user: "nobody:users", passwd: passwd, group: group).gid, 100)
        XCTAssertEqual(try UserLookup.resolve(user: "1234", passwd: passwd, group: group).gid, 0)
        XCTAssertEqual(try UserLookup.resolve(user: "1234:4321", passwd: passwd, group: group).gid, 4321)
        XCTAssertThrowsError(try UserLookup.resolve(user: "ghost", passwd: passwd, group: group))
        XCTAssertThrowsError(try UserLookup.group("ghosts", group: group, flag: "--group-add"))
    }

    func testDefaultSeccompProfile() {
        let p = SeccompProfile.defaultCompiled(capMask: 0xa80425fb)
        let lines = p.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.prefix(3), ["default allow", "arch x86", "arch x32"])
        for s in ["keyctl", "add_key", "request_key", "bpf", "perf_event_open", "kexec_load", "open_by_handle_at",
                  "init_module", "finit_module", "delete_module", "mount", "umount2", "pivot_root", "unshare"] {
            XCTAssertTrue(lines.contains("errno:1 \(s)"), s)
        }
        XCTAssertTrue(lines.contains("errno:1 clone 0:masked_eq:0x10000000:0x10000000"))
        XCTAssertTrue(lines.contains("errno:38 clone3"))
        // With CAP_SYS_ADMIN (e.g. --cap-add SYS_ADMIN), mount and unshare are allowed, as Docker does.
        let admin = SeccompProfile.defaultCompiled(capMask: 0xa80425fb | (1 << 21))
        XCTAssertFalse(admin.contains("errno:1 mount\n"))
        XCTAssertTrue(admin.contains("errno:1 keyctl\n"))
    }

    func testDockerProfileJSON() throws {
        let json = """
        {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         "syscalls": [
          {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
          {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
          {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
          {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
          {"names": ["s390_pci_mmio_read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
          {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}], "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
         ]}
        """
        XCTAssertEqual(try SeccompProfile.compile(json: json, capMask: 0xa80425fb), """
        default errno:1
        arch x86
        arch x32
        allow read
        allow write
        allow personality 0:eq:8
        allow arch_prctl
        allow clone 0:masked_eq:2114060288:0

        """)
        XCTAssertThrowsError(try SeccompProfile.compile(json: "{", capMask: nil))
        XCTAssertThrowsError(try SeccompProfile.compile(json: #"{"defaultAction": "SCMP_ACT_NOPE"}"#, capMask: nil))
    }

    func testCgroupFiles() {
        let l = Cgroups.Limits(memory: 64 << 20, nanoCpus: 250_000_000, cpuShares: 512, pidsLimit: 20)
        XCTAssertEqual(l.files(.v1).map { "\($0.0) \($0.1) \($0.2)" }, [
            "memory memory.limit_in_bytes 67108864", "memory memory.memsw.limit_in_bytes 134217728",
            "cpu cpu.cfs_period_us 100000", "cpu cpu.cfs_quota_us 25000", "cpu cpu.shares 512", "pids pids.max 20",
        ])
        XCTAssertEqual(l.files(.v2).map { "\($0.0) \($0.1) \($0.2)" }, [
            "memory memory.max 67108864", "memory memory.swap.max 67108864",
            "cpu cpu.max 25000 100000", "cpu cpu.weight 20", "pids pids.max 20",
        ])
    }

    func testShimArgv() {
        var s = ShimRunSpec()
        s.net = .host
        s.command = ["true"]
        s.sandbox.readOnly = true
        s.sandbox.rootfs = "/srv/root"
        s.sandbox.rootfsOverlay = "/r/c/1/overlay"
        s.sandbox.mounts = [.volume("/a:/b:ro"), .tmpfs("/tmp:size=1m")]
        s.sandbox.masked = ["/proc/kcore"]
        s.sandbox.readOnlyPaths = ["/proc/sys"]
        s.sandbox.user = "65534:65534"
        s.sandbox.groups = [100, 10]
        s.sandbox.seccomp = "/r/c/1/seccomp"
        s.sandbox.cgroups = ["/sys/fs/cgroup/memory/hutch/1"]
        XCTAssertEqual(s.arguments, ["run", "--netns", "host", "--workdir", "/", "--read-only", "--rootfs", "/srv/root",
                                     "--rootfs-overlay", "/r/c/1/overlay", "--volume", "/a:/b:ro", "--tmpfs", "/tmp:size=1m",
                                     "--mask", "/proc/kcore", "--readonly-path", "/proc/sys", "--user", "65534:65534",
                                     "--groups", "100,10", "--seccomp", "/r/c/1/seccomp",
                                     "--cgroup", "/sys/fs/cgroup/memory/hutch/1", "--", "true"])
        var e = ShimExecSpec(pid: 7, workdir: "/", command: ["id"])
        e.sandbox.user = "1:2"
        e.sandbox.seccomp = "/r/c/1/seccomp"
        e.sandbox.cgroups = ["/sys/fs/cgroup/pids/hutch/1"]
        XCTAssertEqual(e.arguments, ["exec", "--pid", "7", "--workdir", "/", "--user", "1:2", "--seccomp", "/r/c/1/seccomp",
                                     "--cgroup", "/sys/fs/cgroup/pids/hutch/1", "--", "id"])
    }

    func testStoredRoundTrip() {
        var s = Sandbox()
        s.readOnly = true
        s.tmpfs = [Sandbox.Tmpfs(path: "/tmp", options: "size=1m")]
        s.volumes = [Sandbox.Volume(source: "/a", target: "/b", readOnly: true)]
        s.user = "nobody"; s.uid = 65534; s.gid = 65534; s.groups = [100]; s.groupAdd = ["users"]
        s.seccomp = .profile("/p.json")
        s.limits.memory = 1 << 30; s.limits.pidsLimit = 5; s.limits.nanoCpus = 1
        s.cgroups = ["/x"]; s.oomKilled = true; s.rootfs = "/r"; s.rootfsOverlay = true
        XCTAssertEqual(Sandbox(stored: s.stored), s)
        XCTAssertEqual(Sandbox(stored: "{}"), Sandbox())
        // A pod's limits have the same stored form.
        let l = Sandbox.Limits(memory: 64 << 20, memorySwap: -1, nanoCpus: 250_000_000, cpuShares: 512, pidsLimit: 24)
        XCTAssertEqual(Sandbox.Limits(stored: l.stored), l)
        XCTAssertEqual(Sandbox.Limits(stored: "{}"), Sandbox.Limits())
    }
}
