#if canImport(Glibc)
import Glibc
#endif
/// The containers' cgroups: one per container, `hutch/ID`, in the cgroup v2 tree when the
/// controllers hutch needs are enabled there, else in each v1 hierarchy (memory, pids, cpu) as
/// runc does. Created and limited before the container's first process runs (the shim moves it
/// in before releasing it), removed with the container.
public enum Cgroups {
    public enum Version: Equatable, Sendable { case v1, v2 }

    /// What the kernel's files are asked to hold (pure: golden-tested).
    public struct Limits: Equatable, Sendable {
        public var memory: Int64?
        public var memorySwap: Int64?
        public var nanoCpus: Int64?
        public var cpuShares: Int64?
        public var pidsLimit: Int64?
        public init(memory: Int64? = nil, memorySwap: Int64? = nil, nanoCpus: Int64? = nil, cpuShares: Int64? = nil, pidsLimit: Int64? = nil) {
            self.memory = memory; self.memorySwap = memorySwap; self.nanoCpus = nanoCpus; self.cpuShares = cpuShares; self.pidsLimit = pidsLimit
        }

        /// (controller, file, value) in the order written. v1 writes memory before memsw (the
        /// kernel wants memsw >= memory at every step).
        public func files(_ v: Version) -> [(String, String, String)] {
            var out: [(String, String, String)] = []
            let period: Int64 = 100_000
            switch v {
            case .v1:
                if let m = memory {
                    out.append(("memory", "memory.limit_in_bytes", String(m)))
                    // Docker's default swap: as much again as memory.
                    let swap = memorySwap ?? m * 2
                    out.append(("memory", "memory.memsw.limit_in_bytes", swap == -1 ? "-1" : String(swap)))
                }
                if let n = nanoCpus {
                    out.append(("cpu", "cpu.cfs_period_us", String(period)))
                    out.append(("cpu", "cpu.cfs_quota_us", String(n * period / 1_000_000_000)))
                }
                if let s = cpuShares { out.append(("cpu", "cpu.shares", String(s))) }
                if let p = pidsLimit { out.append(("pids", "pids.max", p <= 0 ? "max" : String(p))) }
            case .v2:
                if let m = memory {
                    out.append(("memory", "memory.max", String(m)))
                    let swap = memorySwap ?? m * 2
                    out.append(("memory", "memory.swap.max", swap == -1 ? "max" : String(max(0, swap - m))))
                }
                if let n = nanoCpus { out.append(("cpu", "cpu.max", "\(n * period / 1_000_000_000) \(period)")) }
                // runc's conversion of shares (2..262144) to weight (1..10000).
                if let s = cpuShares { out.append(("cpu", "cpu.weight", String(1 + ((s - 2) * 9999) / 262_142))) }
                if let p = pidsLimit { out.append(("pids", "pids.max", p <= 0 ? "max" : String(p))) }
            }
            return out
        }
    }

    public static let controllers = ["memory", "pids", "cpu"]
    static let base = "/sys/fs/cgroup"

    /// The v2 tree (/sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one).
    static var v2Root: String? {
        for p in [base, base + "/unified"] where Sys.readFile(p + "/cgroup.controllers") != nil { return p }
        return nil
    }

    /// v2 when every controller hutch uses is enabled in the v2 tree, else v1 (runc's rule).
    public static func detect() -> Version {
        if let r = v2Root, let c = Sys.readFile(r + "/cgroup.controllers") {
            let have = Set(c.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            if controllers.allSatisfy(have.contains) { return .v2 }
        }
        return .v1
    }

    /// The container's directories: one per v1 hierarchy, or the v2 one; `hutch/ID`, or
    /// `hutch/PARENT/ID` for a pod's container (PARENT: the pod's id).
    public static func paths(for id: String, version: Version, parent: String? = nil) -> [String: String] {
        let rel = "hutch/" + (parent.map { $0 + "/" } ?? "") + id
        switch version {
        case .v2: return ["": (v2Root ?? base) + "/" + rel]
        case .v1: return Dictionary(uniqueKeysWithValues: v1Hierarchies.map { ($0, "\(base)/\($0)/\(rel)") })
        }
    }

    /// The v1 hierarchies a container joins: memory, pids, cpu, and cpuacct (CPU time, for
    /// `stats`) where it is mounted apart from cpu (usually they share one, cpu,cpuacct).
    static var v1Hierarchies: [String] {
        func real(_ p: String) -> String? {
            guard let r = realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        guard let acct = real(base + "/cpuacct"), acct != real(base + "/cpu") else { return controllers }
        return controllers + ["cpuacct"]
    }

    /// Creates the container's cgroup(s) and writes the limits. On failure, what was created is
    /// removed before the error is thrown. Returns the directories (for the shim's --cgroup).
    /// `parent`: a pod's id, whose cgroup (made before) holds this one. `isParent`: a pod's own
    /// cgroup, which hands the controllers down to its containers' (cgroup v2).
    public static func create(id: String, limits: Limits, parent: String? = nil, isParent: Bool = false) throws -> [String] {
        let v = detect()
        let dirs = paths(for: id, version: v, parent: parent)
        var made: [String] = []
        do {
            if v == .v2, let root = v2Root {
                // The parent hands the controllers down to its children.
                try ensureDir(root + "/hutch")
                let want = controllers.map { "+" + $0 }.joined(separator: " ")
                if let have = Sys.readFile(root + "/hutch/cgroup.subtree_control"),
                   !controllers.allSatisfy({ have.contains($0) }) {
                    try write(root + "/hutch/cgroup.subtree_control", want)
                }
            }
            for key in dirs.keys.sorted() {
                let d = dirs[key]!
                try ensureDir(String(d[..<d.lastIndex(of: "/")!]))
                guard mkdir(d, 0o755) == 0 else { throw HutchError.sys("cannot create the cgroup \(d)", errno) }
                made.append(d)
            }
            for (ctrl, file, value) in limits.files(v) {
                let d = dirs[v == .v2 ? "" : ctrl]!
                // memsw exists only with swap accounting; without it Docker warns and goes on.
                if file == "memory.memsw.limit_in_bytes" && access(d + "/" + file, F_OK) != 0 {
                    if limits.memorySwap != nil && limits.memorySwap != -1 {
                        throw HutchError("--memory-swap: this kernel has no swap accounting (memory.memsw.limit_in_bytes)")
                    }
                    continue
                }
                try write(d + "/" + file, value)
            }
            if isParent && v == .v2, let d = dirs[""] {
                try write(d + "/cgroup.subtree_control", controllers.map { "+" + $0 }.joined(separator: " "))
            }
            return made
        } catch {
            _ = remove(made)
            throw error
        }
    }

    static func ensureDir(_ d: String) throws {
        if mkdir(d, 0o755) != 0 && errno != EEXIST { throw HutchError.sys("cannot create the cgroup \(d)", errno) }
    }

    static func write(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HutchError.sys("cannot open \(path)", errno) }
        defer { close(fd) }
        let n = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == value.utf8.count else { throw HutchError.sys("cannot write \(value) to \(path)", errno) }
    }

    /// Removes the directories (rmdir: the kernel refuses one that still has processes; a
    /// just-exited process may take a moment to leave, so EBUSY is retried briefly). Returns the
    /// ones that could not be removed.
    public static func remove(_ dirs: [String]) -> [String] {
        var left: [String] = []
        for d in dirs {
            var tries = 0
            while rmdir(d) != 0 && errno != ENOENT {
                if errno != EBUSY || tries >= 200 { left.append(d); break }
                tries += 1
                Sys.sleepMS(5)
            }
        }
        return left
    }

    /// Whether the kernel's OOM killer killed a process in the container's memory cgroup.
    public static func oomKilled(_ dirs: [String]) -> Bool {
        for d in dirs {
            for f in ["memory.events", "memory.oom_control"] {
                guard let text = Sys.readFile(d + "/" + f) else { continue }
                for line in text.split(separator: "\n") {
                    let p = line.split(separator: " ")
                    if p.count == 2, p[0] == "oom_kill", let n = Int(p[1]), n > 0 { return true }
                }
            }
        }
        return false
    }

    /// Current usage: memory bytes, pids, CPU nanoseconds (for inspect).
    public static func usage(_ dirs: [String]) -> (memory: Int64?, pids: Int64?, cpuNanos: Int64?) {
        var mem: Int64?, pids: Int64?, cpu: Int64?
        for d in dirs {
            if let s = Sys.readFile(d + "/memory.current") ?? Sys.readFile(d + "/memory.usage_in_bytes") { mem = Int64(s.trimmingSpaces()) }
            if let s = Sys.readFile(d + "/pids.current") { pids = Int64(s.trimmingSpaces()) }
            if let s = Sys.readFile(d + "/cpuacct.usage") { cpu = Int64(s.trimmingSpaces()) }
            if let s = Sys.readFile(d + "/cpu.stat"), let l = s.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }) {
                cpu = Int64(l.dropFirst(11)).map { $0 * 1000 }
            }
        }
        return (mem, pids, cpu)
    }

    /// What `hutch stats` shows of a container: memory in use without the inactive file cache
    /// (as Docker counts it), the memory limit (nil: none), processes, CPU time in nanoseconds.
    public struct Sample: Equatable, Sendable {
        public var memory: Int64?
        public var memoryLimit: Int64?
        public var pids: Int64?
        public var cpuNanos: Int64?
        public init(memory: Int64? = nil, memoryLimit: Int64? = nil, pids: Int64? = nil, cpuNanos: Int64? = nil) {
            self.memory = memory; self.memoryLimit = memoryLimit; self.pids = pids; self.cpuNanos = cpuNanos
        }
    }

    /// Reads a sample from the container's cgroup directories (v1 or v2).
    public static func sample(_ dirs: [String]) -> Sample {
        let u = usage(dirs)
        var s = Sample(memory: u.memory, pids: u.pids, cpuNanos: u.cpuNanos)
        for d in dirs {
            guard let stat = Sys.readFile(d + "/memory.stat") else { continue }
            for line in stat.split(separator: "\n") {
                let p = line.split(separator: " ")
                // v1: total_inactive_file (the hierarchy's), v2: inactive_file.
                if p.count == 2, p[0] == "total_inactive_file" || p[0] == "inactive_file", let n = Int64(p[1]), let m = s.memory {
                    s.memory = max(0, m - n)
                }
            }
            let raw = Sys.readFile(d + "/memory.max") ?? Sys.readFile(d + "/memory.limit_in_bytes")
            // v1's "no limit" is a huge page-aligned number; v2 says max.
            if let t = raw?.trimmingSpaces(), let n = Int64(t), n < Int64(1) << 60 { s.memoryLimit = n }
        }
        return s
    }

    /// Seconds a container's cgroup is left alone by `gc` after it was made: the time between
    /// `Cgroups.create` and the shim moving the first process in, with a wide margin.
    public static let sweepAge: time_t = 30

    /// The directory's modification time (set when the kernel makes it).
    public static func modified(_ dir: String) -> time_t? {
        var st = stat()
        guard stat(dir, &st) == 0 else { return nil }
        return st.st_mtim.tv_sec
    }

    /// Every container (and pod) cgroup hutch made (`hutch/ID` in any hierarchy, and a pod's
    /// containers' `hutch/POD/ID`), id → directories.
    public static func all() -> [String: [String]] {
        var out: [String: [String]] = [:]
        var parents = v1Hierarchies.map { "\(base)/\($0)/hutch" }
        if let r = v2Root { parents.append(r + "/hutch") }
        for p in parents {
            for e in Sys.directoryEntries(p) ?? [] where e.isDirectory && e.name.count == 64 {
                let d = p + "/" + e.name
                out[e.name, default: []].append(d)
                for c in Sys.directoryEntries(d) ?? [] where c.isDirectory && c.name.count == 64 {
                    out[c.name, default: []].append(d + "/" + c.name)
                }
            }
        }
        return out
    }

    /// Whether any of the directories holds a child cgroup (a pod's, with containers in it).
    public static func hasChildren(_ dirs: [String]) -> Bool {
        dirs.contains { d in (Sys.directoryEntries(d) ?? []).contains { $0.isDirectory } }
    }
}
