import ArgumentParser
import HutchKit

struct Hutch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hutch",
        abstract: "Run commands in fresh Linux namespaces, networked the way Docker does it.",
        version: HutchKitVersion.string,
        subcommands: [Run.self, PS.self, Inspect.self, Logs.self, Exec.self, Stop.self, Kill.self, Wait.self, Remove.self, Port.self, GC.self, Pod.self, Network.self,
                      Cleanup.self]
    )
}

/// Options every command takes; they may stand before or after the command name.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("State root (default /var/lib/hutch, or $HUTCH_ROOT).", valueName: "dir"))
    var root: String?

    @Option(name: .long, help: ArgumentHelp("Firewall backend: nftables or iptables (or $HUTCH_FIREWALL).", valueName: "backend"),
            transform: { s in
                guard let k = FirewallKind(rawValue: s) else { throw HutchError("invalid --firewall \"\(s)\": use nftables or iptables") }
                return k
            })
    var firewall: FirewallKind?

    /// `hutch --root R run ...`: global options written before the command name are moved after
    /// it, where every command's option group parses them.
    static func hoisted(_ args: [String]) -> [String] {
        var lead: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--root" || a == "--firewall" {
                lead.append(a)
                if i + 1 < args.count { lead.append(args[i + 1]) }
                i += 2
            } else if a.hasPrefix("--root=") || a.hasPrefix("--firewall=") {
                lead.append(a); i += 1
            } else { break }
        }
        guard !lead.isEmpty, i < args.count else { return args }
        // In front of an unknown command, drop them so ArgumentParser names the command.
        func named(_ c: ParsableCommand.Type, _ word: String) -> Bool {
            c._commandName == word || c.configuration.aliases.contains(word)
        }
        guard let sub = Hutch.configuration.subcommands.first(where: { named($0, args[i]) }) else {
            return Array(args[i...])
        }
        // Sub-subcommands (e.g. `network ls`) take the options after their own name too.
        let nested = sub.configuration.subcommands
        if nested.isEmpty { return [args[i]] + lead + Array(args[(i + 1)...]) }
        guard i + 1 < args.count, nested.contains(where: { named($0, args[i + 1]) }) else {
            return Array(args[i...])
        }
        return [args[i], args[i + 1]] + lead + Array(args[(i + 2)...])
    }

    func runtime() throws -> Runtime {
        let env = Environment.self
        let r = root ?? env.get("HUTCH_ROOT") ?? "/var/lib/hutch"
        guard r.hasPrefix("/") else { throw HutchError("invalid --root \"\(r)\": the state root must be an absolute path") }
        var fw = firewall
        if fw == nil, let e = env.get("HUTCH_FIREWALL") {
            guard let k = FirewallKind(rawValue: e) else { throw HutchError("invalid HUTCH_FIREWALL \"\(e)\": use nftables or iptables") }
            fw = k
        }
        return try Runtime(root: r, firewall: fw)
    }
}
