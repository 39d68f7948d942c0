import HutchOS
/// The rows of the list commands as `--format` sees them: one JSON object of strings per row,
/// with the field names Docker's `docker ps --format`, Podman's `pod ps --format` and Docker's
/// `network ls --format` use. The order of `fields` is the order of `--format json`'s keys' help.
public enum ListRows {
    public static let containers = ListOutput(fields: [
        ("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Command", "COMMAND"), ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"), ("Ports", "PORTS"), ("Status", "STATUS"), ("Names", "NAMES"), ("Labels", "LABELS"),
        ("Networks", "NETWORKS"), ("State", "STATE"),
    ])
    public static let pods = ListOutput(fields: [
        ("ID", "POD ID"), ("Name", "NAME"), ("Status", "STATUS"), ("Created", "CREATED"), ("InfraID", "INFRA ID"),
        ("NumberOfContainers", "# OF CONTAINERS"), ("Labels", "LABELS"), ("Networks", "NETWORKS"),
    ])
    public static let networks = ListOutput(fields: [
        ("ID", "NETWORK ID"), ("Name", "NAME"), ("Driver", "DRIVER"), ("Scope", "SCOPE"), ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"), ("Labels", "LABELS"), ("CreatedAt", "CREATED AT"), ("Subnet", "SUBNET"),
        ("Gateway", "GATEWAY"), ("Bridge", "BRIDGE"),
    ])
    /// `hutch port`: the fields of Docker's API Port (`docker ps`'s JSON).
    public static let ports = ListOutput(fields: [
        ("IP", "HOST IP"), ("PrivatePort", "CONTAINER PORT"), ("PublicPort", "HOST PORT"), ("Type", "TYPE"),
    ])

    /// `docker ps --format '{{.CreatedAt}}'`: "2026-12-01 10:00:00 +0000 UTC".
    public static func createdAt(_ rfc3339: String) -> String {
        guard rfc3339.count >= 19 else { return rfc3339 }
        let date = rfc3339.prefix(10)
        let time = rfc3339.dropFirst(11).prefix(8)
        return "\(date) \(time) +0000 UTC"
    }

    public static func ago(_ rfc3339: String) -> String { Table.humanDuration(Table.secondsSince(rfc3339)) + " ago" }

    /// `0.0.0.0:8080->80/tcp, 0.0.0.0:8081->81/udp`, as `docker ps` shows ports.
    public static func ports(_ list: [PortMapping]) -> String {
        list.map { "\($0.hostIPString):\($0.hostPort)->\($0.containerPort)/\($0.proto.rawValue)" }.joined(separator: ", ")
    }

    /// One `ps` row. `networks`: the network names it is on; `full`: --no-trunc.
    public static func container(_ c: ContainerRecord, ports: [PortMapping], networks: [String], full: Bool) -> JSON {
        .object([
            "ID": .string(full ? c.id : c.shortId),
            // hutch runs host commands, not images.
            "Image": .string(""),
            "Command": .string(full ? "\"" + c.command.joined(separator: " ") + "\"" : Table.command(c.command)),
            "CreatedAt": .string(createdAt(c.createdAt)),
            "RunningFor": .string(ago(c.createdAt)),
            "Ports": .string(c.status == .running ? Self.ports(ports) : ""),
            "Status": .string(Table.status(c)),
            "Names": .string(c.name),
            "Labels": .string(c.labels.joined),
            "Networks": .string(networks.joined(separator: ",")),
            "State": .string(c.restarting && c.status == .running ? "restarting" : c.status.rawValue),
        ])
    }

    public static func pod(_ p: PodRecord, status: String, containers: Int, networks: [String]) -> JSON {
        .object([
            "ID": .string(p.shortId), "Name": .string(p.name), "Status": .string(status), "Created": .string(ago(p.createdAt)),
            "InfraID": .string(String(p.infraId.prefix(12))), "NumberOfContainers": .string(String(containers)),
            "Labels": .string(p.labels.joined), "Networks": .string(networks.joined(separator: ",")),
        ])
    }

    public static func network(_ n: NetworkRecord) -> JSON {
        .object([
            "ID": .string(String(n.id.prefix(12))), "Name": .string(n.name), "Driver": .string("bridge"),
            "Scope": .string("local"), "IPv6": .string("false"), "Internal": .string(n.isInternal ? "true" : "false"),
            "Labels": .string(""), "CreatedAt": .string(createdAt(n.createdAt)), "Subnet": .string(n.subnet.description),
            "Gateway": .string(n.gateway.description), "Bridge": .string(n.bridge),
        ])
    }

    public static func port(_ m: PortMapping) -> JSON {
        .object(["IP": .string(m.hostIPString), "PrivatePort": .int(Int64(m.containerPort)),
                 "PublicPort": .int(Int64(m.hostPort)), "Type": .string(m.proto.rawValue)])
    }
}
