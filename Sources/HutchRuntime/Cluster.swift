#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

/// What a cluster node (issue 16, `hutch-node`) needs of the runtime: its default network moved
/// onto the node's pod subnet, the store's node records, and the agent kept alive. The etcd
/// client and the overlay live in HutchCluster, which only `hutch-node` links.
extension Runtime {
    public var root: String { store.root }

    /// The node's settings (JSON) and its agent ("PID STARTTIME"), as `node join` recorded them.
    public func nodeRecords() throws -> (node: String?, agent: String?) { try store.nodeMeta() }

    public func setNodeRecord(_ json: String?) throws { try store.setNodeMeta(Store.nodeKey, json) }
    public func setNodeAgent(pid: Int32, start: UInt64) throws { try store.setNodeMeta(Store.nodeAgentKey, "\(pid) \(start)") }
    public func clearNodeAgent() throws { try store.setNodeMeta(Store.nodeAgentKey, nil) }

    /// The agent's pid if it runs (pid and start time as recorded), else nil.
    public static func liveAgent(_ record: String?) -> Int32? {
        guard let f = record?.split(separator: " "), f.count == 2, let pid = Int32(f[0]), let start = UInt64(f[1]),
              Sys.isAlive(pid: pid, start: start) else { return nil }
        return pid
    }

    /// The default network `bridge` moves to `subnet` with `mtu` (a node's pod subnet; 0: the
    /// kernel's default MTU) and its bridge is rebuilt with the new gateway address and rules.
    /// Refused while any container holds an address on it: their addresses would be outside the
    /// new subnet. `subnet` nil: back to hutch's default (10.87.0.0/16, or HUTCH_DEFAULT_SUBNET).
    public func moveDefaultNetwork(to subnet: CIDRv4?, mtu: Int) throws {
        let target = subnet ?? Store.defaultNetwork.subnet
        let r = try store.moveDefaultNetwork(to: target, mtu: mtu)
        switch r {
        case .failure(let busy):
            throw Self.busy(busy.holders)
        case .success(let (old, new)):
            if old.subnet != new.subnet || old.gateway != new.gateway {
                try host.removeBridge(BridgeNetwork(old))
            }
            // Back to the default: the bridge comes back on the next run that needs it.
            if subnet != nil { try host.ensureBridge(BridgeNetwork(new)) }
        }
    }

    /// Throws (naming them) when containers hold addresses on the default network.
    public func checkDefaultNetworkFree() throws {
        let holders = try store.defaultNetworkHolders()
        if !holders.isEmpty { throw Self.busy(holders) }
    }

    static func busy(_ holders: [String]) -> HutchError {
        HutchError("containers hold addresses on the default network bridge (\(holders.joined(separator: ", "))): "
                   + "remove them first (hutch rm -f \(holders.joined(separator: " ")))")
    }

    /// The default network as stored (written on first use).
    public func defaultNetwork() throws -> NetworkRecord {
        guard let n = try store.network("bridge") else { throw HutchError("the default network is missing from the store") }
        return n
    }

    /// A crashed (or, after a reboot, gone) node agent is started again by the next hutch command
    /// on the node: `hutch-node --root R node agent`, detached. Costs nothing on a host that is not
    /// a cluster node (the record comes with the meta read every command makes) and a /proc read
    /// on one. Best effort: a failure to start it is reported on stderr, never fails the command.
    public func reviveNodeAgent() {
        guard let rec = nodeAgent, Self.liveAgent(rec) == nil else { return }
        do {
            _ = try spawnNodeAgent()
        } catch {
            Out.err("hutch: warning: the node agent is not running and could not be restarted (\(error)); run 'hutch node agent'")
        }
    }

    /// Starts `hutch-node --root R node agent` detached. No --firewall: the agent uses the backend
    /// recorded for the host (one given on its command line would switch the host back to it).
    public func spawnNodeAgent() throws -> pid_t {
        try Command.spawnDetached([Self.nodeProgram, "--root", store.root, "node", "agent"])
    }

    /// The runtime of the command line's `--root`/`--firewall` (else $HUTCH_ROOT, /var/lib/hutch
    /// and $HUTCH_FIREWALL): hutch's and hutch-node's commands alike.
    /// `environment: false`: $HUTCH_FIREWALL is not read (the recorded backend is used).
    public static func fromCommandLine(root: String?, firewall: String?, environment: Bool = true) throws -> Runtime {
        let r = root ?? Environment.get("HUTCH_ROOT") ?? "/var/lib/hutch"
        guard r.hasPrefix("/") else { throw HutchError("invalid --root \"\(r)\": the state root must be an absolute path") }
        var fw: FirewallKind?
        if let f = firewall {
            guard let k = FirewallKind(rawValue: f) else { throw HutchError("invalid --firewall \"\(f)\": use nftables or iptables") }
            fw = k
        } else if environment, let e = Environment.get("HUTCH_FIREWALL") {
            guard let k = FirewallKind(rawValue: e) else { throw HutchError("invalid HUTCH_FIREWALL \"\(e)\": use nftables or iptables") }
            fw = k
        }
        return try Runtime(root: r, firewall: fw)
    }

    /// Tells this node's agent (SIGUSR1) that its services or endpoints changed, so it publishes
    /// them at once rather than at its next once-a-second look. Nothing on a host that is not a
    /// cluster node (the record comes with the meta read every command makes).
    func notifyNodeAgent() {
        guard let pid = Self.liveAgent(nodeAgent) else { return }
        _ = Glibc.kill(pid, SIGUSR1)
    }

    /// `hutch-node` next to the running hutch binary (HUTCH_NODE overrides).
    public static let nodeProgram: String = {
        if let p = Environment.get("HUTCH_NODE") { return p }
        let exe = ShimLocator.hutchPath
        return exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/hutch-node"
    }()
}
