import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Inspect {
    static let containers = CLIArgument("CONTAINER", .oneOrMore, "Containers (names or ids).")

    static let command = CLICommand(
        "inspect", abstract: "Print containers' details as a JSON array (Docker's shape).", options: [Format.inspect],
        arguments: [containers]
    ) { a in
        let format = try OutputFormat(a.value(Format.inspect), list: false)
        let rt = try Global.runtime(a)
        var items: [(what: String, json: JSON)] = []
        var missing: [String] = []
        for ref in a.all(containers) {
            guard let c = try rt.findContainer(ref) else { missing.append(ref); continue }
            let r = try rt.reconcile(c)
            items.append(("container \(r.name)", ContainerJSON(r, network: try r.network.flatMap { try rt.findNetwork($0) },
                                                              ports: try rt.ports(r), logPath: rt.logPath(r.id),
                                                              joined: try rt.joinedNetworks(r).map { j in
                ContainerJSON.Endpoint(name: j.network, address: j.ipAddress, network: try rt.findNetwork(j.network),
                                       aliases: j.aliases, iface: j.iface)
            }, serviceEnv: rt.serviceEnvironment(of: r)).json))
        }
        try Format.printInspect(items, format)
        if !missing.isEmpty {
            throw HutchError("no such container: \(missing.joined(separator: ", "))")
        }
    }
}
