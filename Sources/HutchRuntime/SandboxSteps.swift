#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState

/// `run`'s sandbox steps (issue 18): checks before anything is created, the cgroup and the
/// seccomp file after the container's folder exists, and their removal with the container.
extension Runtime {
    /// Before anything is created: host paths exist, the user resolves in the container's
    /// /etc/passwd, the seccomp profile reads and compiles. Returns the sandbox to record (user
    /// resolved, cgroup paths set) and the compiled seccomp profile (nil: unconfined).
    /// `pod`: a pod member's infra container: its cgroup parent (the pod's id, when the pod
    /// has a cgroup) and the pod's volumes (`pod create -v`), except where the member mounts
    /// something of its own.
    func checkSandbox(_ o: RunOptions, id: String, pod infra: ContainerRecord? = nil) throws -> (Sandbox, String?) {
        var s = o.sandbox
        if let i = infra {
            s.cgroupParent = i.sandbox.cgroupParent
            let taken = Set(s.volumes.map(\.target) + s.tmpfs.map(\.path))
            s.volumes = i.sandbox.volumes.filter { !taken.contains($0.target) } + s.volumes
        }
        let root = s.rootfs ?? ""
        if let r = s.rootfs {
            guard Self.isDirectory(r) else { throw HutchError("invalid --rootfs \(r): no such directory") }
        }
        // A root whose writes are the container's own (the host image, --rootfs DIR:O): the shim
        // makes missing mount points there, as Docker does in a container's layer.
        let ownLayer = s.isHostImage || s.rootfsOverlay
        for v in s.volumes {
            guard access(v.source, F_OK) == 0 else {
                throw HutchError("invalid volume \(v.source):\(v.target): the host path \(v.source) does not exist")
            }
            guard ownLayer || access(root + v.target, F_OK) == 0 else {
                throw HutchError("invalid volume \(v.source):\(v.target): the mount point \(v.target) does not exist in the container (create it first)")
            }
        }
        for t in s.tmpfs where !ownLayer && !Self.isDirectory(root + t.path) {
            throw HutchError("invalid --tmpfs \(t.path): no such directory in the container (create it first)")
        }
        if let w = o.workdir, s.rootfs != nil, !Self.isDirectory(root + w) {
            throw HutchError("invalid --workdir \(w): no such directory in the --rootfs")
        }
        let passwd = Sys.readFile(root + "/etc/passwd") ?? ""
        let group = Sys.readFile(root + "/etc/group") ?? ""
        if let u = s.user {
            let r = try UserLookup.resolve(user: u, passwd: passwd, group: group)
            s.uid = r.uid; s.gid = r.gid
        }
        s.groups = try s.groupAdd.map { try UserLookup.group($0, group: group, flag: "--group-add") }
        if !s.groups.isEmpty && s.uid == nil { s.uid = 0; s.gid = 0 }
        let mask = o.capMask.flatMap { UInt64($0, radix: 16) }
        var seccomp: String?
        switch s.seccomp {
        case .unconfined: seccomp = nil
        case .default: seccomp = SeccompProfile.defaultCompiled(capMask: mask)
        case .profile(let p):
            guard let text = Sys.readFile(p, limit: 4 << 20) else {
                throw HutchError("cannot read the seccomp profile \(p): \(errnoString(errno))")
            }
            do { seccomp = try SeccompProfile.compile(json: text, capMask: mask) } catch let e as HutchError {
                throw HutchError("\(p): \(e.message)")
            }
        }
        s.cgroups = Cgroups.paths(for: id, version: Cgroups.detect(), parent: s.cgroupParent).values.sorted()
        return (s, seccomp)
    }

    /// The shim's cache of built seccomp programs (one small file per distinct profile).
    var seccompCache: String { store.root + "/seccomp-cache" }

    static func isDirectory(_ p: String) -> Bool {
        var st = stat()
        return stat(p, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// After the container's folder exists: the cgroup (limits written) and the seccomp file.
    /// Adds the undo steps. Returns the shim's options.
    func startSandbox(_ s: inout Sandbox, seccomp: String?, id: String, dir: String, undo: inout Undo) throws -> ShimSandbox {
        let scratch = dir + "/overlay"
        if s.rootfsOverlay || s.isHostImage {
            // The mount point of the overlay's tmpfs (upper and work layers), which exists only in
            // the container's mount namespace.
            try Sys.mkdirs(scratch, mode: 0o700)
        }
        let sshKeys = s.isHostImage ? (Sys.directoryEntries("/etc/ssh") ?? []).map(\.name).filter { $0.hasSuffix("_key") } : []
        var out = s.shimView(scratch: scratch, stateRoot: store.root, sshKeys: sshKeys)
        if let text = seccomp {
            try Sys.writeFile(dir + "/seccomp", text, mode: 0o600, atomic: false)
            out.seccomp = dir + "/seccomp"
            out.seccompCache = seccompCache
        }
        let limits = s.limits
        do {
            s.cgroups = try Cgroups.create(id: id, limits: limits, parent: s.cgroupParent)
        } catch {
            // Without limits the cgroup only serves accounting: a host where hutch cannot make
            // one still runs containers.
            if !limits.isEmpty { throw error }
            s.cgroups = []
        }
        let dirs = s.cgroups
        undo.add("remove the cgroup") { if !Cgroups.remove(dirs).isEmpty { throw HutchError("cgroup \(dirs.joined(separator: ", ")) still busy") } }
        out.cgroups = s.cgroups
        return out
    }

    /// The sandbox's kernel state (its cgroups) once the container's processes are gone: records
    /// whether the OOM killer struck, then removes them. Idempotent.
    func stopSandbox(_ c: ContainerRecord) throws -> Bool {
        let dirs = c.sandbox.cgroups
        if dirs.isEmpty { return false }
        let oom = Cgroups.oomKilled(dirs)
        let left = Cgroups.remove(dirs)
        // A record of an earlier boot: the reboot took its cgroups; what is there now is not its.
        if !left.isEmpty && c.bootId == Sys.bootID { throw HutchError("cannot remove the cgroup \(left.joined(separator: ", ")): it still has processes") }
        return oom
    }

    /// `hutch gc`: hutch cgroups whose container has no record in this store and no process.
    /// Cgroups are host-wide and other state roots make theirs too: one that another root's
    /// `hutch run` has just made is empty until its shim moves the first process in. So a cgroup
    /// modified less than `Cgroups.sweepAge` ago is left alone (a container being created, of
    /// this root or another), and one with processes is never touched (rmdir refuses it anyway).
    func sweepCgroups(ids: Set<String>) -> [String] {
        var report: [String] = []
        let now = time(nil)
        for (id, dirs) in Cgroups.all() where !ids.contains(id) && !Cgroups.hasChildren(dirs) {
            let young = dirs.contains { d in Cgroups.modified(d).map { now - $0 < Cgroups.sweepAge } ?? true }
            if young { continue }
            let empty = dirs.allSatisfy { (Sys.readFile($0 + "/cgroup.procs") ?? "x").isEmpty }
            if empty && Cgroups.remove(dirs).isEmpty { report.append("cgroup of vanished container \(id.prefix(12)) removed") }
        }
        return report
    }

    /// `exec`'s share of the sandbox: the same user, seccomp profile and cgroups.
    func execSandbox(_ c: ContainerRecord) -> ShimSandbox {
        var out = ShimSandbox()
        let s = c.sandbox
        if let u = s.uid { out.user = "\(u):\(s.gid ?? 0)" }
        out.groups = s.groups
        let f = containerDir(c.id) + "/seccomp"
        if access(f, R_OK) == 0 { out.seccomp = f; out.seccompCache = seccompCache }
        out.cgroups = s.cgroups
        return out
    }
}
