import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Port {
    static let container = CLIArgument("CONTAINER", .one, "Container (name or id).")
    static let port = CLIArgument("PORT[/PROTO]", .optional, "Only this container port.")

    static let command = CLICommand(
        "port", abstract: "List a container's published ports (8000/tcp -> 0.0.0.0:8080).", options: [Format.list],
        arguments: [container, port]
    ) { a in
        let format = try ListRows.ports.format(a.value(Format.list))
        let rt = try Global.runtime(a)
        let c = try rt.reconcile(try rt.container(a.one(container)))
        guard c.status == .running else { return }
        var list = try rt.ports(c)
        if let p = a.optional(port) {
            let parts = p.split(separator: "/", maxSplits: 1).map(String.init)
            guard let n = UInt16(parts.first ?? ""), n > 0, parts.count == 1 || ["tcp", "udp"].contains(parts[1]) else {
                throw HutchError("invalid port \"\(p)\": use PORT or PORT/tcp or PORT/udp")
            }
            let proto = parts.count == 2 ? parts[1] : "tcp"
            list = list.filter { $0.containerPort == n && $0.proto.rawValue == proto }
            guard !list.isEmpty else { throw HutchError("no public port \(n)/\(proto) published for \(c.name)") }
            if try Format.printList(ListRows.ports, list.map { ("container \(c.name)", ListRows.port($0)) }, format) { return }
            for m in list { print("\(m.hostIPString):\(m.hostPort)") }
            return
        }
        if try Format.printList(ListRows.ports, list.map { ("container \(c.name)", ListRows.port($0)) }, format) { return }
        for m in list { print(m.description) }
    }
}
