import ArgumentParser
import HutchKit

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print containers' details as a JSON array (Docker's shape).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Containers (names or ids).") var containers: [String]

    func run() throws {
        let rt = try global.runtime()
        var items: [ContainerJSON] = []
        var missing: [String] = []
        for ref in containers {
            guard let c = try rt.store.findContainer(ref) else { missing.append(ref); continue }
            let r = try rt.reconcile(c)
            items.append(ContainerJSON(r, network: try r.network.flatMap { try rt.store.network($0) },
                                       ports: try rt.ports(r), logPath: rt.logPath(r.id)))
        }
        print(ContainerJSON.render(items))
        if !missing.isEmpty {
            throw HutchError("no such container: \(missing.joined(separator: ", "))")
        }
    }
}
