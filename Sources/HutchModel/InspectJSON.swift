import HutchOS
/// A value shown as JSON by an `inspect` command.
public protocol JSONConvertible {
    var json: JSON { get }
}

/// `hutch inspect` output, shaped like Docker's where the fields overlap.
public struct ContainerJSON: JSONConvertible {
    public let json: JSON

    /// One network a container is on, for `NetworkSettings.Networks`.
    public struct Endpoint: Sendable {
        public var name: String, address: IPv4Address, network: NetworkRecord?, aliases: [String], iface: String
        public init(name: String, address: IPv4Address, network: NetworkRecord?, aliases: [String], iface: String) {
            self.name = name; self.address = address; self.network = network; self.aliases = aliases; self.iface = iface
        }
        var json: JSON {
            .object(["IPAddress": .string(address.description), "IPPrefixLen": .int(Int64(network?.subnet.prefix ?? 0)),
                     "Gateway": .string(network?.gateway.description ?? ""), "MacAddress": .string(address.derivedMAC),
                     "Aliases": .strings(aliases), "Interface": .string(iface)])
        }
    }

    /// `joined`: the networks it joined with `network connect`; `serviceEnv`: the services'
    /// variables it got that its own environment does not set (they follow `c.env` in `Env`).
    public init(_ c: ContainerRecord, network: NetworkRecord?, ports: [PortMapping], logPath: String, joined: [Endpoint] = [],
                serviceEnv: [String] = []) {
        let running = c.status == .running
        let attached = running && c.ipAddress != nil
        let never = "0001-01-01T00:00:00Z"
        var endpoints: [String: JSON] = [:]
        if attached, let n = c.network, let ip = c.ipAddress {
            endpoints[n] = Endpoint(name: n, address: ip, network: network, aliases: c.aliases, iface: "eth0").json
        }
        if running { for e in joined { endpoints[e.name] = e.json } }
        json = .object([
            "Id": .string(c.id),
            "Created": .string(c.createdAt),
            "Path": .string(c.command.first ?? ""),
            "Args": .strings(Array(c.command.dropFirst())),
            "State": .object([
                "Status": .string(running && c.restarting ? "restarting" : c.status.rawValue),
                "Running": .bool(running),
                "Restarting": .bool(running && c.restarting),
                "Pid": .int(Int64(running && !c.restarting ? c.pid : 0)),
                "ExitCode": .int(Int64(c.exitCode ?? 0)),
                "StartedAt": .string(c.startedAt ?? never),
                "FinishedAt": .string(c.finishedAt ?? never),
                "OOMKilled": .bool(c.sandbox.oomKilled),
            ]),
            "Name": .string(c.name),
            "RestartCount": .int(Int64(c.restartCount)),
            "LogPath": .string(c.detached ? logPath : ""),
            "Config": .object([
                "Hostname": .string(c.hostname), "Env": .strings(c.env + serviceEnv), "Cmd": .strings(c.command),
                "WorkingDir": .string(c.workdir), "Labels": c.labels.json,
                "User": .string(c.sandbox.user ?? ""),
            ]),
            "HostConfig": .object([
                "NetworkMode": .string(c.networkMode), "AutoRemove": .bool(c.autoRemove), "Init": .bool(c.useInit),
                "ExtraHosts": .strings(c.extraHosts), "Dns": .strings(c.dns),
                "RestartPolicy": c.restartPolicy.json,
            ].merging(Self.sandboxHostConfig(c.sandbox)) { a, _ in a }),
            "Mounts": Self.mounts(c.sandbox),
            "NetworkSettings": .object([
                "IPAddress": .string(attached ? c.ipAddress?.description ?? "" : ""),
                "IPPrefixLen": .int(Int64(attached ? (network?.subnet.prefix ?? 0) : 0)),
                "Gateway": .string(attached ? network?.gateway.description ?? "" : ""),
                "MacAddress": .string(attached ? c.macAddress ?? "" : ""),
                "SandboxKey": .string(running ? "/proc/\(c.pid)/ns/net" : ""),
                "Ports": running ? Self.dockerPorts(ports) : .object([:]),
                "Networks": .object(endpoints),
            ]),
        ])
    }

    /// Docker's HostConfig fields for the sandbox (issue 18).
    static func sandboxHostConfig(_ s: Sandbox) -> [String: JSON] {
        var tmpfs: [String: JSON] = [:]
        for t in s.tmpfs { tmpfs[t.path] = .string(t.options) }
        var o: [String: JSON] = [
            "ReadonlyRootfs": .bool(s.readOnly),
            "Binds": s.volumes.isEmpty ? .null : .strings(s.volumes.map(\.bind)),
            "Tmpfs": s.tmpfs.isEmpty ? .null : .object(tmpfs),
            "SecurityOpt": s.seccomp.securityOpt.map { .strings([$0]) } ?? .null,
            "Privileged": .bool(s.privileged),
            "Memory": .int(s.limits.memory ?? 0),
            "MemorySwap": .int(s.limits.memorySwap ?? (s.limits.memory.map { $0 * 2 } ?? 0)),
            "NanoCpus": .int(s.limits.nanoCpus ?? 0),
            "CpuShares": .int(s.limits.cpuShares ?? 0),
            "PidsLimit": s.limits.pidsLimit.map { .int($0) } ?? .null,
            "GroupAdd": s.groupAdd.isEmpty ? .null : .strings(s.groupAdd),
            "MaskedPaths": .strings(s.privileged ? [] : Sandbox.maskedPaths),
            "ReadonlyPaths": .strings(s.privileged ? [] : Sandbox.readOnlyPaths),
        ]
        if let r = s.rootfs { o["Rootfs"] = .string(s.rootfsOverlay ? r + ":O" : r) }
        // The default view is `--rootfs /:O` (plus private /tmp, /run and masked secrets);
        // `--host-rw` has no Rootfs: the host's own root.
        if s.isHostImage { o["Rootfs"] = .string("/:O") }
        return o
    }

    /// Docker's Mounts list: binds and tmpfs.
    static func mounts(_ s: Sandbox) -> JSON {
        .array(s.volumes.map { v in
            .object(["Type": .string("bind"), "Source": .string(v.source), "Destination": .string(v.target),
                     "Mode": .string(v.readOnly ? "ro" : ""), "RW": .bool(!v.readOnly), "Propagation": .string("rprivate")])
        } + s.tmpfs.map { t in
            .object(["Type": .string("tmpfs"), "Source": .string(""), "Destination": .string(t.path),
                     "Mode": .string(t.options), "RW": .bool(!t.options.split(separator: ",").contains("ro")), "Propagation": .string("")])
        })
    }

    /// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, as Docker shows bindings.
    static func dockerPorts(_ ports: [PortMapping]) -> JSON {
        var out: [String: [JSON]] = [:]
        for m in ports {
            out["\(m.containerPort)/\(m.proto.rawValue)", default: []].append(
                .object(["HostIp": .string(m.hostIPString), "HostPort": .string(String(m.hostPort))]))
        }
        return .object(out.mapValues { .array($0) })
    }

    /// A pretty-printed JSON array, as `docker inspect` prints.
    public static func render(_ items: [any JSONConvertible]) -> String {
        JSON.array(items.map(\.json)).render(pretty: true)
    }
}

/// `hutch pod inspect` output (Podman's field names where they overlap).
public struct PodJSON: JSONConvertible {
    public let json: JSON

    public init(_ p: PodRecord, status: String, infra: ContainerRecord?, ports: [PortMapping], members: [ContainerRecord]) {
        let running = infra?.status == .running
        json = .object([
            "Id": .string(p.id),
            "Name": .string(p.name),
            "Created": .string(p.createdAt),
            "State": .string(status),
            "Hostname": .string(p.hostname),
            "Labels": p.labels.json,
            "Config": .object(["Labels": p.labels.json]),
            "InfraContainerID": .string(p.infraId),
            "InfraPid": .int(Int64(running ? infra?.pid ?? 0 : 0)),
            "IPAddress": .string(running ? infra?.ipAddress?.description ?? "" : ""),
            "NetworkMode": .string(infra?.networkMode ?? ""),
            "Ports": running ? ContainerJSON.dockerPorts(ports) : .object([:]),
            "Containers": .array(members.map {
                .object(["Id": .string($0.id), "Name": .string($0.name), "State": .string($0.status.rawValue)])
            }),
            // Podman's names for the pod cgroup's limits (0: none); PidsLimit as Docker's.
            "MemoryLimit": .int(p.limits.memory ?? 0),
            "MemorySwap": .int(p.limits.memorySwap ?? 0),
            "CPUPeriod": .int(p.limits.nanoCpus == nil ? 0 : 100_000),
            "CPUQuota": .int(p.limits.nanoCpus.map { $0 / 10_000 } ?? 0),
            "CPUShares": .int(p.limits.cpuShares ?? 0),
            "PidsLimit": p.limits.pidsLimit.map { .int($0) } ?? .null,
        ])
    }
}

/// `hutch network inspect` output, shaped like Docker's.
public struct NetworkJSON: JSONConvertible {
    public let json: JSON

    public init(_ n: NetworkRecord, members: [(id: String, name: String, ip: String, mac: String)]) {
        let prefix = n.subnet.prefix
        var endpoints: [String: JSON] = [:]
        for m in members {
            endpoints[m.id] = .object(["Name": .string(m.name), "IPv4Address": .string("\(m.ip)/\(prefix)"),
                                       "MacAddress": .string(m.mac)])
        }
        json = .object([
            "Name": .string(n.name),
            "Id": .string(n.id),
            "Created": .string(n.createdAt),
            "Driver": .string("bridge"),
            "IPAM": .object([
                "Driver": .string("default"),
                "Config": .array([.object(["Subnet": .string(n.subnet.description), "Gateway": .string(n.gateway.description)])]),
            ]),
            "Internal": .bool(n.isInternal),
            "Options": .object(["com.docker.network.bridge.name": .string(n.bridge)]),
            "Containers": .object(endpoints),
        ])
    }
}
