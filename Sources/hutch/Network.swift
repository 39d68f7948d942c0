import ArgumentParser
import HutchKit

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage networks: each is a Linux bridge with its own subnet, isolated from the others.",
        subcommands: [NetworkCreate.self, NetworkList.self, NetworkInspect.self, NetworkRemove.self, NetworkPrune.self,
                      NetworkReload.self])
}

struct NetworkCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a bridge network.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Subnet in CIDR form (default: a free /24 from 10.90.0.0 up).",
            transform: { s in guard let c = CIDRv4(s) else { throw HutchError("invalid --subnet \"\(s)\": use CIDR form like 10.90.0.0/24") }; return c })
    var subnet: CIDRv4?
    @Option(help: "Gateway address (default: the subnet's first address).",
            transform: { s in guard let a = IPv4Address(s) else { throw HutchError("invalid --gateway \"\(s)\": use an IPv4 address") }; return a })
    var gateway: IPv4Address?
    @Flag(help: "No outbound access: no MASQUERADE, no route out.") var `internal` = false
    @Option(help: "Bridge interface name (default: hb-<id>).") var bridge: String?
    @Argument(help: "Network name.") var name: String

    func run() throws {
        var o = NetworkOptions(name: name)
        o.subnet = subnet; o.gateway = gateway; o.isInternal = `internal`; o.bridge = bridge
        try o.validate()
        print(try global.runtime().createNetwork(o).id)
    }
}

struct NetworkList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List networks.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only print names.") var quiet = false

    func run() throws {
        let nets = try global.runtime().networks()
        if quiet { for n in nets { print(n.name) }; return }
        var rows = [["NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "INTERNAL"]]
        for n in nets { rows.append([String(n.id.prefix(12)), n.name, "bridge", n.subnet, n.gateway, n.bridge, n.isInternal ? "true" : "false"]) }
        print(Table.render(rows))
    }
}

struct NetworkInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print networks' details as JSON.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Networks.") var networks: [String]

    func run() throws {
        let rt = try global.runtime()
        var items: [NetworkJSON] = []
        for ref in networks {
            let n = try rt.network(ref)
            let members = try rt.attached(to: n.name).map { (id: $0.id, name: $0.name, ip: $0.ipAddress ?? "", mac: $0.macAddress ?? "") }
            items.append(NetworkJSON(n, members: members))
        }
        print(ContainerJSON.render(items))
    }
}

struct NetworkRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove networks.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Networks.") var networks: [String]

    func run() throws {
        let rt = try global.runtime()
        try forEach(networks) { _ = try rt.removeNetwork($0); print($0) }
    }
}

struct NetworkPrune: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove every user-defined network nothing runs on.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        for n in try global.runtime().pruneNetworks() { print(n) }
    }
}

struct NetworkReload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Re-install every network's and container's firewall rules from the state store.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        for line in try global.runtime().reload() { print(line) }
    }
}
