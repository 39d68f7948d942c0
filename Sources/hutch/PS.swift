import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum PS {
    static let all = CLIOption.flag("-a, --all", "Show all containers (default: running only).")
    static let quiet = CLIOption.flag("-q, --quiet", "Only print short ids.")
    static let noTrunc = CLIOption.flag("--no-trunc", "Print full ids.")
    static let filter = CLIOption.list("-f, --filter", "Filter: id=, name=, label=KEY[=VALUE], status=, pod=, network=.", as: "filter")

    static let command = CLICommand("ps", abstract: "List containers.", options: [all, quiet, noTrunc, filter, Format.list]) { a in
        let filters = try Filters(a.list(filter), keys: Filters.containerKeys, statuses: Filters.containerStatuses)
        let format = try ListRows.containers.format(a.value(Format.list))
        let rt = try Global.runtime(a)
        // A status filter shows stopped containers too, as Docker's does.
        var list = try rt.containers(all: a.flag(all) || filters.hasStatus)
        let full = a.flag(noTrunc)
        // What filters and rows need besides the record: pod and network names.
        var pods: [String: PodRecord] = [:]
        var nets: [String: NetworkRecord] = [:]
        if !filters.isEmpty || format != .standard || list.contains(where: { $0.pod != nil }) {
            for p in try rt.pods() { pods[p.id] = p }
            for n in try rt.networks() { nets[n.name] = n }
        }
        let byId = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func networks(_ c: ContainerRecord) -> [String] {
            if let n = c.network { return [n] }
            if c.networkMode == "host" || c.networkMode == "none" { return [c.networkMode] }
            // A pod member is on its pod's network.
            if c.pod != nil, let j = c.joinedId, let n = byId[j]?.network { return [n] }
            return []
        }
        if !filters.isEmpty {
            list = list.filter { c in
                let p = c.pod.flatMap { pods[$0] }
                let ns = networks(c)
                return filters.matches(.init(id: c.id, name: c.name, status: c.restarting && c.status == .running ? "restarting" : c.status.rawValue, labels: c.labels,
                                             pods: p.map { [$0.name, $0.id] } ?? [],
                                             networks: ns + ns.compactMap { nets[$0]?.id }))
            }
        }
        if a.flag(quiet) {
            for c in list { print(full ? c.id : c.shortId) }
            return
        }
        if format != .standard {
            let rows = try list.map { c in
                (what: "container \(c.name)", json: ListRows.container(c, ports: c.status == .running ? try rt.ports(c) : [],
                                                                         networks: networks(c), full: full))
            }
            _ = try Format.printList(ListRows.containers, rows, format)
            return
        }
        var rows = [["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NETWORK", "IP", "NAMES"]]
        for c in list {
            rows.append([full ? c.id : c.shortId, Table.command(c.command),
                         Table.humanDuration(Table.secondsSince(c.createdAt)) + " ago", Table.status(c),
                         Table.network(c, podName: c.pod.flatMap { pods[$0]?.name }), c.status == .running ? c.ipAddress?.description ?? "" : "", c.name])
        }
        print(Table.render(rows))
    }
}
