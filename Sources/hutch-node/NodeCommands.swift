import HutchCLI
import HutchCluster
import HutchModel
import HutchOS
import HutchRuntime

enum NodeCLI {
    static let root = CLIOption.value("--root", "State root (default /var/lib/hutch, or $HUTCH_ROOT).", as: "dir")
    static let firewall = CLIOption.value("--firewall", "Firewall backend: nftables or iptables (or $HUTCH_FIREWALL).", as: "backend")

    static let parser = CLIParser(
        CLICommand("hutch", abstract: "Cluster nodes: a pod network across machines on etcd (flannel's way).",
                   subcommands: [command]),
        globals: [root, firewall],
        version: HutchVersion.string)

    static let command = CLICommand(
        "node", abstract: "Join this host to a multi-node pod network on etcd, list and inspect its nodes, leave it.",
        subcommands: [NodeJoin.command, NodeList.command, NodeInspect.command, NodeLeave.command, NodeAgent.command])

    static func runtime(_ a: CLIValues) throws -> Runtime {
        try Runtime.fromCommandLine(root: a.value(root), firewall: a.value(firewall))
    }

    // TLS to etcd, flannel's flag names (etcdctl's --cacert, --cert, --key).
    static let etcdCAFile = CLIOption.value("--etcd-cafile", "CA certificate (PEM) that signed etcd's certificate (default: the system's CAs).", as: "path")
    static let etcdCertFile = CLIOption.value("--etcd-certfile", "Client certificate (PEM) for etcd's --client-cert-auth; with --etcd-keyfile.", as: "path")
    static let etcdKeyFile = CLIOption.value("--etcd-keyfile", "The client certificate's private key (PEM).", as: "path")
    static let tlsOptions = [etcdCAFile, etcdCertFile, etcdKeyFile]

    static func tls(_ a: CLIValues) -> EtcdTLS {
        EtcdTLS(caFile: a.value(etcdCAFile), certFile: a.value(etcdCertFile), keyFile: a.value(etcdKeyFile))
    }
}

enum NodeJoin {
    static let name = CLIOption.value("--name", "This node's name in the cluster (required).")
    static let etcd = CLIOption.value("--etcd", "etcd's client URL, e.g. http://10.0.0.254:2379 or https://…; several members: their URLs, comma-separated (required).", as: "url[,url...]")
    static let nodeIP = CLIOption.value("--node-ip", "This node's address on the network the nodes share (required).", as: "ip")
    static let backend = CLIOption.value("--backend", "vxlan or host-gw (default: the cluster's, or vxlan for the first node).")
    static let clusterCIDR = CLIOption.value("--cluster-cidr", "The pod network, a /24 per node (default: the cluster's, or 10.244.0.0/16).", as: "cidr")
    static let leaseTTL = CLIOption.value("--lease-ttl", "Seconds a dead node's subnet is kept (default 30).", as: "seconds")
    static let prefix = CLIOption.value("--etcd-prefix", "Key prefix in etcd (default /hutch/).", as: "prefix")

    static let command = CLICommand(
        "join", abstract: "Join a cluster: lease a /24 for this node's pods, set up the overlay, start the node agent.",
        options: [name, etcd, nodeIP, backend, clusterCIDR, leaseTTL, prefix] + NodeCLI.tlsOptions
    ) { a in
        func required(_ o: CLIOption) throws -> String {
            guard let v = a.value(o), !v.isEmpty else {
                throw HutchError("node join needs --name, --etcd and --node-ip (missing \(o.long[0] == "name" ? "--name" : "--" + o.long[0]))")
            }
            return v
        }
        let n = try required(name), e = try required(etcd)
        guard let ip = IPv4Address(try required(nodeIP)) else {
            throw HutchError("invalid --node-ip \"\(a.value(nodeIP)!)\": use an IPv4 address")
        }
        var o = JoinOptions(name: n, etcd: e, nodeIP: ip)
        o.backend = try a.value(backend, Backend.init(rawValue:), expect: "use vxlan or host-gw")
        o.clusterCIDR = try a.value(clusterCIDR, { CIDRv4($0) }, expect: "use CIDR form like 10.244.0.0/16")
        o.leaseTTL = try a.value(leaseTTL, { Int($0) }, expect: "use a whole number of seconds") ?? 30
        o.prefix = a.value(prefix) ?? "/hutch/"
        o.tls = NodeCLI.tls(a)
        try o.validate()
        let s = try ClusterNode(NodeCLI.runtime(a)).join(o)
        print("node \(s.name) joined the cluster at \(s.etcdList): subnet \(s.subnet), backend \(s.backend.rawValue)")
    }
}

enum NodeList {
    static let quiet = CLIOption.flag("-q, --quiet", "Only print names.")
    static let etcd = CLIOption.value("--etcd", "etcd's client URL, or a comma-separated list (default: the cluster this node joined).", as: "url[,url...]")
    static let prefix = CLIOption.value("--etcd-prefix", "Key prefix in etcd (default: this node's, or /hutch/).", as: "prefix")

    static let command = CLICommand("ls", aliases: ["list"], abstract: "List the cluster's nodes (this one marked *).",
                                    options: [quiet, etcd, prefix] + NodeCLI.tlsOptions) { a in
        let rows = try ClusterNode(NodeCLI.runtime(a)).list(etcd: a.value(etcd), tls: NodeCLI.tls(a), prefix: a.value(prefix))
        if a.flag(quiet) { for r in rows { print(r.record.node) }; return }
        var t = [["NAME", "SUBNET", "BACKEND", "NODE IP", "STATUS"]]
        for r in rows {
            t.append([r.record.node + (r.isSelf ? " *" : ""), r.record.subnet.description, r.record.backend.rawValue,
                      r.record.publicIP.description, r.ready ? "Ready" : "NotReady"])
        }
        print(Table.render(t))
    }
}

enum NodeInspect {
    static let format = CLIOption.value("-f, --format", "json, or a Go-style template ('{{.Subnet}}', '{{.AgentPid}}').", as: "format")

    static let command = CLICommand("inspect", abstract: "Print this node's settings as JSON.", options: [format]) { a in
        let f = try OutputFormat(a.value(format), list: false)
        let rt = try NodeCLI.runtime(a)
        let s = try ClusterNode(rt).requireSettings()
        let pid = Runtime.liveAgent(try rt.nodeRecords().agent) ?? 0
        let o: JSON = .object([
            "Name": .string(s.name), "Subnet": .string(s.subnet.description), "Backend": .string(s.backend.rawValue),
            "NodeIP": .string(s.nodeIP.description), "AgentPid": .int(Int64(pid)), "Etcd": .string(s.etcd),
            "EtcdEndpoints": .array(s.endpoints.map { .string($0) }),
            "EtcdPrefix": .string(s.prefix), "ClusterCIDR": .string(s.clusterCIDR.description), "MTU": .int(Int64(s.mtu)),
            "EtcdCAFile": .string(s.tls.caFile ?? ""), "EtcdCertFile": .string(s.tls.certFile ?? ""),
            "EtcdKeyFile": .string(s.tls.keyFile ?? ""),
            "LeaseTTL": .int(Int64(s.leaseTTL)), "Lease": .string(String(s.lease)),
            "Gateway": .string(s.subnet.firstHost.description),
        ])
        if case .template(let t, _) = f { print(try t.render(o, what: "node \(s.name)")); return }
        print(JSON.array([o]).render(pretty: true))
    }
}

enum NodeLeave {
    static let command = CLICommand("leave", abstract: "Leave the cluster: revoke the lease, stop the agent, remove the overlay.") { a in
        let s = try ClusterNode(NodeCLI.runtime(a)).leave()
        print("node \(s.name) left the cluster")
    }
}

enum NodeAgent {
    static let command = CLICommand(
        "agent", abstract: "Run the node agent in the foreground (node join starts it detached; any hutch command restarts it).",
        discussion: "Keeps the lease alive and the routes to the other nodes in step with etcd. Exits at once if an agent already runs."
    ) { a in
        try Agent(NodeCLI.runtime(a)).run()
    }
}
