import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Network {
    static let command = CLICommand(
        "network", abstract: "Manage networks: each is a Linux bridge with its own subnet, isolated from the others.",
        subcommands: [NetworkCreate.command, NetworkList.command, NetworkInspect.command, NetworkRemove.command,
                      NetworkPrune.command, NetworkReload.command])

    static let networks = CLIArgument("NETWORK", .oneOrMore, "Networks.")
}

enum NetworkCreate {
    static let subnet = CLIOption.value("--subnet", "Subnet in CIDR form (default: a free /24 from 10.90.0.0 up).")
    static let gateway = CLIOption.value("--gateway", "Gateway address (default: the subnet's first address).")
    static let isInternal = CLIOption.flag("--internal", "No outbound access: no MASQUERADE, no route out.")
    static let bridge = CLIOption.value("--bridge", "Bridge interface name (default: hb-<id>).")
    static let name = CLIArgument("NAME", .one, "Network name.")

    static let command = CLICommand(
        "create", abstract: "Create a bridge network.", options: [subnet, gateway, isInternal, bridge], arguments: [name]
    ) { a in
        var o = NetworkOptions(name: a.one(name))
        o.subnet = try a.value(subnet, CIDRv4.init, expect: "use CIDR form like 10.90.0.0/24")
        o.gateway = try a.value(gateway, IPv4Address.init, expect: "use an IPv4 address")
        o.isInternal = a.flag(isInternal); o.bridge = a.value(bridge)
        let checked = try o.validated()
        print(try Global.runtime(a).createNetwork(checked).id)
    }
}

enum NetworkList {
    static let quiet = CLIOption.flag("-q, --quiet", "Only print names.")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List networks.", options: [quiet]) { a in
        let nets = try Global.runtime(a).networks()
        if a.flag(quiet) { for n in nets { print(n.name) }; return }
        var rows = [["NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "INTERNAL"]]
        for n in nets { rows.append([String(n.id.prefix(12)), n.name, "bridge", n.subnet.description, n.gateway.description, n.bridge, n.isInternal ? "true" : "false"]) }
        print(Table.render(rows))
    }
}

enum NetworkInspect {
    static let command = CLICommand("inspect", abstract: "Print networks' details as JSON.", arguments: [Network.networks]) { a in
        let rt = try Global.runtime(a)
        var items: [NetworkJSON] = []
        for ref in a.all(Network.networks) {
            let n = try rt.network(ref)
            let members = try rt.attached(to: n.name).map { (id: $0.id, name: $0.name, ip: $0.ipAddress?.description ?? "", mac: $0.macAddress ?? "") }
            items.append(NetworkJSON(n, members: members))
        }
        print(ContainerJSON.render(items))
    }
}

enum NetworkRemove {
    static let command = CLICommand("rm", aliases: ["remove"], abstract: "Remove networks.", arguments: [Network.networks]) { a in
        let rt = try Global.runtime(a)
        try forEach(a.all(Network.networks)) { _ = try rt.removeNetwork($0); print($0) }
    }
}

enum NetworkPrune {
    static let command = CLICommand("prune", abstract: "Remove every user-defined network nothing runs on.") { a in
        for n in try Global.runtime(a).pruneNetworks() { print(n) }
    }
}

enum NetworkReload {
    static let command = CLICommand(
        "reload", abstract: "Re-install every network's and container's firewall rules from the state store."
    ) { a in
        for line in try Global.runtime(a).reload() { print(line) }
    }
}
