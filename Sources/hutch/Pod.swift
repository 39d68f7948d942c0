import ArgumentParser
import HutchKit

struct Pod: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pod",
        abstract: "Manage pods: a pause process holds shared namespaces, containers join with run --pod.",
        subcommands: [PodCreate.self, PodList.self, PodInspect.self, PodPS.self, PodStop.self, PodRemove.self])
}

struct PodCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a pod and start its pause process.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Pod name.") var name: String?
    @Option(help: "Pod host name (default: the pod name).") var hostname: String?
    @Option(name: [.customLong("network"), .customLong("net")], help: ArgumentHelp("bridge (default), host, none.", valueName: "mode"),
            transform: { try NetworkMode(parsing: $0) })
    var network: NetworkMode = .bridge("bridge")
    @Option(name: [.short, .customLong("publish")], help: ArgumentHelp("Publish a port of the pod.", valueName: "spec"),
            transform: { try PublishSpec.parse($0) })
    var publish: [PublishSpec.Parsed] = []

    func run() throws {
        var o = PodOptions()
        o.name = name; o.hostname = hostname; o.network = network; o.publish = publish
        try o.validate()
        print(try global.runtime().createPod(o).id)
    }
}

struct PodList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List pods.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only print short ids.") var quiet = false

    func run() throws {
        let rt = try global.runtime()
        var rows = [["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS"]]
        for p in try rt.pods() {
            if quiet { print(p.shortId); continue }
            let st = try rt.podStatus(p)
            rows.append([p.shortId, p.name, st.status, Table.humanDuration(Table.secondsSince(p.createdAt)) + " ago",
                         String(p.infraId.prefix(12)), String(try rt.store.members(ofPod: p.id).count + 1)])
        }
        if !quiet { print(Table.render(rows)) }
    }
}

struct PodInspect: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Print pods' details as JSON.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Pods (names or ids).") var pods: [String]

    func run() throws {
        let rt = try global.runtime()
        var items: [PodJSON] = []
        for ref in pods {
            let p = try rt.store.pod(ref)
            let st = try rt.podStatus(p)
            let members = try rt.store.members(ofPod: p.id).map { try rt.reconcile($0) }
            items.append(PodJSON(p, status: st.status, infra: st.infra, ports: try st.infra.map { try rt.ports($0) } ?? [],
                                 members: members))
        }
        print(ContainerJSON.render(items))
    }
}

struct PodPS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List a pod's containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Only print short ids.") var quiet = false
    @Argument(help: "Pod (name or id).") var pod: String

    func run() throws {
        let rt = try global.runtime()
        let p = try rt.store.pod(pod)
        var rows = [["CONTAINER ID", "COMMAND", "STATUS", "NAMES"]]
        for c in try rt.store.members(ofPod: p.id).map({ try rt.reconcile($0) }) {
            if quiet { print(c.shortId); continue }
            rows.append([c.shortId, Table.command(c.command), Table.status(c), c.name])
        }
        if !quiet { print(Table.render(rows)) }
    }
}

struct PodStop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a pod's containers and its pause process.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("time")], help: "Seconds to wait before killing.") var time: Int = 10
    @Argument(help: "Pods (names or ids).") var pods: [String]

    func run() throws {
        let rt = try global.runtime()
        try forEach(pods) { _ = try rt.stopPod($0, timeout: time); print($0) }
    }
}

struct PodRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove pods (with -f, stop their containers first).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Stop and remove running containers of the pod.") var force = false
    @Argument(help: "Pods (names or ids).") var pods: [String]

    func run() throws {
        let rt = try global.runtime()
        try forEach(pods) { _ = try rt.removePod($0, force: force); print($0) }
    }
}
