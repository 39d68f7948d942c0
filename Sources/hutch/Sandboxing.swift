import HutchModel
import HutchCLI
import HutchOS

/// `hutch run`'s sandbox flags (issue 18), Docker's and Podman's names.
enum Sandboxing {
    static let readOnly = CLIOption.flag("--read-only", "Mount the container's root file system read-only (writes go to --tmpfs or volumes).")
    static let tmpfs = CLIOption.list("--tmpfs", "Mount a private tmpfs: PATH[:size=64m,mode=1777,...] (writable even with --read-only).", as: "path")
    static let volume = CLIOption.list("-v, --volume", "Bind a host directory or file: HOST-PATH:CONTAINER-PATH[:ro|rw].", as: "spec")
    static let mount = CLIOption.list("--mount", "type=bind,source=HOST,target=PATH[,readonly] or type=tmpfs,target=PATH[,tmpfs-size=64m].", as: "spec")
    static let rootfs = CLIOption.value("--rootfs", "Run in DIR as the root file system (DIR:O: a private overlay on top, DIR never changed).", as: "dir")
    static let hostRW = CLIOption.flag("--host-rw", "Share the host's file system as it is, writable (no private overlay, /tmp or masked secrets): the container's writes change the host.")
    static let user = CLIOption.value("-u, --user", "Run as NAME|UID[:GROUP|GID] (names from the container's /etc/passwd).", as: "user")
    static let groupAdd = CLIOption.list("--group-add", "An extra group (name or gid).", as: "group")
    static let securityOpt = CLIOption.list("--security-opt", "seccomp=unconfined or seccomp=PROFILE.json (Docker's format).", as: "opt")
    static let memory = CLIOption.value("-m, --memory", "Memory limit (e.g. 512m, 2g); past it the kernel's OOM killer kills.", as: "bytes")
    static let memorySwap = CLIOption.value("--memory-swap", "Memory plus swap limit (-1: unlimited swap; default: twice --memory).", as: "bytes")
    static let cpus = CLIOption.value("--cpus", "CPU quota in CPUs (e.g. 0.5).", as: "number")
    static let cpuShares = CLIOption.value("-c, --cpu-shares", "Relative CPU weight (default 1024).", as: "int")
    static let pidsLimit = CLIOption.value("--pids-limit", "Maximum number of processes (-1: unlimited).", as: "int")

    static let options = [readOnly, tmpfs, volume, mount, rootfs, hostRW, user, groupAdd, securityOpt, memory, memorySwap, cpus, cpuShares, pidsLimit]

    static func parse(_ a: CLIValues, privileged: Bool) throws -> Sandbox {
        var s = Sandbox()
        s.readOnly = a.flag(readOnly)
        s.tmpfs = try a.list(tmpfs).map { try Sandbox.Tmpfs.parse($0) }
        s.volumes = try a.list(volume).map { try Sandbox.Volume.parse($0) }
        for m in try a.list(mount).map({ try Sandbox.Mount.parse($0) }) {
            switch m {
            case .bind(let v): s.volumes.append(v)
            case .tmpfs(let t): s.tmpfs.append(t)
            }
        }
        if var r = a.value(rootfs) {
            if r.hasSuffix(":O") { r.removeLast(2); s.rootfsOverlay = true }
            s.rootfs = r
        }
        s.hostRW = a.flag(hostRW)
        s.user = a.value(user)
        s.groupAdd = a.list(groupAdd)
        s.privileged = privileged
        if privileged { s.seccomp = .unconfined }
        for o in a.list(securityOpt) {
            if o == "seccomp=unconfined" || o == "seccomp:unconfined" { s.seccomp = .unconfined }
            else if o.hasPrefix("seccomp=") || o.hasPrefix("seccomp:") { s.seccomp = .profile(String(o.dropFirst(8))) }
            else if o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true" { continue }
            else { throw HutchError("unsupported --security-opt \"\(o)\": use seccomp=unconfined or seccomp=PROFILE.json") }
        }
        s.limits = try limits(a)
        return s
    }

    /// The cgroup limits, of `run` and `pod create`.
    static let limitOptions = [memory, memorySwap, cpus, cpuShares, pidsLimit]

    static func limits(_ a: CLIValues) throws -> Sandbox.Limits {
        var l = Sandbox.Limits()
        if let m = a.value(memory) { l.memory = try Sandbox.Limits.bytes(m, flag: "--memory") }
        if let m = a.value(memorySwap) {
            l.memorySwap = m == "-1" ? -1 : try Sandbox.Limits.bytes(m, flag: "--memory-swap")
        }
        if let c = a.value(cpus) { l.nanoCpus = try Sandbox.Limits.nanoCPUs(c) }
        if let c = a.value(cpuShares) { l.cpuShares = try Sandbox.Limits.integer(c, flag: "--cpu-shares", min: 2) }
        if let p = a.value(pidsLimit) {
            let n = try Sandbox.Limits.integer(p, flag: "--pids-limit", min: -1)
            l.pidsLimit = n == 0 ? nil : n
        }
        return l
    }
}
