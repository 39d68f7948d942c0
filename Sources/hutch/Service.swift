import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

/// `hutch service`: Kubernetes Services on this host (kube-proxy's data path in the kernel).
enum Service {
    static let command = CLICommand(
        "service", abstract: "Manage services: a virtual IP (and NodePort) load-balanced over the containers a selector picks.",
        subcommands: [ServiceCreate.command, ServiceList.command, ServiceInspect.command, ServiceRemove.command,
                      ServiceExists.command])

    static let services = CLIArgument("SERVICE", .oneOrMore, "Services (names).")
}

enum ServiceCreate {
    static let selector = CLIOption.list("--selector", "Containers (and pods) whose labels match serve it: KEY=VALUE[,KEY=VALUE].", as: "selector")
    static let port = CLIOption.list("--port", "PORT[:TARGETPORT][/tcp|udp] (repeatable; TARGETPORT defaults to PORT).", as: "port")
    static let type = CLIOption.value("--type", "ClusterIP (default) or NodePort.", as: "type")
    static let nodePort = CLIOption.value("--node-port", "The NodePort (30000-32767; default: a free one).", as: "port")
    static let clusterIP = CLIOption.value("--cluster-ip", "The ClusterIP, inside the service range (default: a free one).", as: "ip")
    static let affinity = CLIOption.value("--session-affinity", "None (default) or ClientIP: a client keeps its endpoint.", as: "mode")
    static let affinityTimeout = CLIOption.value("--session-affinity-timeout", "Seconds of ClientIP affinity (default 10800).", as: "seconds")
    static let policy = CLIOption.value("--external-traffic-policy", "NodePort traffic: Cluster (default; masqueraded) or Local (client IP kept, local endpoints only).", as: "policy")
    static let name = CLIArgument("NAME", .one, "Service name (lowercase letters, digits, '-').")

    static let command = CLICommand(
        "create", abstract: "Create a service.",
        discussion: "Example: hutch service create web --selector app=web --port 80:8000 --type NodePort --node-port 30080",
        options: [selector, port, type, nodePort, clusterIP, affinity, affinityTimeout, policy, Labeling.label, Labeling.labelFile],
        arguments: [name]
    ) { a in
        var o = ServiceOptions(name: a.one(name))
        try ServiceOptions.validateName(o.name)
        o.selector = try ServiceSelector.parse(a.list(selector))
        o.ports = try a.list(port).map(ServicePort.parse)
        if let t = a.value(type) { o.type = try ServiceOptions.parseType(t) }
        if let n = a.value(nodePort) {
            guard let v = Int(n), v >= 0, v <= 65535 else { throw HutchError("invalid --node-port \"\(n)\": use a number in 30000-32767") }
            o.nodePort = UInt16(v)
        }
        o.clusterIP = try a.value(clusterIP, IPv4Address.init, expect: "use an IPv4 address inside the service range")
        if let s = a.value(affinity) { o.sessionAffinity = try ServiceOptions.parseAffinity(s) }
        o.affinityTimeout = try a.value(affinityTimeout, { Int($0) }, expect: "use a number of seconds (1-86400)")
        if let p = a.value(policy) { o.externalTrafficPolicy = try ServiceOptions.parsePolicy(p) }
        o.labels = try Labeling.labels(a)
        let checked = try o.validated()
        print(try Global.runtime(a).createService(checked).name)
    }
}

enum ServiceList {
    static let quiet = CLIOption.flag("-q, --quiet", "Only print names.")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List services.", options: [quiet, Format.list]) { a in
        let format = try ListRows.services.format(a.value(Format.list))
        let all = try Global.runtime(a).services()
        if a.flag(quiet) { for (s, _) in all { print(s.name) }; return }
        if try Format.printList(ListRows.services, all.map { ("service \($0.0.name)", ServiceJSON.row($0.0, endpoints: $0.1.count)) }, format) { return }
        var rows = [["NAME", "TYPE", "CLUSTER-IP", "PORT(S)", "SELECTOR", "ENDPOINTS", "AGE"]]
        for (s, eps) in all {
            rows.append([s.name, s.type.rawValue, s.clusterIP.description, ServiceJSON.portsColumn(s), s.selector.joined,
                         String(eps.count), Table.humanDuration(Table.secondsSince(s.createdAt))])
        }
        print(Table.render(rows))
    }
}

enum ServiceInspect {
    static let command = CLICommand("inspect", abstract: "Print services' details as JSON.", options: [Format.inspect],
                                    arguments: [Service.services]) { a in
        let format = try OutputFormat(a.value(Format.inspect), list: false)
        let rt = try Global.runtime(a)
        var items: [(what: String, json: JSON)] = []
        for ref in a.all(Service.services) {
            let (s, eps) = try rt.service(ref)
            items.append(("service \(s.name)", ServiceJSON.render(s, endpoints: eps)))
        }
        try Format.printInspect(items, format)
    }
}

enum ServiceRemove {
    static let ignore = CLIOption.flag("-i, --ignore", "No error for services that do not exist.")

    static let command = CLICommand("rm", aliases: ["remove"], abstract: "Remove services.", options: [ignore],
                                    arguments: [Service.services]) { a in
        let rt = try Global.runtime(a)
        let ignoring = a.flag(ignore)
        try forEach(a.all(Service.services)) {
            if ignoring, try rt.findService($0) == nil { return }
            try rt.removeService($0); print($0)
        }
    }
}

enum ServiceExists {
    static let service = CLIArgument("SERVICE", .one, "Service name.")

    static let command = CLICommand("exists", abstract: "Exit 0 if the service exists, 1 if not (no output).",
                                    arguments: [service]) { a in
        if try Global.runtime(a).findService(a.one(service)) == nil { throw ExitStatus(1) }
    }
}
