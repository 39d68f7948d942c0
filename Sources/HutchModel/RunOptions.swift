import HutchOS
/// What `hutch run` was asked to do, validated.
public struct RunOptions: Sendable {
    public var name: String?
    public var hostname: String?
    public var network: NetworkMode = .bridge("bridge")
    /// Whether --network was given (so `--pod` can refuse it even when it names the default).
    public var networkGiven = false
    public var env: [String] = []
    public var workdir: String?
    public var detach = false
    /// `-i`: the container's stdin is the caller's (otherwise /dev/null, as Docker's is empty).
    public var interactive = false
    /// `-t`: the container's stdio is a pseudo-terminal of its own.
    public var tty = false
    public var autoRemove = false
    /// `--restart`: carried out by the detached container's monitor.
    public var restart = RestartPolicy.no
    public var useInit = true
    /// Docker's default capability set (CapEff/CapBnd 00000000a80425fb); nil keeps all (privileged).
    public var capMask: String? = Capabilities.hex(Capabilities.dockerDefault)
    public var noNewPrivs = true
    /// `-p` values, parsed (ranges expanded); host ports 0 are picked at reservation.
    public var publish: [PublishSpec.Parsed] = []
    /// `--ip`: a static address on a user-defined network.
    public var ip: IPv4Address?
    /// `--network-alias`: extra names on a user-defined network.
    public var aliases: [String] = []
    /// `--pod NAME`: join the pod's net, uts and ipc namespaces.
    public var pod: String?
    /// `--label`, `--label-file`.
    public var labels = Labels()
    /// `--replace`: remove a container of the same name first (force).
    public var replace = false
    /// `--expose` ports, published on free host ports with `-P` (added to `publish` by `validate`'s caller).
    public var exposed: [PortMapping] = []
    public var publishAll = false
    /// `--add-host NAME:IP` lines for /etc/hosts.
    public var extraHosts: [ExtraHost] = []
    /// `--dns`: nameservers for /etc/resolv.conf (instead of the host's).
    public var dns: [IPv4Address] = []
    /// Internal: this is a pod's infra container (PID 1 is a pause process, no command).
    package var infraOf: PodRecord?
    public var command: [String] = []
    /// Issue 18: file system view, user, seccomp, cgroup limits.
    public var sandbox = Sandbox()
    public init() {}

    /// Checks every option on its own and against the others, before anything is created: one
    /// line naming the flag and the value, exit 125.
    public func validate() throws {
        guard !command.isEmpty || infraOf != nil else {
            throw HutchError("run needs a command: hutch run [OPTIONS] -- COMMAND [ARG...]")
        }
        if let n = name { try Validate.name(n) }
        if restart.name != .no {
            if autoRemove { throw HutchError("--restart \(restart) cannot be used with --rm: a container that is removed when it exits cannot be restarted") }
            if !detach { throw HutchError("--restart \(restart) needs -d: the restart policy is carried out by a detached container's monitor") }
            if pod == nil, case .container = network {
                throw HutchError("--restart \(restart) cannot be used with --network container:...: the other container's namespaces may be gone by the time it restarts (use a pod)")
            }
        }
        if replace && name == nil { throw HutchError("--replace needs --name: it replaces the container of that name") }
        if let h = hostname { try Validate.hostname(h) }
        if let w = workdir { try Validate.workdir(w) }
        for e in env { try Validate.envEntry(e) }
        if pod != nil {
            if !publish.isEmpty { throw HutchError("-p/--publish cannot be used with --pod: publish ports on the pod (hutch pod create -p ...)") }
            if networkGiven || network != .bridge("bridge") { throw HutchError("--network cannot be used with --pod: the container joins the pod's network") }
            if hostname != nil { throw HutchError("--hostname cannot be used with --pod: the pod's containers share its hostname") }
            if ip != nil || !aliases.isEmpty { throw HutchError("--ip and --network-alias cannot be used with --pod: the container shares the pod's address") }
        }
        if !extraHosts.isEmpty || !dns.isEmpty {
            let flag = extraHosts.isEmpty ? "--dns" : "--add-host"
            if pod != nil { throw HutchError("\(flag) cannot be used with --pod: the pod's containers share its /etc files") }
            switch network {
            case .host: throw HutchError("\(flag) cannot be used with --network host: the container uses the host's /etc/hosts and /etc/resolv.conf")
            case .container: throw HutchError("\(flag) cannot be used with --network container:...: the container shares the other's /etc files")
            case .bridge, .none: break
            }
            if extraHosts.contains(where: { $0.address == nil }), network == .none {
                throw HutchError("--add-host NAME:host-gateway needs a bridge network: with --network none there is no gateway")
            }
        }
        if case .container = network, hostname != nil {
            throw HutchError("conflicting options: --hostname and --network container:... (the container shares the other's UTS namespace)")
        }
        if !publish.isEmpty {
            switch network {
            case .bridge: break
            case .host: throw HutchError("-p/--publish cannot be used with --network host: the container already uses the host's ports")
            case .none: throw HutchError("-p/--publish cannot be used with --network none: the container has no network to publish from")
            case .container: throw HutchError("-p/--publish cannot be used with --network container:...: publish the ports on the container that owns the network")
            }
        }
        for a in aliases { try Validate.hostname(a, flag: "--network-alias") }
        try sandbox.validate()
        if ip != nil || !aliases.isEmpty {
            guard case .bridge(let n) = network, n != "bridge", pod == nil else {
                throw HutchError("--ip and --network-alias need a user-defined network (hutch network create NAME, then --network NAME)")
            }
        }
    }
}

extension RunOptions {
    /// Docker's check for `-it` (run and exec): attaching a terminal needs one on the caller's
    /// stdin. `-t` alone, or detached, needs none.
    public static func checkTerminal(interactive: Bool, tty: Bool, detach: Bool, stdinIsTerminal: Bool) throws {
        if interactive && tty && !detach && !stdinIsTerminal {
            throw HutchError("the input device is not a TTY")
        }
    }
}
