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
        let fw = driver.firewall
        let nl = try NetlinkSession()
        for n in try store.read({ try NetworkRecord.all(in: $0) }) {
            let spec = BridgeNetwork(n)
            guard try nl.link(spec.bridge) != nil else { continue }
            try fw.setupNetwork(spec)
            done.append("network \(n.name): rules installed (\(firewall.rawValue))")
        }
        for c in try store.containers() where c.status == .running {
            let r = try reconcile(c)
            guard r.status == .running else { continue }
            let f = try forwards(r)
            if f.isEmpty { continue }
            try fw.addPorts(f)
            done.append("container \(r.name): \(f.count) published port(s) installed")
        }
        return done
    }

    /// Moves every live rule from the backend recorded for this host to `new`, so rules are never
    /// stranded in a backend nobody looks at; then records the choice.
    func switchFirewall(from old: FirewallKind, to new: FirewallKind) throws {
        let oldFW = makeFirewall(old)
        let running = try store.containers().filter { $0.status == .running }
        for c in running {
            let f = try forwards(c)
            if !f.isEmpty { try? oldFW.removePorts(f) }
        }
        for n in try store.read({ try NetworkRecord.all(in: $0) }) {
            try? oldFW.teardownNetwork(BridgeNetwork(n))
        }
        try store.write { try Store.setMeta("firewall", new.rawValue, in: $0) }
        _ = try reload()
    }
}
