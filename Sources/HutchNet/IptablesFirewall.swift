import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// iptables backend: `iptables-restore -w --noflush` batches into hutch's own chains.
///
/// ```
/// filter: FORWARD     -> -j HUTCH-FORWARD      (inserted once, only if absent)
/// nat:    POSTROUTING -> -j HUTCH-POSTROUTING  (inserted once, only if absent)
/// ```
/// Every rule of a network carries `-m comment --comment "hutch:NAME"`. A change reads the two
/// tables once (`iptables-save -t filter|nat`), then applies one batch per change that deletes the
/// network's existing rules (by their exact saved text) and adds the new ones, so running it twice
/// leaves one copy, and no other rule or chain is flushed or touched. Read-modify-write runs under
/// an flock so concurrent hutch processes do not interleave.
///
/// Rule order in HUTCH-FORWARD: each network's "into the bridge" rules are inserted at the top and
/// its "out of the bridge" rules appended at the bottom, so a packet from one network to another
/// meets the destination's drop before the source's accept (isolation), whatever the order in
/// which the networks were created.
public struct IptablesFirewall: Firewall {
    public var kind: FirewallKind { .iptables }
    /// Where iptables-restore/iptables-save live; nil: the first of /usr/sbin, /sbin, /usr/bin, /bin.
    public var binDirectory: String?
    public var lockPath: String

    public init(binDirectory: String? = nil, lockPath: String = "/run/hutch-iptables.lock") {
        self.binDirectory = binDirectory; self.lockPath = lockPath
    }

    public static let forwardChain = "HUTCH-FORWARD"
    public static let postroutingChain = "HUTCH-POSTROUTING"

    /// What a table holds that matters to one network, parsed from `iptables-save -t TABLE`.
    public struct TableState: Sendable, Hashable {
        public var chainExists = false
        public var jumpExists = false
        /// The network's rules as saved: "-A HUTCH-... --comment \"hutch:NAME\" ...".
        public var owned: [String] = []
        public init(chainExists: Bool = false, jumpExists: Bool = false, owned: [String] = []) {
            self.chainExists = chainExists; self.jumpExists = jumpExists; self.owned = owned
        }
    }

    /// Parses one table of `iptables-save` for hutch's chain `chain`, its jump from `builtin`, and the
    /// rules of that chain tagged with `comment`.
    public static func parse(save: String, chain: String, builtin: String, comment: String) -> TableState {
        var st = TableState()
        for line in save.split(separator: "\n") {
            if line.hasPrefix(":\(chain) ") { st.chainExists = true }
            else if line == "-A \(builtin) -j \(chain)" { st.jumpExists = true }
            else if line.hasPrefix("-A \(chain) "), commentOf(line) == comment { st.owned.append(String(line)) }
        }
        return st
    }

    /// The value of `--comment` in a saved rule, without the quotes iptables-save may add.
    static func commentOf(_ line: Substring) -> String? {
        guard let r = line.firstRange(of: "--comment ") else { return nil }
        let rest = line[r.upperBound...]
        if rest.first == "\"" {
            guard let end = rest.dropFirst().firstIndex(of: "\"") else { return nil }
            return String(rest[rest.index(after: rest.startIndex)..<end])
        }
        return String(rest.prefix { $0 != " " })
    }

    /// The network's rules: `top` inserted at the head of the chain (in this order), `bottom` appended.
    public static func forwardRules(_ n: BridgeNetwork) -> (top: [String], bottom: [String]) {
        let c = "-m comment --comment \"\(n.ruleComment)\"", br = n.bridge
        if n.isInternal {
            return (top: ["-i \(br) -o \(br) \(c) -j ACCEPT",
                          "-o \(br) \(c) -j DROP"],
                    bottom: ["-i \(br) \(c) -j DROP"])
        }
        // Traffic between members of the bridge first: with br_netfilter on, bridged frames pass
        // FORWARD too and would otherwise hit the DROP below (Docker has the same rule).
        return (top: ["-i \(br) -o \(br) \(c) -j ACCEPT",
                      "-o \(br) -m conntrack --ctstate RELATED,ESTABLISHED \(c) -j ACCEPT",
                      "-o \(br) -m conntrack --ctstate DNAT \(c) -j ACCEPT",
                      "-o \(br) \(c) -j DROP"],
                bottom: ["-i \(br) \(c) -j ACCEPT"])
    }

    public static func natRules(_ n: BridgeNetwork) -> [String] {
        n.isInternal ? [] : ["-s \(n.subnet) ! -o \(n.bridge) -m comment --comment \"\(n.ruleComment)\" -j MASQUERADE"]
    }

    /// The setup batch for iptables-restore --noflush, given what the tables hold now.
    public static func renderSetup(_ n: BridgeNetwork, filter: TableState, nat: TableState) -> String {
        let f = forwardRules(n)
        var s = "*filter\n" + prelude(forwardChain, builtin: "FORWARD", filter)
        for r in f.top.reversed() { s += "-I \(forwardChain) 1 \(r)\n" }
        for r in f.bottom { s += "-A \(forwardChain) \(r)\n" }
        s += "COMMIT\n*nat\n" + prelude(postroutingChain, builtin: "POSTROUTING", nat)
        for r in natRules(n) { s += "-A \(postroutingChain) \(r)\n" }
        return s + "COMMIT\n"
    }

    /// The teardown batch, nil when nothing of the network is left.
    public static func renderTeardown(filter: TableState, nat: TableState) -> String? {
        if filter.owned.isEmpty && nat.owned.isEmpty { return nil }
        var s = ""
        if !filter.owned.isEmpty { s += "*filter\n" + deletes(filter) + "COMMIT\n" }
        if !nat.owned.isEmpty { s += "*nat\n" + deletes(nat) + "COMMIT\n" }
        return s
    }

    static func prelude(_ chain: String, builtin: String, _ st: TableState) -> String {
        // With --noflush, declaring a chain flushes it when it exists: declare it only when absent.
        (st.chainExists ? "" : ":\(chain) - [0:0]\n")
            + (st.jumpExists ? "" : "-I \(builtin) -j \(chain)\n")
            + deletes(st)
    }

    static func deletes(_ st: TableState) -> String {
        st.owned.map { "-D" + $0.dropFirst(2) + "\n" }.joined()
    }

    // MARK: applying

    public func setupNetwork(_ n: BridgeNetwork) throws {
        try locked {
            let (f, t) = try state(n)
            try restore(Self.renderSetup(n, filter: f, nat: t), step: "iptables: rules of network \(n.name)")
        }
    }

    public func addPorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        try locked {
            let nat = try SaveState(save("nat")), raw = try SaveState(save("raw"))
            if let b = Self.renderAddPorts(ports, nat: nat, raw: raw) {
                try restore(b, step: "iptables: publish ports")
            }
        }
        flushUDPConntrack(ports)
    }

    public func removePorts(_ ports: [PortForward]) throws {
        guard !ports.isEmpty else { return }
        try locked {
            let nat = try SaveState(save("nat"))
            if let b = Self.renderRemovePorts(ports, nat: nat) {
                try restore(b, step: "iptables: unpublish ports")
            }
        }
        flushUDPConntrack(ports)
    }

    public func teardownNetwork(_ n: BridgeNetwork) throws {
        try locked {
            let (f, t) = try state(n)
            if let b = Self.renderTeardown(filter: f, nat: t) {
                try restore(b, step: "iptables: remove rules of network \(n.name)")
            }
        }
    }

    /// Removes hutch's chains and the jumps to them from filter, nat and raw; nothing else.
    public func removeAll() throws {
        try locked {
            let b = try Self.renderRemoveAll(filter: SaveState(save("filter")), nat: SaveState(save("nat")),
                                             raw: SaveState(save("raw")))
            if let b { try restore(b, step: "iptables: remove hutch's chains") }
        }
    }

    func state(_ n: BridgeNetwork) throws -> (TableState, TableState) {
        let f = try save("filter"), t = try save("nat")
        return (Self.parse(save: f, chain: Self.forwardChain, builtin: "FORWARD", comment: n.ruleComment),
                Self.parse(save: t, chain: Self.postroutingChain, builtin: "POSTROUTING", comment: n.ruleComment))
    }

    func locked<T>(_ body: () throws -> T) throws -> T {
        // Best effort: without a writable lock path the batches are still atomic one by one.
        let fd = hn_lock_file(lockPath)
        defer { if fd >= 0 { hn_unlock_file(fd) } }
        return try body()
    }

    func tool(_ name: String) throws -> String {
        let dirs = binDirectory.map { [$0] } ?? ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for d in dirs where access(d + "/" + name, X_OK) == 0 { return d + "/" + name }
        throw HutchError("\(name) not found (install iptables, or use --firewall nftables)")
    }

    func save(_ table: String) throws -> String {
        let (status, out) = try Command.run([tool("iptables-save"), "-t", table])
        guard status == 0 else { throw HutchError("iptables-save -t \(table) failed: \(out.trimmingSpaces())") }
        return out
    }

    public func restore(_ batch: String, step: String) throws {
        let (status, out) = try Command.run([tool("iptables-restore"), "-w", "10", "--noflush"], input: batch)
        guard status == 0 else { throw HutchError("\(step) failed: \(out.trimmingSpaces())") }
    }
}

// MARK: published ports

extension IptablesFirewall {
    public static let dnatChain = "HUTCH"
    public static let rawChain = "HUTCH-RAW"
    /// nat PREROUTING/OUTPUT -> HUTCH for local destinations, like Docker's DOCKER chain.
    static let dnatJumps = ["-A PREROUTING -m addrtype --dst-type LOCAL -j \(dnatChain)",
                            "-A OUTPUT -m addrtype --dst-type LOCAL -j \(dnatChain)"]
    static let postroutingJump = "-I POSTROUTING -j \(postroutingChain)"
    static let rawJump = "-I PREROUTING -j \(rawChain)"
    /// CVE-2020-8558: route_localnet on hutch's bridges must not let a neighbour reach 127.0.0.0/8.
    static let localnetGuard = "-A \(rawChain) -d 127.0.0.0/8 ! -i lo -m comment --comment \"hutch:CVE-2020-8558\" -j DROP"

    /// A table as `iptables-save -t TABLE` shows it: declared chains and rule lines (quotes dropped,
    /// so `--comment "hutch:x"` and `--comment hutch:x` compare equal).
    public struct SaveState: Sendable, Hashable {
        public var chains: Set<String> = []
        public var lines: [String] = []
        public init(_ save: String = "") {
            for l in save.split(separator: "\n") {
                if l.hasPrefix(":") { chains.insert(String(l.dropFirst().prefix { $0 != " " })) }
                else if l.hasPrefix("-A ") { lines.append(SaveState.normal(l)) }
            }
        }
        static func normal(_ l: some StringProtocol) -> String { String(l.filter { $0 != "\"" }) }
        func has(_ rule: String) -> Bool { lines.contains(SaveState.normal(rule)) }
    }

    /// The rules of one published port, in iptables-save form (`-A CHAIN ...`):
    /// DNAT in HUTCH (restricted to hostIP when set); MASQUERADE of hairpin traffic (the container to
    /// itself through the host's address; not for loopback-only mappings); MASQUERADE of the host's
    /// own 127.0.0.0/8 traffic DNAT'ed into the container (when 127.0.0.1 reaches the mapping).
    public static func portRules(_ p: PortForward) -> (nat: [String], post: [String]) {
        let m = p.mapping, pr = m.proto.rawValue
        let c = "-m comment --comment \"\(NftablesFirewall.portComment(p.owner))\""
        let dst = m.hostIP.map { " -d \($0)/32" } ?? ""
        let dnat = "-A \(dnatChain)\(dst) -p \(pr) -m \(pr) --dport \(m.hostPort) \(c) -j DNAT --to-destination \(p.containerIP):\(m.containerPort)"
        var post: [String] = []
        let loopbackOnly = m.hostIP?.isLoopback ?? false
        if !loopbackOnly {
            post.append("-A \(postroutingChain) -s \(p.containerIP)/32 -d \(p.containerIP)/32 -p \(pr) -m \(pr) --dport \(m.containerPort) \(c) -j MASQUERADE")
        }
        if m.hostIP == nil || loopbackOnly {
            post.append("-A \(postroutingChain) -s 127.0.0.0/8 -d \(p.containerIP)/32 -p \(pr) -m \(pr) --dport \(m.containerPort) \(c) -j MASQUERADE")
        }
        return ([dnat], post)
    }

    /// The batch publishing `ports`, given the nat and raw tables now; nil when all is there.
    /// Chains and jumps are created when missing; a rule already present is not added twice.
    public static func renderAddPorts(_ ports: [PortForward], nat: SaveState, raw: SaveState) -> String? {
        var n = "", seen = Set<String>()
        if !nat.chains.contains(dnatChain) { n += ":\(dnatChain) - [0:0]\n" }
        if !nat.chains.contains(postroutingChain) { n += ":\(postroutingChain) - [0:0]\n" }
        for j in dnatJumps where !nat.has(j) { n += j + "\n" }
        if !nat.has("-A POSTROUTING -j \(postroutingChain)") { n += postroutingJump + "\n" }
        for p in ports {
            let r = portRules(p)
            for l in r.nat + r.post where !nat.has(l) && seen.insert(l).inserted { n += l + "\n" }
        }
        var w = ""
        if !raw.chains.contains(rawChain) { w += ":\(rawChain) - [0:0]\n" }
        if !raw.has("-A PREROUTING -j \(rawChain)") { w += rawJump + "\n" }
        if !raw.has(localnetGuard) { w += localnetGuard + "\n" }
        if n.isEmpty && w.isEmpty { return nil }
        return (n.isEmpty ? "" : "*nat\n" + n + "COMMIT\n") + (w.isEmpty ? "" : "*raw\n" + w + "COMMIT\n")
    }

    /// The batch removing `ports`' rules that are present; nil when none is.
    public static func renderRemovePorts(_ ports: [PortForward], nat: SaveState) -> String? {
        var n = "", seen = Set<String>()
        for p in ports {
            let r = portRules(p)
            for l in r.nat + r.post where nat.has(l) && seen.insert(l).inserted { n += "-D" + l.dropFirst(2) + "\n" }
        }
        return n.isEmpty ? nil : "*nat\n" + n + "COMMIT\n"
    }

    /// Removes every HUTCH* chain and every jump to one from a built-in chain: backend switch,
    /// uninstall. Other tools' rules and chains are not touched. nil when there is nothing.
    public static func renderRemoveAll(filter: SaveState, nat: SaveState, raw: SaveState) -> String? {
        var s = ""
        for (name, st) in [("filter", filter), ("nat", nat), ("raw", raw)] {
            let mine = st.chains.filter { $0.hasPrefix("HUTCH") }.sorted()
            if mine.isEmpty { continue }
            var t = ""
            for l in st.lines {
                let chain = l.dropFirst(3).prefix { $0 != " " }
                guard !chain.hasPrefix("HUTCH"), let j = l.firstRange(of: " -j ") else { continue }
                let target = l[j.upperBound...].prefix { $0 != " " }
                if target.hasPrefix("HUTCH") { t += "-D" + l.dropFirst(2) + "\n" }
            }
            for c in mine { t += "-F \(c)\n" }
            for c in mine { t += "-X \(c)\n" }
            s += "*\(name)\n" + t + "COMMIT\n"
        }
        return s.isEmpty ? nil : s
    }
}
