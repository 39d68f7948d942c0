/// `hutch inspect` output, shaped like Docker's where the fields overlap.
public struct ContainerJSON {
    public struct StateInfo {
        var Status: String
        var Running: Bool
        var Pid: Int32
        var ExitCode: Int32
        var StartedAt: String
        var FinishedAt: String
    }
    public struct ConfigInfo {
        var Hostname: String
        var Env: [String]
        var Cmd: [String]
        var WorkingDir: String
    }
    public struct HostConfigInfo {
        var NetworkMode: String
        var AutoRemove: Bool
        var Init: Bool
    }
    public struct PortBinding: Equatable {
        var HostIp: String
        var HostPort: String
    }
    public struct NetworkSettingsInfo {
        var IPAddress: String
        var IPPrefixLen: Int
        var Gateway: String
        var MacAddress: String
        var SandboxKey: String
        var Ports: [String: [PortBinding]?]
    }
    var Id: String
    var Created: String
    var Path: String
    var Args: [String]
    var State: StateInfo
    var Name: String
    var LogPath: String
    var Config: ConfigInfo
    var HostConfig: HostConfigInfo
    var NetworkSettings: NetworkSettingsInfo

    public init(_ c: ContainerRecord, network: NetworkRecord?, ports: [PortMapping], logPath: String) {
        let running = c.status == .running
        Id = c.id
        Created = c.createdAt
        Path = c.command.first ?? ""
        Args = Array(c.command.dropFirst())
        State = .init(Status: c.status.rawValue, Running: running, Pid: running ? c.pid : 0, ExitCode: c.exitCode ?? 0,
                      StartedAt: c.startedAt ?? "0001-01-01T00:00:00Z", FinishedAt: c.finishedAt ?? "0001-01-01T00:00:00Z")
        Name = c.name
        LogPath = c.detached ? logPath : ""
        Config = .init(Hostname: c.hostname, Env: c.env, Cmd: c.command, WorkingDir: c.workdir)
        HostConfig = .init(NetworkMode: c.networkMode, AutoRemove: c.autoRemove, Init: c.useInit)
        let attached = running && c.ipAddress != nil
        NetworkSettings = .init(
            IPAddress: attached ? c.ipAddress ?? "" : "",
            IPPrefixLen: attached ? (network.flatMap { CIDRv4($0.subnet)?.prefix } ?? 0) : 0,
            Gateway: attached ? network?.gateway ?? "" : "",
            MacAddress: attached ? c.macAddress ?? "" : "",
            SandboxKey: running ? "/proc/\(c.pid)/ns/net" : "",
            Ports: running ? Self.dockerPorts(ports) : [:])
    }

    /// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, as Docker shows bindings.
    static func dockerPorts(_ ports: [PortMapping]) -> [String: [PortBinding]?] {
        var out: [String: [PortBinding]?] = [:]
        for m in ports {
            let key = "\(m.containerPort)/\(m.proto.rawValue)"
            let b = PortBinding(HostIp: m.hostIPString, HostPort: String(m.hostPort))
            out[key] = ((out[key] ?? nil) ?? []) + [b]
        }
        return out
    }

    /// A pretty-printed JSON array, as `docker inspect` prints.
    public static func render(_ items: [any JSONConvertible]) -> String {
        JSON.array(items.map(\.json)).render(pretty: true)
    }
}

/// A value shown as JSON by an `inspect` command.
public protocol JSONConvertible {
    var json: JSON { get }
}

extension ContainerJSON: JSONConvertible {
    static func ports(_ p: [String: [PortBinding]?]) -> JSON {
        .object(p.mapValues { b in b.map { .array($0.map { .object(["HostIp": .string($0.HostIp), "HostPort": .string($0.HostPort)]) }) } ?? .null })
    }

    public var json: JSON {
        .object([
            "Id": .string(Id), "Created": .string(Created), "Path": .string(Path), "Args": .strings(Args),
            "State": .object([
                "Status": .string(State.Status), "Running": .bool(State.Running), "Pid": .int(Int64(State.Pid)),
                "ExitCode": .int(Int64(State.ExitCode)), "StartedAt": .string(State.StartedAt),
                "FinishedAt": .string(State.FinishedAt),
            ]),
            "Name": .string(Name), "LogPath": .string(LogPath),
            "Config": .object([
                "Hostname": .string(Config.Hostname), "Env": .strings(Config.Env), "Cmd": .strings(Config.Cmd),
                "WorkingDir": .string(Config.WorkingDir),
            ]),
            "HostConfig": .object([
                "NetworkMode": .string(HostConfig.NetworkMode), "AutoRemove": .bool(HostConfig.AutoRemove),
                "Init": .bool(HostConfig.Init),
            ]),
            "NetworkSettings": .object([
                "IPAddress": .string(NetworkSettings.IPAddress), "IPPrefixLen": .int(Int64(NetworkSettings.IPPrefixLen)),
                "Gateway": .string(NetworkSettings.Gateway), "MacAddress": .string(NetworkSettings.MacAddress),
                "SandboxKey": .string(NetworkSettings.SandboxKey), "Ports": Self.ports(NetworkSettings.Ports),
            ]),
        ])
    }
}

/// `hutch pod inspect` output (Podman's field names where they overlap).
public struct PodJSON {
    public struct Member {
        var Id: String
        var Name: String
        var State: String
    }
    var Id: String
    var Name: String
    var Created: String
    var State: String
    var Hostname: String
    var InfraContainerID: String
    var InfraPid: Int32
    var IPAddress: String
    var NetworkMode: String
    var Ports: [String: [ContainerJSON.PortBinding]?]
    var Containers: [Member]

    public init(_ p: PodRecord, status: String, infra: ContainerRecord?, ports: [PortMapping], members: [ContainerRecord]) {
        let running = infra?.status == .running
        Id = p.id
        Name = p.name
        Created = p.createdAt
        State = status
        Hostname = p.hostname
        InfraContainerID = p.infraId
        InfraPid = running ? infra?.pid ?? 0 : 0
        IPAddress = running ? infra?.ipAddress ?? "" : ""
        NetworkMode = infra?.networkMode ?? ""
        Ports = running ? ContainerJSON.dockerPorts(ports) : [:]
        Containers = members.map { Member(Id: $0.id, Name: $0.name, State: $0.status.rawValue) }
    }
}

/// `hutch network inspect` output, shaped like Docker's.
public struct NetworkJSON {
    public struct IPAMConfig { var Subnet: String; var Gateway: String }
    public struct IPAMInfo { var Driver: String; var Config: [IPAMConfig] }
    public struct Endpoint { var Name: String; var IPv4Address: String; var MacAddress: String }
    var Name: String
    var Id: String
    var Created: String
    var Driver: String
    var IPAM: IPAMInfo
    var Internal: Bool
    var Options: [String: String]
    var Containers: [String: Endpoint]

    public init(_ n: NetworkRecord, members: [(id: String, name: String, ip: String, mac: String)]) {
        Name = n.name
        Id = n.id
        Created = n.createdAt
        Driver = "bridge"
        IPAM = IPAMInfo(Driver: "default", Config: [IPAMConfig(Subnet: n.subnet, Gateway: n.gateway)])
        Internal = n.isInternal
        Options = ["com.docker.network.bridge.name": n.bridge]
        let prefix = CIDRv4(n.subnet)?.prefix ?? 32
        var c: [String: Endpoint] = [:]
        for m in members { c[m.id] = Endpoint(Name: m.name, IPv4Address: "\(m.ip)/\(prefix)", MacAddress: m.mac) }
        Containers = c
    }
}

extension PodJSON: JSONConvertible {
    public var json: JSON {
        .object([
            "Id": .string(Id), "Name": .string(Name), "Created": .string(Created), "State": .string(State),
            "Hostname": .string(Hostname), "InfraContainerID": .string(InfraContainerID), "InfraPid": .int(Int64(InfraPid)),
            "IPAddress": .string(IPAddress), "NetworkMode": .string(NetworkMode), "Ports": ContainerJSON.ports(Ports),
            "Containers": .array(Containers.map { .object(["Id": .string($0.Id), "Name": .string($0.Name), "State": .string($0.State)]) }),
        ])
    }
}

extension NetworkJSON: JSONConvertible {
    public var json: JSON {
        .object([
            "Name": .string(Name), "Id": .string(Id), "Created": .string(Created), "Driver": .string(Driver),
            "IPAM": .object([
                "Driver": .string(IPAM.Driver),
                "Config": .array(IPAM.Config.map { .object(["Subnet": .string($0.Subnet), "Gateway": .string($0.Gateway)]) }),
            ]),
            "Internal": .bool(Internal), "Options": .object(Options.mapValues { .string($0) }),
            "Containers": .object(Containers.mapValues {
                .object(["Name": .string($0.Name), "IPv4Address": .string($0.IPv4Address), "MacAddress": .string($0.MacAddress)])
            }),
        ])
    }
}
