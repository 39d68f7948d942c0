import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Pod {
    static let command = CLICommand(
        "pod", abstract: "Manage pods: a pause process holds shared namespaces, containers join with run --pod.",
        subcommands: [PodCreate.command, PodList.command, PodInspect.command, PodPS.command, PodStop.command, PodRemove.command,
                      PodExists.command])

    static let quiet = CLIOption.flag("-q, --quiet", "Only print short ids.")
    static let pods = CLIArgument("POD", .oneOrMore, "Pods (names or ids).")
}

enum PodCreate {
    static let name = CLIOption.value("--name", "Pod name.")
    static let hostname = CLIOption.value("--hostname", "Pod host name (default: the pod name).")
    static let network = CLIOption.value("--network, --net", "bridge (default), host, none, or a network's name.", as: "mode")
    static let publish = CLIOption.list("-p, --publish", "Publish a port of the pod.", as: "spec")
    static let replace = CLIOption.flag("--replace", "Remove a pod of the same name first (with its containers).")
    static let volume = CLIOption.list("-v, --volume", "Bind a host path into every container of the pod: HOST-PATH:CONTAINER-PATH[:ro|rw].", as: "spec")

    static let command = CLICommand(
        "create", abstract: "Create a pod and start its pause process.",
        discussion: "--memory, --memory-swap, --cpus, --cpu-shares and --pids-limit limit the pod's cgroup, which holds its containers' cgroups: together they get no more (a container's own limits can only be lower). -v volumes go to every container of the pod (a container's own mount on the same path wins).",
        options: [name, hostname, network, publish, Labeling.label, Labeling.labelFile, replace, volume] + Sandboxing.limitOptions
    ) { a in
        var o = PodOptions()
        o.name = a.value(name); o.hostname = a.value(hostname)
        if let n = a.value(network) { o.network = try NetworkMode(parsing: n) }
        o.publish = try a.list(publish).map { try PublishSpec.parse($0) }
        o.labels = try Labeling.labels(a)
        o.replace = a.flag(replace)
        o.limits = try Sandboxing.limits(a)
        o.volumes = try a.list(volume).map { try Sandbox.Volume.parse($0) }
        let checked = try o.validated()
        print(try Global.runtime(a).createPod(checked).id)
    }
}

enum PodList {
    static let filter = CLIOption.list("-f, --filter", "Filter: id=, name=, label=KEY[=VALUE], status=, network=.", as: "filter")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List pods.", options: [Pod.quiet, filter, Format.list]) { a in
        let filters = try Filters(a.list(filter), keys: Filters.podKeys, statuses: Filters.podStatuses)
        let format = try ListRows.pods.format(a.value(Format.list))
        let rt = try Global.runtime(a)
        let quiet = a.flag(Pod.quiet)
        var nets: [String: NetworkRecord] = [:]
        if !filters.isEmpty { for n in try rt.networks() { nets[n.name] = n } }
        var rows = [["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS"]]
        var formatted: [(what: String, json: JSON)] = []
        for p in try rt.pods() {
            let st = try rt.podStatus(p)
            let network = st.infra?.network.map { [$0] } ?? []
            if !filters.isEmpty {
                guard filters.matches(.init(id: p.id, name: p.name, status: st.status.lowercased(), labels: p.labels,
                                            networks: network + network.compactMap { nets[$0]?.id })) else { continue }
            }
            if quiet { print(p.shortId); continue }
            let count = try rt.members(ofPod: p.id).count + 1
            if format != .standard {
                formatted.append(("pod \(p.name)", ListRows.pod(p, status: st.status, containers: count, networks: network)))
                continue
            }
            rows.append([p.shortId, p.name, st.status, Table.humanDuration(Table.secondsSince(p.createdAt)) + " ago",
                         String(p.infraId.prefix(12)), String(count)])
        }
        if quiet { return }
        if try !Format.printList(ListRows.pods, formatted, format) { print(Table.render(rows)) }
    }
}

enum PodInspect {
    static let command = CLICommand("inspect", abstract: "Print pods' details as JSON.", options: [Format.inspect],
                                    arguments: [Pod.pods]) { a in
        let format = try OutputFormat(a.value(Format.inspect), list: false)
        let rt = try Global.runtime(a)
        var items: [(what: String, json: JSON)] = []
        for ref in a.all(Pod.pods) {
            let p = try rt.pod(ref)
            let st = try rt.podStatus(p)
            let members = try rt.members(ofPod: p.id).map { try rt.reconcile($0) }
            items.append(("pod \(p.name)", PodJSON(p, status: st.status, infra: st.infra,
                                                   ports: try st.infra.map { try rt.ports($0) } ?? [], members: members).json))
        }
        try Format.printInspect(items, format)
    }
}

enum PodPS {
    static let pod = CLIArgument("POD", .one, "Pod (name or id).")

    static let command = CLICommand("ps", abstract: "List a pod's containers.", options: [Pod.quiet], arguments: [pod]) { a in
        let rt = try Global.runtime(a)
        let p = try rt.pod(a.one(pod))
        let quiet = a.flag(Pod.quiet)
        var rows = [["CONTAINER ID", "COMMAND", "STATUS", "NAMES"]]
        for c in try rt.members(ofPod: p.id).map({ try rt.reconcile($0) }) {
            if quiet { print(c.shortId); continue }
            rows.append([c.shortId, Table.command(c.command), Table.status(c), c.name])
        }
        if !quiet { print(Table.render(rows)) }
    }
}

enum PodStop {
    static let command = CLICommand(
        "stop", abstract: "Stop a pod's containers and its pause process.", options: [stopTime], arguments: [Pod.pods]
    ) { a in
        let time = try a.count(stopTime, default: 10)
        let rt = try Global.runtime(a)
        try forEach(a.all(Pod.pods)) { _ = try rt.stopPod($0, timeout: time); print($0) }
    }
}

enum PodRemove {
    static let force = CLIOption.flag("-f, --force", "Stop and remove running containers of the pod.")
    static let ignore = CLIOption.flag("-i, --ignore", "No error for pods that do not exist.")

    static let command = CLICommand(
        "rm", abstract: "Remove pods (with -f, stop their containers first).", options: [force, ignore], arguments: [Pod.pods]
    ) { a in
        let rt = try Global.runtime(a)
        let forced = a.flag(force)
        let ignoring = a.flag(ignore)
        try forEach(a.all(Pod.pods)) {
            if ignoring, try rt.findPod($0) == nil { return }
            _ = try rt.removePod($0, force: forced); print($0)
        }
    }
}

enum PodExists {
    static let pod = CLIArgument("POD", .one, "Pod (name or id).")

    static let command = CLICommand("exists", abstract: "Exit 0 if the pod exists, 1 if not (no output).", arguments: [pod]) { a in
        if try Global.runtime(a).findPod(a.one(pod)) == nil { throw ExitStatus(1) }
    }
}
