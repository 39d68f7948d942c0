/// The shim's command lines (docs/shim-protocol.md), as values: what `hutch-shim run` and
/// `hutch-shim exec` are asked to do, rendered to argv in one place next to the launcher.
/// Golden-tested (ShimArgumentsTests); plain strings only, no hutch types.
public struct ShimRunSpec: Equatable, Sendable {
    /// A namespace to create, to keep (the caller's), or to join (a /proc/PID/ns/… path).
    public enum Namespace: Equatable, Sendable {
        case new, host, join(String)
        var argument: String {
            switch self {
            case .new: return "new"
            case .host: return "host"
            case .join(let path): return path
            }
        }
    }
    /// What runs as the container's PID 1: the command itself, hutch's tiny init that execs it,
    /// or the pause process (a pod's infra container; no command).
    public enum PID1: Equatable, Sendable { case command, initProcess, pause }

    public var net: Namespace = .new
    /// nil: the shim's default (a new UTS namespace).
    public var uts: Namespace?
    /// nil: the shim's default (a new IPC namespace).
    public var ipc: Namespace?
    /// Set only with a new UTS namespace.
    public var hostname: String?
    /// `SRC:DST` bind mounts (generated /etc files).
    public var binds: [String] = []
    public var workdir: String = "/"
    public var env: [String] = []
    /// More `KEY=VALUE` lines after `env` (the services' variables); `env`'s keys win.
    public var envFile: String?
    public var pid1: PID1 = .command
    /// `-t`: the container's stdio is a pseudo-terminal whose master the shim holds.
    public var tty = false
    /// `-di` without `-t`: the container's stdin is a pipe the shim keeps open.
    public var openStdin = false
    /// Capability mask (hex); nil: the shim keeps the caller's.
    public var caps: String?
    public var noNewPrivs = false
    public var exitFile: String?
    /// Detached: the log file and a new session; the shim stays as the container's monitor.
    public var log: String?
    public var detach = false
    /// Run by the shim after the container exited (hutch's cleanup).
    public var exitCommand: [String] = []
    /// `--restart`: the policy as Docker writes it (`on-failure:2`); nil or `no`: none. The shim
    /// runs `restartCommand` + [EVENT, VALUE] around each restart, and restarts no more once
    /// `stopFile` exists.
    public var restart: String?
    public var stopFile: String?
    public var restartCommand: [String] = []
    public var command: [String] = []
    /// The sandbox (issue 18): file system view, user, seccomp, cgroups.
    public var sandbox = ShimSandbox()

    public init() {}

    /// The variables the shim is started with: the container's environment entries, each under
    /// the name its `--env NAME` argument gives (see `shimEnvironment`).
    public var environment: [(String, String)] { shimEnvironment(env) }

    /// The argument list after the shim's path.
    public var arguments: [String] {
        var a = ["run", "--netns", net.argument]
        if let u = uts { a += ["--uts", u.argument] }
        if let i = ipc { a += ["--ipc", i.argument] }
        if let h = hostname { a += ["--hostname", h] }
        for b in binds { a += ["--bind", b] }
        a += ["--workdir", workdir]
        for name in shimEnvNames(env.count) { a += ["--env", name] }
        if let f = envFile { a += ["--env-file", f] }
        switch pid1 {
        case .command: break
        case .initProcess: a.append("--init")
        case .pause: a.append("--pause")
        }
        if tty { a.append("--tty") } else if openStdin { a.append("--open-stdin") }
        if let c = caps { a += ["--caps", c] }
        if noNewPrivs { a.append("--no-new-privs") }
        if let f = exitFile { a += ["--exit-file", f] }
        if let l = log { a += ["--log", l] }
        if detach { a.append("--detach") }
        for x in exitCommand { a += ["--exit-cmd", x] }
        if let r = restart, r != "no" {
            a += ["--restart", r]
            if let f = stopFile { a += ["--stop-file", f] }
            for x in restartCommand { a += ["--restart-cmd", x] }
        }
        a += sandbox.runArguments
        if pid1 != .pause { a += ["--"] + command }
        return a
    }
}

/// `hutch-shim exec`: a command joining a running container's namespaces.
public struct ShimExecSpec: Equatable, Sendable {
    public var pid: Int32
    public var workdir: String
    public var env: [String] = []
    /// See `ShimRunSpec.envFile`.
    public var envFile: String?
    public var caps: String?
    public var noNewPrivs = false
    /// `exec -t`: a pseudo-terminal from the container's own devpts.
    public var tty = false
    public var command: [String]
    /// The container's user, seccomp profile and cgroups (its file system view is joined).
    public var sandbox = ShimSandbox()

    public init(pid: Int32, workdir: String, command: [String]) {
        self.pid = pid; self.workdir = workdir; self.command = command
    }

    /// The variables the shim is started with (see `ShimRunSpec.environment`).
    public var environment: [(String, String)] { shimEnvironment(env) }

    public var arguments: [String] {
        var a = ["exec", "--pid", String(pid), "--workdir", workdir]
        for name in shimEnvNames(env.count) { a += ["--env", name] }
        if let f = envFile { a += ["--env-file", f] }
        if let c = caps { a += ["--caps", c] }
        if noNewPrivs { a.append("--no-new-privs") }
        if tty { a.append("--tty") }
        a += sandbox.processArguments
        return a + ["--"] + command
    }
}

/// The container's environment goes to the shim through the shim's own environment, not its
/// command line: `--env HUTCH_SHIM_ENV_3` names the variable whose value is the entry `KEY=VALUE`.
/// A command line is readable by every local user (ps, /proc/PID/cmdline) for as long as a
/// detached container's shim runs; /proc/PID/environ only by its owner.
func shimEnvNames(_ n: Int) -> [String] { (0..<n).map { "HUTCH_SHIM_ENV_\($0)" } }

func shimEnvironment(_ entries: [String]) -> [(String, String)] { Array(zip(shimEnvNames(entries.count), entries)) }
/// The shim's sandbox options (docs/shim-protocol.md), shared by `run` and `exec`.
public struct ShimSandbox: Equatable, Sendable {
    public var readOnly = false
    public var rootfs: String?
    /// A directory for the private overlay's tmpfs (`--rootfs DIR:O`).
    public var rootfsOverlay: String?
    /// With `rootfs` "/" and an overlay: the host's other file systems bound read-only.
    public var hostSubmounts = false
    /// `--tmpfs PATH[:OPTS]` or `--volume SRC:DST:ro|rw`, parents first.
    public enum Mount: Equatable, Sendable { case tmpfs(String), volume(String) }
    public var mounts: [Mount] = []
    public var masked: [String] = []
    public var readOnlyPaths: [String] = []
    /// `UID:GID` and supplementary gids.
    public var user: String?
    public var groups: [UInt32] = []
    /// The compiled seccomp profile's path.
    public var seccomp: String?
    /// Where the shim keeps the BPF programs it built, by profile (the next run skips libseccomp).
    public var seccompCache: String?
    public var cgroups: [String] = []
    public init() {}

    var runArguments: [String] {
        var a: [String] = []
        if readOnly { a.append("--read-only") }
        if let r = rootfs { a += ["--rootfs", r] }
        if let o = rootfsOverlay { a += ["--rootfs-overlay", o] }
        if hostSubmounts { a.append("--host-submounts") }
        for m in mounts {
            switch m {
            case .tmpfs(let t): a += ["--tmpfs", t]
            case .volume(let v): a += ["--volume", v]
            }
        }
        for p in masked { a += ["--mask", p] }
        for p in readOnlyPaths { a += ["--readonly-path", p] }
        return a + processArguments
    }

    var processArguments: [String] {
        var a: [String] = []
        if let u = user { a += ["--user", u] }
        if !groups.isEmpty { a += ["--groups", groups.map(String.init).joined(separator: ",")] }
        if let s = seccomp { a += ["--seccomp", s] }
        if seccomp != nil, let c = seccompCache { a += ["--seccomp-cache", c] }
        for c in cgroups { a += ["--cgroup", c] }
        return a
    }
}
