import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

/// The program: its commands (one file each, grouped by noun) and the options every command takes.
enum Hutch {
    static let parser = CLIParser(
        CLICommand("hutch", abstract: "Run commands in fresh Linux namespaces, networked the way Docker does it.",
                subcommands: [Run.command, PS.command, Inspect.command, Logs.command, Exec.command, Stop.command, Kill.command,
                              Wait.command, Remove.command, Port.command, GC.command, Pod.command, Network.command,
                              Container.command, Rename.command, Start.command, Restart.command, StatsCommand.command, Cleanup.command, ShimEvent.command, Service.command, Ingress.command,
                              NodeForward.command]),
        globals: [Global.root, Global.firewall],
        version: HutchVersion.string)
}

/// Options every command takes; they may stand before or after the command name.
enum Global {
    static let root = CLIOption.value("--root", "State root (default /var/lib/hutch, or $HUTCH_ROOT).", as: "dir")
    static let firewall = CLIOption.value("--firewall", "Firewall backend: nftables or iptables (or $HUTCH_FIREWALL).", as: "backend")

    static func runtime(_ a: CLIValues) throws -> Runtime {
        let rt = try Runtime.fromCommandLine(root: a.value(root), firewall: a.value(firewall))
        rt.reviveNodeAgent()
        return rt
    }

    /// The runtime of the commands a container's shim starts (cleanup, shim-event): always the
    /// backend the host has recorded, never $HUTCH_FIREWALL inherited from the `run` that started
    /// the shim (a backend switch since then would otherwise be switched back at the exit).
    static func recordedRuntime(_ a: CLIValues) throws -> Runtime {
        try Runtime.fromCommandLine(root: a.value(root), firewall: nil, environment: false)
    }
}
