import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Inspect {
    static let containers = CLIArgument("CONTAINER", .oneOrMore, "Containers (names or ids).")

    static let command = CLICommand(
        "inspect", abstract: "Print containers' details as a JSON array (Docker's shape).", arguments: [containers]
    ) { a in
        let rt = try Global.runtime(a)
        var items: [ContainerJSON] = []
        var missing: [String] = []
        for ref in a.all(containers) {
            guard let c = try rt.findContainer(ref) else { missing.append(ref); continue }
            let r = try rt.reconcile(c)
            items.append(ContainerJSON(r, network: try r.network.flatMap { try rt.findNetwork($0) },
                                       ports: try rt.ports(r), logPath: rt.logPath(r.id)))
        }
        print(ContainerJSON.render(items))
        if !missing.isEmpty {
            throw HutchError("no such container: \(missing.joined(separator: ", "))")
        }
    }
}
