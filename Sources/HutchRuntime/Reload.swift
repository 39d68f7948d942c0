import HutchModel
import HutchOS
import HutchState
import HutchNet
extension Runtime {
    /// Re-installs every rule from the state store: each network's rules (for networks whose
    /// bridge exists) and each running container's published ports. Run it after another tool
    /// (`nft flush ruleset`, `iptables -t nat -F`, a firewalld reload) wiped them. Idempotent.
    public func reload() throws -> [String] {
        var done: [String] = []
        for n in try store.read({ try NetworkRecord.all(in: $0) }) {
            let spec = BridgeNetwork(n)
            guard try host.linkExists(spec.bridge) else { continue }
            try host.installRules(spec)
            done.append("network \(n.name): rules installed (\(firewall.rawValue))")
        }
        // A cluster node's rules (issue 16), from the node record `hutch node join` wrote.
        if let (cidr, subnet) = try store.nodeClusterCIDR() {
            try host.installClusterRules(ClusterRules(cidr: cidr, bridge: Store.defaultNetwork.bridge, gateway: subnet.firstHost))
            done.append("cluster network \(cidr): rules installed (\(firewall.rawValue))")
        }
        for c in try store.containers() where c.status == .running {
            let r = try reconcile(c)
            guard r.status == .running else { continue }
            let f = try forwards(r)
            if f.isEmpty { continue }
            try host.publish(f)
            done.append("container \(r.name): \(f.count) published port(s) installed")
        }
        done += try resyncServices()
        return done
    }

    /// Moves every live rule from the backend recorded for this host to `new`, so rules are never
    /// stranded in a backend nobody looks at; then records the choice.
    func switchFirewall(from old: FirewallKind, to new: FirewallKind) throws {
        let oldHost = hostFor(old)
        var failures = ErrorList()
        let running = try store.containers().filter { $0.status == .running }
        for c in running {
            let f = try forwards(c)
            if !f.isEmpty { failures.attempt("remove \(c.name)'s ports") { try oldHost.unpublish(f) } }
        }
        for n in try store.read({ try NetworkRecord.all(in: $0) }) {
            failures.attempt("remove network \(n.name)'s rules") { try oldHost.removeRules(BridgeNetwork(n)) }
        }
        // Then what is left of hutch's in the old backend: base chains, jumps, the 127/8 guard.
        if failures.isEmpty { failures.attempt("remove hutch's \(old.rawValue) chains") { try oldHost.removeAllRules() } }
        // Nothing is switched while the old backend still holds rules: they would be stranded.
        try failures.check("cannot switch the firewall from \(old.rawValue) to \(new.rawValue)",
                           hint: " (fix the \(old.rawValue) backend, or keep --firewall \(old.rawValue))")
        try store.write { try Store.setMeta("firewall", new.rawValue, in: $0) }
        _ = try reload()
    }
}
