import HutchOS
/// seccomp profiles: Docker's profile JSON (`--security-opt seccomp=PROFILE.json`) and hutch's
/// default, compiled to the line format the shim feeds to libseccomp (docs/shim-protocol.md):
///
///     default ACTION
///     arch x86
///     ACTION SYSCALL [INDEX:OP:VALUE[:VALUE2]]...
public enum SeccompProfile {
    static let capSysAdmin = 21, capSysPtrace = 19, capSysModule = 16, capSysBoot = 22, capSysTime = 25,
               capSysPacct = 20, capSysRawio = 17, capSysNice = 23, capSyslog = 34, capBPF = 39, capPerfmon = 38,
               capDacReadSearch = 2, capSysTTYConfig = 26, capSysResource = 24

    /// The namespace flags of clone(2) (Docker refuses them to a container without CAP_SYS_ADMIN).
    static let namespaceFlags: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000,
                                           0x2000_0000, 0x4000_0000, 0x0000_0080]

    /// Docker's default profile's effect as a deny list (default allow, errno EPERM for what
    /// Docker's allow list leaves out or grants only with a capability), for the native
    /// architecture and its 32-bit ABIs (so `int 0x80` is filtered too). clone3 returns ENOSYS as
    /// under Docker, so that the C library falls back to clone, whose flags can be checked.
    public static func defaultCompiled(capMask: UInt64?) -> String {
        let mask = capMask ?? ~0
        func has(_ c: Int) -> Bool { mask & (UInt64(1) << UInt64(c)) != 0 }
        var deny = ["add_key", "keyctl", "request_key", "kexec_load", "kexec_file_load", "open_by_handle_at",
                    "userfaultfd", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "vm86", "vm86old",
                    "create_module", "get_kernel_syms", "query_module", "lookup_dcookie", "swapon", "swapoff",
                    "personality_unsupported", "kcmp_unsupported"].filter { !$0.hasSuffix("_unsupported") }
        if !has(capSysAdmin) {
            deny += ["mount", "umount", "umount2", "pivot_root", "unshare", "setns", "quotactl", "name_to_handle_at",
                     "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
                     "fanotify_init", "lookup_dcookie"]
        }
        if !has(capSysModule) { deny += ["init_module", "finit_module", "delete_module"] }
        if !has(capSysBoot) { deny += ["reboot"] }
        if !has(capSysTime) { deny += ["settimeofday", "stime", "clock_settime", "clock_adjtime", "adjtimex_set_unsupported"].filter { !$0.hasSuffix("_unsupported") } }
        if !has(capSysPacct) { deny += ["acct"] }
        if !has(capSysRawio) { deny += ["iopl", "ioperm"] }
        if !has(capSysPtrace) { deny += ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"] }
        if !has(capSysNice) { deny += ["get_mempolicy", "set_mempolicy", "mbind", "move_pages"] }
        if !has(capSyslog) { deny += ["syslog"] }
        if !has(capBPF) && !has(capSysAdmin) { deny += ["bpf"] }
        if !has(capPerfmon) && !has(capSysAdmin) { deny += ["perf_event_open"] }
        var lines = ["default allow", "arch x86", "arch x32"]
        var seen = Set<String>()
        for s in deny where seen.insert(s).inserted { lines.append("errno:1 \(s)") }
        if !has(capSysAdmin) {
            for f in namespaceFlags { lines.append("errno:1 clone 0:masked_eq:0x\(String(f, radix: 16)):0x\(String(f, radix: 16))") }
        }
        lines.append("errno:38 clone3")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Docker's profile JSON (defaultAction, defaultErrnoRet, architectures, syscalls with names,
    /// action, errnoRet, args, includes/excludes by caps and arches) compiled for the shim.
    /// Rules for other architectures, or whose capability condition the container's mask does not
    /// meet, are left out, as Docker leaves them out.
    public static func compile(json text: String, capMask: UInt64?) throws -> String {
        guard let root = JSON.parse(text), case .object(let o) = root else {
            throw HutchError("invalid seccomp profile: not a JSON object")
        }
        let mask = capMask ?? ~0
        let defaultErrno = o["defaultErrnoRet"]?.int
        guard let def = o["defaultAction"]?.string else { throw HutchError("invalid seccomp profile: defaultAction is missing") }
        var lines = ["default " + (try action(def, errno: defaultErrno))]
        let arches = o["architectures"]?.array?.compactMap(\.string) ?? []
        for a in arches {
            switch a {
            case "SCMP_ARCH_X86": lines.append("arch x86")
            case "SCMP_ARCH_X32": lines.append("arch x32")
            default: break
            }
        }
        for r in o["syscalls"]?.array ?? [] {
            guard case .object(let rule) = r else { throw HutchError("invalid seccomp profile: a syscalls entry is not an object") }
            if !applies(rule["includes"], mask: mask, include: true) || !applies(rule["excludes"], mask: mask, include: false) { continue }
            var names = rule["names"]?.array?.compactMap(\.string) ?? []
            if let n = rule["name"]?.string { names.append(n) }
            guard let act = rule["action"]?.string else { throw HutchError("invalid seccomp profile: a rule has no action") }
            let a = try action(act, errno: rule["errnoRet"]?.int ?? defaultErrno)
            var args: [String] = []
            for arg in rule["args"]?.array ?? [] {
                guard case .object(let x) = arg, let index = x["index"]?.int, let op = x["op"]?.string else {
                    throw HutchError("invalid seccomp profile: an args entry needs index and op")
                }
                let ops = ["SCMP_CMP_EQ": "eq", "SCMP_CMP_NE": "ne", "SCMP_CMP_LT": "lt", "SCMP_CMP_LE": "le",
                           "SCMP_CMP_GT": "gt", "SCMP_CMP_GE": "ge", "SCMP_CMP_MASKED_EQ": "masked_eq"]
                guard let o = ops[op], (0...5).contains(index) else { throw HutchError("invalid seccomp profile: unknown op \(op)") }
                let v = UInt64(truncatingIfNeeded: x["value"]?.int ?? 0), v2 = UInt64(truncatingIfNeeded: x["valueTwo"]?.int ?? 0)
                args.append("\(index):\(o):\(v)" + (o == "masked_eq" ? ":\(v2)" : ""))
            }
            for n in names {
                guard !n.isEmpty, n.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw HutchError("invalid seccomp profile: bad system call name \"\(n)\"")
                }
                lines.append(([a, n] + args).joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func action(_ a: String, errno: Int64?) throws -> String {
        switch a {
        case "SCMP_ACT_ALLOW": return "allow"
        case "SCMP_ACT_ERRNO": return "errno:\(errno ?? 1)"
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return "kill"
        case "SCMP_ACT_KILL_PROCESS": return "kill_process"
        case "SCMP_ACT_TRAP": return "trap"
        case "SCMP_ACT_LOG": return "log"
        case "SCMP_ACT_TRACE": return "trace:\(errno ?? 0)"
        default: throw HutchError("invalid seccomp profile: unknown action \(a)")
        }
    }

    static let capNames: [String: Int] = Dictionary(uniqueKeysWithValues: Capabilities.names.enumerated().map { ("CAP_" + $0.element, $0.offset) })

    /// includes: every listed cap present and the arch list (if any) names amd64; excludes: none
    /// of the listed caps present.
    static func applies(_ cond: JSON?, mask: UInt64, include: Bool) -> Bool {
        guard case .object(let c)? = cond else { return true }
        let caps = c["caps"]?.array?.compactMap(\.string) ?? []
        let held = caps.map { name in capNames[name].map { mask & (UInt64(1) << UInt64($0)) != 0 } ?? false }
        if include {
            if !held.allSatisfy({ $0 }) { return false }
            if let arches = c["arches"]?.array?.compactMap(\.string), !arches.isEmpty,
               !arches.contains(where: { ["amd64", "x86_64", "x86", "386", "x32"].contains($0) }) { return false }
            return true
        }
        if held.contains(true) { return false }
        if let arches = c["arches"]?.array?.compactMap(\.string), arches.contains(where: { ["amd64", "x86_64"].contains($0) }) { return false }
        return true
    }
}

extension Sandbox {
    /// The stored form (one JSON object in the container's record).
    public var stored: String {
        var o: [String: JSON] = [:]
        if readOnly { o["readOnly"] = .bool(true) }
        if !tmpfs.isEmpty { o["tmpfs"] = .array(tmpfs.map { .strings([$0.path, $0.options]) }) }
        if !volumes.isEmpty { o["volumes"] = .array(volumes.map { .strings([$0.source, $0.target, $0.readOnly ? "ro" : "rw"]) }) }
        if let r = rootfs { o["rootfs"] = .string(r) }
        if rootfsOverlay { o["rootfsOverlay"] = .bool(true) }
        if hostRW { o["hostRW"] = .bool(true) }
        if let u = user { o["user"] = .string(u) }
        if let u = uid { o["uid"] = .int(Int64(u)) }
        if let g = gid { o["gid"] = .int(Int64(g)) }
        if !groupAdd.isEmpty { o["groupAdd"] = .strings(groupAdd) }
        if !groups.isEmpty { o["groups"] = .array(groups.map { .int(Int64($0)) }) }
        if privileged { o["privileged"] = .bool(true) }
        switch seccomp {
        case .default: break
        case .unconfined: o["seccomp"] = .string("unconfined")
        case .profile(let p): o["seccomp"] = .string("profile:" + p)
        }
        if let v = limits.memory { o["memory"] = .int(v) }
        if let v = limits.memorySwap { o["memorySwap"] = .int(v) }
        if let v = limits.nanoCpus { o["nanoCpus"] = .int(v) }
        if let v = limits.cpuShares { o["cpuShares"] = .int(v) }
        if let v = limits.pidsLimit { o["pidsLimit"] = .int(v) }
        if !cgroups.isEmpty { o["cgroups"] = .strings(cgroups) }
        if let p = cgroupParent { o["cgroupParent"] = .string(p) }
        if oomKilled { o["oomKilled"] = .bool(true) }
        return JSON.object(o).render()
    }

    public init(stored text: String) {
        self.init()
        guard let v = JSON.parse(text) else { return }
        readOnly = v["readOnly"]?.bool ?? false
        tmpfs = v["tmpfs"]?.array?.compactMap { t in t.array.flatMap { a in a.count == 2 ? Tmpfs(path: a[0].string ?? "", options: a[1].string ?? "") : nil } } ?? []
        volumes = v["volumes"]?.array?.compactMap { t in t.array.flatMap { a in a.count == 3 ? Volume(source: a[0].string ?? "", target: a[1].string ?? "", readOnly: a[2].string == "ro") : nil } } ?? []
        rootfs = v["rootfs"]?.string
        rootfsOverlay = v["rootfsOverlay"]?.bool ?? false
        hostRW = v["hostRW"]?.bool ?? false
        user = v["user"]?.string
        uid = v["uid"]?.int.map { UInt32(truncatingIfNeeded: $0) }
        gid = v["gid"]?.int.map { UInt32(truncatingIfNeeded: $0) }
        groupAdd = v["groupAdd"]?.array?.compactMap(\.string) ?? []
        groups = v["groups"]?.array?.compactMap { $0.int.map { UInt32(truncatingIfNeeded: $0) } } ?? []
        privileged = v["privileged"]?.bool ?? false
        if let s = v["seccomp"]?.string {
            seccomp = s == "unconfined" ? .unconfined : s.hasPrefix("profile:") ? .profile(String(s.dropFirst(8))) : .default
        }
        limits.memory = v["memory"]?.int
        limits.memorySwap = v["memorySwap"]?.int
        limits.nanoCpus = v["nanoCpus"]?.int
        limits.cpuShares = v["cpuShares"]?.int
        limits.pidsLimit = v["pidsLimit"]?.int
        cgroups = v["cgroups"]?.array?.compactMap(\.string) ?? []
        cgroupParent = v["cgroupParent"]?.string
        oomKilled = v["oomKilled"]?.bool ?? false
    }
}
