import HutchOS
/// The sandbox a container runs in (issue 18): its file system view, user, seccomp profile and
/// cgroup limits, as given on `hutch run`, validated, and as stored with the container (one JSON
/// object in the record) so that `exec` joins the same and `inspect` shows it in Docker's places.
public struct Sandbox: Equatable, Sendable {
    /// `--read-only`: the container's view of / is read-only.
    public var readOnly = false
    /// `--tmpfs PATH[:OPTIONS]` and `--mount type=tmpfs`.
    public var tmpfs: [Tmpfs] = []
    /// `-v` and `--mount type=bind`.
    public var volumes: [Volume] = []
    /// `--rootfs DIR[:O]`.
    public var rootfs: String?
    public var rootfsOverlay = false
    /// `--host-rw`: the host's own file system, shared and writable (no overlay, no private
    /// /tmp, no masked secrets): what every container saw before the default sandbox.
    public var hostRW = false
    /// `--user` as given, and as resolved at run (numbers).
    public var user: String?
    public var uid: UInt32?
    public var gid: UInt32?
    /// `--group-add` as given, resolved to gids at run.
    public var groupAdd: [String] = []
    public var groups: [UInt32] = []
    /// `--privileged`: no masked or read-only paths, seccomp unconfined.
    public var privileged = false
    /// `--security-opt seccomp=...`.
    public var seccomp: Seccomp = .default
    public var limits = Limits()
    /// The cgroup directories the container runs in (one per v1 hierarchy, or the v2 one).
    public var cgroups: [String] = []
    /// A pod's member (and its infra container): the pod's id, whose cgroup holds this one's.
    public var cgroupParent: String?
    /// Set at cleanup when the kernel's OOM killer killed a process of the container.
    public var oomKilled = false

    public init() {}

    public enum Seccomp: Equatable, Sendable {
        case `default`, unconfined, profile(String)
        public var securityOpt: String? {
            switch self {
            case .default: return nil
            case .unconfined: return "seccomp=unconfined"
            case .profile(let p): return "seccomp=\(p)"
            }
        }
    }

    public struct Tmpfs: Equatable, Sendable {
        public var path: String
        public var options: String
        public init(path: String, options: String = "") { self.path = path; self.options = options }
        /// `PATH[:OPTIONS]`.
        public static func parse(_ spec: String) throws -> Tmpfs {
            let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let t = Tmpfs(path: parts[0], options: parts.count > 1 ? parts[1] : "")
            guard t.path.hasPrefix("/") else { throw HutchError("invalid --tmpfs \"\(spec)\": the path must be absolute (e.g. /tmp or /tmp:size=64m)") }
            for o in t.options.split(separator: ",") where !o.contains("=") {
                guard ["ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"].contains(String(o)) else {
                    throw HutchError("invalid --tmpfs \"\(spec)\": unknown option \(o) (size=, mode=, uid=, gid=, ro, rw, exec, noexec, suid, nosuid, dev, nodev)")
                }
            }
            return t
        }
        public var shimArgument: String { options.isEmpty ? path : "\(path):\(options)" }
    }

    public struct Volume: Equatable, Sendable {
        public var source: String
        public var target: String
        public var readOnly: Bool
        public init(source: String, target: String, readOnly: Bool) {
            self.source = source; self.target = target; self.readOnly = readOnly
        }
        /// `-v HOST:CONTAINER[:ro|rw]` (Docker's named volumes are not supported: HOST is a path).
        public static func parse(_ spec: String) throws -> Volume {
            let p = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard p.count == 2 || p.count == 3, !p[0].isEmpty, !p[1].isEmpty else {
                throw HutchError("invalid -v/--volume \"\(spec)\": use HOST-PATH:CONTAINER-PATH[:ro|rw]")
            }
            var ro = false
            if p.count == 3 {
                var modes = p[2].split(separator: ",").map(String.init)
                modes.removeAll { ["z", "Z", "rprivate", "private"].contains($0) }
                guard modes.count <= 1, modes.allSatisfy({ $0 == "ro" || $0 == "rw" }) else {
                    throw HutchError("invalid -v/--volume \"\(spec)\": the mode is ro or rw")
                }
                ro = modes.first == "ro"
            }
            let v = Volume(source: p[0], target: p[1], readOnly: ro)
            guard v.source.hasPrefix("/") else {
                throw HutchError("invalid -v/--volume \"\(spec)\": the host path must be absolute (named volumes are not supported)")
            }
            guard v.target.hasPrefix("/") else { throw HutchError("invalid -v/--volume \"\(spec)\": the container path must be absolute") }
            return v
        }
        /// Docker's HostConfig.Binds entry.
        public var bind: String { "\(source):\(target)" + (readOnly ? ":ro" : "") }
    }

    /// `--mount type=bind|tmpfs,source=...,target=...[,readonly][,tmpfs-size=...][,tmpfs-mode=...]`.
    public enum Mount: Equatable, Sendable {
        case bind(Volume), tmpfs(Tmpfs)
        public static func parse(_ spec: String) throws -> Mount {
            var kv: [String: String] = [:]
            var readOnly = false
            for field in spec.split(separator: ",") {
                let p = field.split(separator: "=", maxSplits: 1).map(String.init)
                switch p[0] {
                case "readonly", "ro":
                    readOnly = p.count == 1 || ["1", "true"].contains(p[1])
                case "type", "source", "src", "target", "destination", "dst", "tmpfs-size", "tmpfs-mode", "bind-propagation":
                    guard p.count == 2 else { throw HutchError("invalid --mount \"\(spec)\": \(p[0]) needs a value") }
                    kv[p[0]] = p[1]
                default:
                    throw HutchError("invalid --mount \"\(spec)\": unknown field \(p[0])")
                }
            }
            guard let target = kv["target"] ?? kv["destination"] ?? kv["dst"] else {
                throw HutchError("invalid --mount \"\(spec)\": target= is required")
            }
            guard target.hasPrefix("/") else { throw HutchError("invalid --mount \"\(spec)\": the target must be an absolute path") }
            switch kv["type"] ?? "" {
            case "bind":
                guard let src = kv["source"] ?? kv["src"] else { throw HutchError("invalid --mount \"\(spec)\": source= is required for type=bind") }
                guard src.hasPrefix("/") else { throw HutchError("invalid --mount \"\(spec)\": the source must be an absolute host path") }
                return .bind(Volume(source: src, target: target, readOnly: readOnly))
            case "tmpfs":
                var opts: [String] = []
                if let s = kv["tmpfs-size"] {
                    guard let b = try? Limits.bytes(s, flag: "tmpfs-size") else { throw HutchError("invalid --mount \"\(spec)\": invalid tmpfs-size \(s)") }
                    opts.append("size=\(b)")
                }
                if let m = kv["tmpfs-mode"] {
                    guard UInt32(m, radix: 8) != nil else { throw HutchError("invalid --mount \"\(spec)\": invalid tmpfs-mode \(m)") }
                    opts.append("mode=\(m)")
                }
                if readOnly { opts.append("ro") }
                return .tmpfs(Tmpfs(path: target, options: opts.joined(separator: ",")))
            default:
                throw HutchError("invalid --mount \"\(spec)\": type must be bind or tmpfs")
            }
        }
    }

    /// cgroup limits, in Docker's units (bytes, nano-CPUs, shares, pids): what the cgroup files
    /// are written from.
    public typealias Limits = Cgroups.Limits

    /// The default file system view: neither `--rootfs` nor `--host-rw`. The host's root is the
    /// lower layer of a private overlay (its writes are the container's own and go with it), its
    /// other file systems are bound read-only, /tmp, /var/tmp and /run are private tmpfs (/dev/shm
    /// comes with the minimal /dev) and the host's secrets are masked.
    public var isHostImage: Bool { rootfs == nil && !hostRW }

    /// The host image's private tmpfs (exec allowed, as in a /tmp on disk; nosuid, nodev). A
    /// user's own mount on the same path replaces one.
    public static let privateTmpfs = [Tmpfs(path: "/tmp", options: "exec,mode=1777"),
                                      Tmpfs(path: "/var/tmp", options: "exec,mode=1777"),
                                      Tmpfs(path: "/run", options: "exec,mode=755")]

    /// The host's secrets, masked in the host image (a file becomes /dev/null, a directory an
    /// empty read-only tmpfs; missing ones are skipped): password hashes, SSH host keys (given
    /// by the caller, who lists /etc/ssh), root's home, hutch's state (this root and the default
    /// one) and other runtimes' sockets and state (those under /run are also under its private
    /// tmpfs; /var/run may be a directory of its own).
    public static func secretPaths(stateRoot: String, sshKeys: [String]) -> [String] {
        var out = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d"]
        out += sshKeys.sorted().map { "/etc/ssh/" + $0 }
        out += ["/root", stateRoot]
        if stateRoot != "/var/lib/hutch" { out.append("/var/lib/hutch") }
        out += ["/run/docker.sock", "/run/containerd", "/run/podman", "/run/crio",
                "/var/run/docker.sock", "/var/run/containerd", "/var/run/podman", "/var/run/crio"]
        return out
    }

    /// The mounts the shim makes, parents first: the user's, plus the host image's private tmpfs
    /// where the user mounts nothing on the same path.
    public var shimMounts: [Mount] {
        guard isHostImage else { return orderedMounts }
        var s = self
        let taken = Set(volumes.map(\.target) + tmpfs.map(\.path))
        s.tmpfs = Self.privateTmpfs.filter { !taken.contains($0.path) } + tmpfs
        return s.orderedMounts
    }

    /// The masks the shim applies: Docker's (unless `--privileged`), then the host image's
    /// secrets, except those a user's volume or tmpfs covers (it asked for that path).
    public func shimMasks(stateRoot: String, sshKeys: [String]) -> [String] {
        var out = privileged ? [] : Self.maskedPaths
        guard isHostImage else { return out }
        let targets = volumes.map(\.target) + tmpfs.map(\.path)
        func covered(_ p: String) -> Bool { targets.contains { p == $0 || p.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") } }
        out += Self.secretPaths(stateRoot: stateRoot, sshKeys: sshKeys).filter { !covered($0) }
        return out
    }

    /// The shim's file system options for this sandbox (pure): `scratch` is the overlay's mount
    /// point in the container's folder, `stateRoot` and `sshKeys` (names in /etc/ssh ending in
    /// `_key`) feed the host image's masks.
    public func shimView(scratch: String, stateRoot: String, sshKeys: [String]) -> ShimSandbox {
        var out = ShimSandbox()
        out.readOnly = readOnly
        out.rootfs = isHostImage ? "/" : rootfs
        if rootfsOverlay || isHostImage { out.rootfsOverlay = scratch }
        out.hostSubmounts = isHostImage
        out.mounts = shimMounts.map {
            switch $0 {
            case .bind(let v): return .volume("\(v.source):\(v.target):\(v.readOnly ? "ro" : "rw")")
            case .tmpfs(let t): return .tmpfs(t.shimArgument)
            }
        }
        out.masked = shimMasks(stateRoot: stateRoot, sshKeys: sshKeys)
        if !privileged { out.readOnlyPaths = Self.readOnlyPaths }
        if let u = uid { out.user = "\(u):\(gid ?? 0)" }
        out.groups = groups
        return out
    }

    /// Docker's masked and read-only paths (unless `--privileged`).
    public static let maskedPaths = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                     "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                     "/sys/firmware", "/sys/devices/virtual/powercap"]
    public static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// Mounts in the order the shim applies them: parents before children (Docker sorts by depth).
    public var orderedMounts: [Mount] {
        let all = volumes.map { Mount.bind($0) } + tmpfs.map { Mount.tmpfs($0) }
        func depth(_ m: Mount) -> Int {
            switch m {
            case .bind(let v): return v.target.split(separator: "/").count
            case .tmpfs(let t): return t.path.split(separator: "/").count
            }
        }
        return all.enumerated().sorted { (depth($0.element), $0.offset) < (depth($1.element), $1.offset) }.map(\.element)
    }

    /// Checks what needs no file system: paths are absolute, targets distinct, limits sane.
    public func validate() throws {
        try limits.validate()
        var targets = Set<String>()
        for t in volumes.map(\.target) + tmpfs.map(\.path) {
            guard targets.insert(t).inserted else { throw HutchError("duplicate mount point \(t)") }
        }
        if let r = rootfs, !r.hasPrefix("/") { throw HutchError("invalid --rootfs \"\(r)\": must be an absolute path") }
        if hostRW && rootfs != nil { throw HutchError("--host-rw and --rootfs exclude each other: --host-rw shares the host's own root") }
    }
}

extension Cgroups.Limits {
    public var isEmpty: Bool { self == Self() }

    /// Docker's sizes: a number with an optional b, k, m, g (or kb, mb, gb, and capitals).
    public static func bytes(_ text: String, flag: String) throws -> Int64 {
        var t = text.lowercased()
        if t.hasSuffix("b") { t.removeLast() }
        var mult: Int64 = 1
        if let last = t.last, let m = ["k": Int64(1) << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40][String(last)] {
            mult = m; t.removeLast()
        }
        guard !t.isEmpty, t.allSatisfy(\.isNumber), let n = Int64(t), n <= Int64.max / mult else {
            throw HutchError("invalid \(flag) \"\(text)\": use a size such as 512m or 2g")
        }
        return n * mult
    }

    /// `--cpus 1.5` → 1,500,000,000 nano-CPUs.
    public static func nanoCPUs(_ text: String) throws -> Int64 {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !text.isEmpty, parts.count <= 2, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }),
              !(parts[0].isEmpty && (parts.count == 1 || parts[1].isEmpty)),
              parts[0].count <= 9, (parts.count == 1 || parts[1].count <= 9) else {
            throw HutchError("invalid --cpus \"\(text)\": use a positive number of CPUs such as 0.5 or 2")
        }
        let whole = Int64(parts[0]) ?? 0
        var frac: Int64 = 0
        if parts.count == 2, !parts[1].isEmpty {
            frac = Int64(parts[1] + String(repeating: "0", count: 9 - parts[1].count))!
        }
        let n = whole * 1_000_000_000 + frac
        guard n > 0 else { throw HutchError("invalid --cpus \"\(text)\": must be more than 0") }
        return n
    }

    public static func integer(_ text: String, flag: String, min: Int64) throws -> Int64 {
        guard let n = Int64(text), n >= min else {
            throw HutchError("invalid \(flag) \"\(text)\": use a whole number" + (min > 0 ? " of at least \(min)" : ""))
        }
        return n
    }

    public func validate() throws {
        if let m = memory, m < 6 << 20 { throw HutchError("invalid --memory: the minimum is 6m (Docker's)") }
        if let s = memorySwap, s != -1 {
            guard let m = memory else { throw HutchError("--memory-swap needs --memory") }
            if s < m { throw HutchError("invalid --memory-swap: it must be at least --memory (it counts memory plus swap; -1: unlimited)") }
        }
        if let s = cpuShares, s < 2 || s > 262_144 { throw HutchError("invalid --cpu-shares \(s): 2 to 262144") }
    }
}

/// `--user NAME|UID[:GROUP|GID]` and `--group-add` resolved against the container's /etc/passwd
/// and /etc/group (the host's, or the --rootfs's), as Docker resolves them in the image.
public enum UserLookup {
    public struct Resolved: Equatable, Sendable { public var uid: UInt32; public var gid: UInt32; public var home: String? }

    static func entries(_ text: String) -> [[String]] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }

    public static func resolve(user spec: String, passwd: String, group: String) throws -> Resolved {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let u = parts[0]
        guard !u.isEmpty else { throw HutchError("invalid --user \"\(spec)\": use NAME|UID[:GROUP|GID]") }
        var r: Resolved
        if let uid = UInt32(u) {
            let row = entries(passwd).first { $0.count >= 7 && $0[2] == u }
            r = Resolved(uid: uid, gid: row.flatMap { UInt32($0[3]) } ?? 0, home: row?[5])
        } else {
            guard let row = entries(passwd).first(where: { $0.count >= 7 && $0[0] == u }),
                  let uid = UInt32(row[2]), let gid = UInt32(row[3]) else {
                throw HutchError("unable to find user \(u): no matching entries in the container's /etc/passwd")
            }
            r = Resolved(uid: uid, gid: gid, home: row[5])
        }
        if parts.count == 2 { r.gid = try self.group(parts[1], group: group, flag: "--user") }
        return r
    }

    public static func group(_ g: String, group: String, flag: String) throws -> UInt32 {
        if let n = UInt32(g) { return n }
        guard let row = entries(group).first(where: { $0.count >= 3 && $0[0] == g }), let n = UInt32(row[2]) else {
            throw HutchError("unable to find group \(g) (\(flag)): no matching entries in the container's /etc/group")
        }
        return n
    }
}
