import HutchOS
/// How a container's network is provided, in Docker's `--network` vocabulary.
public enum NetworkMode: Equatable, Sendable, CustomStringConvertible {
    /// A veth on a hutch bridge network ("bridge" is the default network, hutch0).
    case bridge(String)
    /// The caller's own network namespace.
    case host
    /// A new network namespace with only `lo`.
    case none
    /// The network namespace of another container (by name or id).
    case container(String)

    public init(parsing s: String) throws {
        switch s {
        case "bridge", "default": self = .bridge("bridge")
        case "host": self = .host
        case "none": self = .none
        default:
            if s.hasPrefix("container:") {
                let ref = String(s.dropFirst("container:".count))
                guard !ref.isEmpty else { throw HutchError("invalid --network \"\(s)\": container: needs a container name or id") }
                self = .container(ref)
            } else if Validate.isName(s) {
                self = .bridge(s)
            } else {
                throw HutchError("invalid --network \"\(s)\": use bridge, host, none, container:NAME or a network name")
            }
        }
    }

    public var description: String {
        switch self {
        case .bridge(let n): return n
        case .host: return "host"
        case .none: return "none"
        case .container(let c): return "container:\(c)"
        }
    }
}

public enum ContainerStatus: String, Sendable {
    case created, running, exited
}

extension PortMapping {
    /// `tcp/0.0.0.0/8080/80`: a mapping as a container record keeps it.
    public var stored: String { "\(proto.rawValue)/\(hostIPString)/\(hostPort)/\(containerPort)" }

    public init?(stored s: String) {
        let f = s.split(separator: "/")
        guard f.count == 4, let p = Proto(rawValue: String(f[0])), let hp = UInt16(f[2]), let cp = UInt16(f[3]) else { return nil }
        let ip = f[1] == "0.0.0.0" ? nil : IPv4Address(String(f[1]))
        self.init(hostIP: ip, hostPort: hp, containerPort: cp, proto: p)
    }
}

/// One row of the `containers` table: everything hutch knows about a container.
public struct ContainerRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var command: [String]
    public var hostname: String
    public var env: [String]
    public var workdir: String
    /// `NetworkMode.description` as the user gave it, e.g. "bridge" or "container:web".
    public var networkMode: String
    /// The bridge network the container is attached to (bridge mode only).
    public var network: String?
    public var ipAddress: IPv4Address?
    public var macAddress: String?
    public var hostVeth: String?
    /// Id of the container whose namespaces this one joined (container mode).
    public var joinedId: String?
    public var autoRemove: Bool
    public var detached: Bool
    public var useInit: Bool
    public var capMask: String?
    public var noNewPrivs: Bool
    public var status: ContainerStatus
    /// The shim (monitor) process and the container's PID 1, each with its start time so a
    /// recycled pid is never mistaken for ours.
    public var shimPid: Int32
    public var shimStart: UInt64
    public var pid: Int32
    public var pidStart: UInt64
    public var exitCode: Int32?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var bootId: String
    /// The pod this container belongs to (its id), if any.
    public var pod: String? = nil
    /// The pod's infra (pause) container, which holds the pod's namespaces.
    public var isInfra: Bool = false
    /// `--network-alias` names (user-defined networks only).
    public var aliases: [String] = []
    /// `--label` / `--label-file` (set after init).
    public var labels = Labels()
    /// `--add-host` entries, `NAME:IP` (set after init).
    public var extraHosts: [String] = []
    /// `--dns` nameservers (set after init).
    public var dns: [String] = []
    /// The sandbox it runs in (set after init).
    public var sandbox = Sandbox()
    /// `--restart` (set after init), and how often the shim restarted it since it was started.
    public var restartPolicy = RestartPolicy.no
    public var restartCount = 0
    /// Its command exited and the shim waits to start it again (Docker's "restarting": the
    /// status stays `running`, the monitor is alive, the process is not).
    public var restarting = false
    /// `-t` and `-di`: how its stdio is set up again by `hutch start`.
    public var tty = false
    public var openStdin = false
    /// The host ports it was given (`-p`), reserved again by `hutch start`.
    public var published: [PortMapping] = []
    /// The networks it had joined with `network connect` when it last stopped, joined again by
    /// `hutch start`: `NETWORK/ADDRESS/ALIAS,ALIAS`.
    public var connected: [String] = []

    public var shortId: String { String(id.prefix(12)) }

    public init(id: String, name: String, command: [String], hostname: String, env: [String], workdir: String, networkMode: String, network: String? = nil, ipAddress: IPv4Address? = nil, macAddress: String? = nil, hostVeth: String? = nil, joinedId: String? = nil, autoRemove: Bool, detached: Bool, useInit: Bool, capMask: String? = nil, noNewPrivs: Bool, status: ContainerStatus, shimPid: Int32, shimStart: UInt64, pid: Int32, pidStart: UInt64, exitCode: Int32? = nil, createdAt: String, startedAt: String? = nil, finishedAt: String? = nil, bootId: String, pod: String? = nil, isInfra: Bool = false, aliases: [String] = []) {
        self.id = id; self.name = name; self.command = command; self.hostname = hostname; self.env = env; self.workdir = workdir; self.networkMode = networkMode; self.network = network; self.ipAddress = ipAddress; self.macAddress = macAddress; self.hostVeth = hostVeth; self.joinedId = joinedId; self.autoRemove = autoRemove; self.detached = detached; self.useInit = useInit; self.capMask = capMask; self.noNewPrivs = noNewPrivs; self.status = status; self.shimPid = shimPid; self.shimStart = shimStart; self.pid = pid; self.pidStart = pidStart; self.exitCode = exitCode; self.createdAt = createdAt; self.startedAt = startedAt; self.finishedAt = finishedAt; self.bootId = bootId; self.pod = pod; self.isInfra = isInfra; self.aliases = aliases
    }
}

/// A pod: a pause process (the infra container) holding net/uts/ipc namespaces that member
/// containers join, as Kubernetes does with its pause container.
public struct PodRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var hostname: String
    public var infraId: String
    public var createdAt: String
    /// While `pod create` runs, the creating CLI (pid + start time); 0 once the pod is complete.
    /// A pod whose creator died half-way is undone by the next command that looks at pods.
    public var ownerPid: Int32 = 0
    public var ownerStart: UInt64 = 0
    /// `pod create --label` / `--label-file` (set after init).
    public var labels = Labels()
    /// `pod create --memory`, `--cpus`, ...: the limits of the pod's cgroup (set after init).
    public var limits = Sandbox.Limits()

    public var shortId: String { String(id.prefix(12)) }

    public init(id: String, name: String, hostname: String, infraId: String, createdAt: String, ownerPid: Int32 = 0, ownerStart: UInt64 = 0) {
        self.id = id; self.name = name; self.hostname = hostname; self.infraId = infraId; self.createdAt = createdAt; self.ownerPid = ownerPid; self.ownerStart = ownerStart
    }
}

/// A bridge network known to hutch.
public struct NetworkRecord: Sendable, Equatable {
    public var name: String
    public var id: String
    public var bridge: String
    public var subnet: CIDRv4
    public var gateway: IPv4Address
    public var isInternal: Bool
    /// The last address handed out, so allocation goes round-robin (like host-local) and a
    /// just-released address is not re-used at once.
    public var lastIP: IPv4Address?
    public var createdAt: String
    /// The MTU of its containers' interfaces (0: the kernel's default). Set on the default
    /// network of a cluster node whose pod network is vxlan.
    public var mtu: Int

    public init(name: String, id: String, bridge: String, subnet: CIDRv4, gateway: IPv4Address, isInternal: Bool, lastIP: IPv4Address? = nil, createdAt: String, mtu: Int = 0) {
        self.name = name; self.id = id; self.bridge = bridge; self.subnet = subnet; self.gateway = gateway; self.isInternal = isInternal; self.lastIP = lastIP; self.createdAt = createdAt
        self.mtu = mtu
    }
}
