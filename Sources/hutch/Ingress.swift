import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

/// `hutch ingress ...` (issue 17): HTTP routing by host and path to services, by a real nginx.
enum Ingress {
    static let command = CLICommand(
        "ingress", abstract: "Manage ingresses: nginx routing HTTP by host and path to services.",
        subcommands: [IngressCreate.command, IngressList.command, IngressInspect.command, IngressUpdate.command,
                      IngressRemove.command, IngressExists.command])

    static let rule = CLIOption.list("--rule", "A rule [HOST]/PATH=SERVICE:PORT (PATH ending in * is a prefix; no HOST: any host).", as: "rule")
    static let defaultBackend = CLIOption.value("--default-backend", "SERVICE:PORT for requests that match no rule (else 404).", as: "backend")
    static let one = CLIArgument("NAME", .one, "Ingress (name or id).")
    static let many = CLIArgument("NAME", .oneOrMore, "Ingresses (names or ids).")

    static func rules(_ a: CLIValues) throws -> [IngressRule] { try a.list(rule).map { try IngressRule(parsing: $0) } }
    static func backend(_ a: CLIValues) throws -> IngressBackend? { try a.value(defaultBackend).map { try IngressBackend(parsing: $0) } }
}

enum IngressCreate {
    static let name = CLIArgument("NAME", .one, "Ingress name (a DNS label); its nginx container is ingress-NAME.")
    static let publish = CLIOption.list("-p, --publish", "Publish nginx's port 80 (HTTP) or 443 (HTTPS): HOST:80.", as: "spec")
    static let tlsCert = CLIOption.value("--tls-cert", "PEM certificate (chain) to serve HTTPS on port 443.", as: "file")
    static let tlsKey = CLIOption.value("--tls-key", "PEM private key of --tls-cert.", as: "file")
    static let network = CLIOption.value("--network, --net", "The bridge network nginx joins (default bridge): the one the endpoints are on.", as: "network")
    static let tlsHost = CLIOption.list("--tls", "A certificate for one host, chosen by SNI: HOST=CERT,KEY (PEM files).", as: "host=cert,key")
    static let serviceUpstream = CLIOption.flag("--service-upstream", "Proxy to each service's ClusterIP, not its endpoints: endpoint changes need no reload.")

    static let command = CLICommand(
        "create", abstract: "Create an ingress and start its nginx.",
        options: [publish, Ingress.rule, Ingress.defaultBackend, tlsCert, tlsKey, tlsHost, network, serviceUpstream], arguments: [name]
    ) { a in
        var o = IngressOptions()
        o.name = a.one(name)
        o.publish = try a.list(publish).map { try PublishSpec.parse($0) }
        o.rules = try Ingress.rules(a)
        o.defaultBackend = try Ingress.backend(a)
        o.tlsCert = a.value(tlsCert)
        o.tlsKey = a.value(tlsKey)
        o.tlsHosts = try a.list(tlsHost).map { try IngressTLS(parsing: $0) }
        if let n = a.value(network) { o.network = n }
        o.serviceUpstream = a.flag(serviceUpstream)
        let checked = try o.validated()
        print(try Global.runtime(a).createIngress(checked).name)
    }
}

enum IngressList {
    static let quiet = CLIOption.flag("-q, --quiet", "Only print names.")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List ingresses.", options: [quiet, Format.list]) { a in
        let format = try ListOutput.ingresses.format(a.value(Format.list))
        let rt = try Global.runtime(a)
        var rows = [["NAME", "STATUS", "PORTS", "RULES", "DEFAULT BACKEND", "CONTAINER", "CREATED"]]
        var formatted: [(what: String, json: JSON)] = []
        for r in try rt.ingresses() {
            if a.flag(quiet) { print(r.name); continue }
            let st = try rt.ingressStatus(r)
            let ports = try st.container.map { try rt.ports($0) } ?? []
            if format != .standard {
                formatted.append(("ingress \(r.name)", IngressJSON.row(r, status: st.status, ports: ports)))
                continue
            }
            rows.append([r.name, st.status, IngressJSON.ports(ports), String(r.rules.count), r.defaultBackend?.description ?? "",
                         String(r.container.prefix(12)), ListRows.ago(r.createdAt)])
        }
        if a.flag(quiet) { return }
        if try !Format.printList(ListOutput.ingresses, formatted, format) { print(Table.render(rows)) }
    }
}

enum IngressInspect {
    static let command = CLICommand("inspect", abstract: "Print ingresses' details as JSON.", options: [Format.inspect],
                                    arguments: [Ingress.many]) { a in
        let format = try OutputFormat(a.value(Format.inspect), list: false)
        let rt = try Global.runtime(a)
        var items: [(what: String, json: JSON)] = []
        for ref in a.all(Ingress.many) {
            let r = try rt.ingress(ref)
            let st = try rt.ingressStatus(r)
            let ports = try st.container.map { try rt.ports($0) } ?? []
            items.append(("ingress \(r.name)", IngressJSON.inspect(
                r, status: st.status, container: st.container, ports: ports, upstreams: try rt.ingressUpstreams(r),
                folder: rt.ingressDir(r.id))))
        }
        try Format.printInspect(items, format)
    }
}

enum IngressUpdate {
    static let noDefault = CLIOption.flag("--no-default-backend", "Drop the default backend (404 for what matches no rule).")
    static let tlsCert = CLIOption.value("--tls-cert", "A new PEM certificate (chain) for HTTPS (nginx checks it before it is used).", as: "file")
    static let tlsKey = CLIOption.value("--tls-key", "PEM private key of --tls-cert.", as: "file")
    static let tlsHost = CLIOption.list("--tls", "Replace the per-host certificates: HOST=CERT,KEY (PEM files), once per host.", as: "host=cert,key")

    static let command = CLICommand(
        "update", abstract: "Replace an ingress's rules (every --rule given), default backend or certificates; nginx reloads.",
        options: [Ingress.rule, Ingress.defaultBackend, noDefault, tlsCert, tlsKey, tlsHost], arguments: [Ingress.one]
    ) { a in
        var u = HutchModel.IngressUpdate()
        u.rules = try Ingress.rules(a)
        u.defaultBackend = try Ingress.backend(a)
        u.clearDefaultBackend = a.flag(noDefault)
        u.tlsCert = a.value(tlsCert)
        u.tlsKey = a.value(tlsKey)
        u.tlsHosts = try a.list(tlsHost).map { try IngressTLS(parsing: $0) }
        let checked = try u.validated()
        print(try Global.runtime(a).updateIngress(a.one(Ingress.one), checked).name)
    }
}

enum IngressRemove {
    static let ignore = CLIOption.flag("-i, --ignore", "No error for ingresses that do not exist.")

    static let command = CLICommand(
        "rm", aliases: ["remove"], abstract: "Remove ingresses: their nginx container, ports and files.",
        options: [ignore], arguments: [Ingress.many]
    ) { a in
        let rt = try Global.runtime(a)
        let ignoring = a.flag(ignore)
        try forEach(a.all(Ingress.many)) {
            if ignoring, try rt.findIngress($0) == nil { return }
            _ = try rt.removeIngress($0); print($0)
        }
    }
}

enum IngressExists {
    static let command = CLICommand("exists", abstract: "Exit 0 if the ingress exists, 1 if not (no output).",
                                    arguments: [Ingress.one]) { a in
        if try Global.runtime(a).findIngress(a.one(Ingress.one)) == nil { throw ExitStatus(1) }
    }
}
