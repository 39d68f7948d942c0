import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Network {
    static let command = CLICommand(
        "network", abstract: "Manage networks: each is a Linux bridge with its own subnet, isolated from the others.",
        subcommands: [NetworkCreate.command, NetworkList.command, NetworkInspect.command, NetworkRemove.command,
                      NetworkPrune.command, NetworkReload.command, NetworkExists.command,
                      NetworkConnect.command, NetworkDisconnect.command])

    static let networks = CLIArgument("NETWORK", .oneOrMore, "Networks.")
}

enum NetworkCreate {
    static let subnet = CLIOption.value("--subnet", "Subnet in CIDR form (default: a free /24 from 10.90.0.0 up).")
    static let gateway = CLIOption.value("--gateway", "Gateway address (default: the subnet's first address).")
    static let isInternal = CLIOption.flag("--internal", "No outbound access: no MASQUERADE, no route out.")
    static let bridge = CLIOption.value("--bridge", "Bridge interface name (default: hb-<id>).")
    static let ignore = CLIOption.flag("--ignore", "Exit 0 if a network of that name exists with the same options.")
    static let name = CLIArgument("NAME", .one, "Network name.")

    static let command = CLICommand(
        "create", abstract: "Create a bridge network.", options: [subnet, gateway, isInternal, bridge, ignore], arguments: [name]
    ) { a in
        var o = NetworkOptions(name: a.one(name))
        o.subnet = try a.value(subnet, CIDRv4.init, expect: "use CIDR form like 10.90.0.0/24")
        o.gateway = try a.value(gateway, IPv4Address.init, expect: "use an IPv4 address")
        o.isInternal = a.flag(isInternal); o.bridge = a.value(bridge)
        let checked = try o.validated()
        let rt = try Global.runtime(a)
        // --ignore: an existing network is fine if it is what was asked for (also when a
        // concurrent create won the race).
        func existing() throws -> NetworkRecord? {
            guard a.flag(ignore), let n = try rt.findNetwork(o.name) else { return nil }
            let diff = o.differences(from: n)
            guard diff.isEmpty else {
                throw HutchError("network \(o.name) already exists with other options (\(diff.joined(separator: ", "))): remove it first or drop --ignore")
            }
            return n
        }
        if let n = try existing() { print(n.id); return }
        do { print(try rt.createNetwork(checked).id) } catch let e as HutchError {
            guard let n = try existing() else { throw e }
            print(n.id)
        }
    }
}

enum NetworkList {
    static let quiet = CLIOption.flag("-q, --quiet", "Only print names.")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List networks.", options: [quiet, Format.list]) { a in
        let format = try ListRows.networks.format(a.value(Format.list))
        let nets = try Global.runtime(a).networks()
        if a.flag(quiet) { for n in nets { print(n.name) }; return }
        if try Format.printList(ListRows.networks, nets.map { ("network \($0.name)", ListRows.network($0)) }, format) { return }
        var rows = [["NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "INTERNAL"]]
        for n in nets { rows.append([String(n.id.prefix(12)), n.name, "bridge", n.subnet.description, n.gateway.description, n.bridge, n.isInternal ? "true" : "false"]) }
        print(Table.render(rows))
    }
}

enum NetworkInspect {
    static let command = CLICommand("inspect", abstract: "Print networks' details as JSON.", options: [Format.inspect],
                                    arguments: [Network.networks]) { a in
        let format = try OutputFormat(a.value(Format.inspect), list: false)
        let rt = try Global.runtime(a)
        var items: [(what: String, json: JSON)] = []
        for ref in a.all(Network.networks) {
            let n = try rt.network(ref)
            let members = try rt.attached(to: n.name).map { (id: $0.id, name: $0.name, ip: $0.ipAddress?.description ?? "", mac: $0.macAddress ?? "") }
            items.append(("network \(n.name)", NetworkJSON(n, members: members).json))
        }
        try Format.printInspect(items, format)
    }
}

enum NetworkRemove {
    static let ignore = CLIOption.flag("-i, --ignore", "No error for networks that do not exist.")

    static let command = CLICommand("rm", aliases: ["remove"], abstract: "Remove networks.", options: [ignore],
                                    arguments: [Network.networks]) { a in
        let rt = try Global.runtime(a)
        let ignoring = a.flag(ignore)
        try forEach(a.all(Network.networks)) {
            if ignoring, try rt.findNetworkRef($0) == nil { return }
            _ = try rt.removeNetwork($0); print($0)
        }
    }
}

enum NetworkExists {
    static let network = CLIArgument("NETWORK", .one, "Network (name or id).")

    static let command = CLICommand("exists", abstract: "Exit 0 if the network exists, 1 if not (no output).",
                                    arguments: [network]) { a in
        if try Global.runtime(a).findNetworkRef(a.one(network)) == nil { throw ExitStatus(1) }
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

enum NetworkConnect {
    static let ip = CLIOption.value("--ip", "IPv4 address on the network (default: the next free one).")
    static let alias = CLIOption.list("--alias", "Extra name of the container on the network.", as: "alias")
    static let network = CLIArgument("NETWORK", .one, "Network (name or id).")
    static let container = CLIArgument("CONTAINER", .one, "A running container (name or id).")

    static let command = CLICommand(
        "connect", abstract: "Connect a running container to one more network (a new interface: eth1, eth2...).",
        discussion: "Example: hutch network connect backend web --alias api", options: [ip, alias], arguments: [network, container]
    ) { a in
        let address = try a.value(ip, IPv4Address.init, expect: "use an IPv4 address")
        try Global.runtime(a).connect(network: a.one(network), container: a.one(container), ip: address, aliases: a.list(alias))
    }
}

enum NetworkDisconnect {
    static let command = CLICommand(
        "disconnect", abstract: "Disconnect a container from a network it joined with 'network connect'.",
        arguments: [NetworkConnect.network, NetworkConnect.container]
    ) { a in
        try Global.runtime(a).disconnect(network: a.one(NetworkConnect.network), container: a.one(NetworkConnect.container))
    }
}
