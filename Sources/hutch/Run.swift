import ArgumentParser
import HutchKit

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command in new namespaces (bridge networking by default).",
        discussion: "Example: hutch run --rm --name web -- python3 -m http.server 8000")

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Run in the background and print the container id.") var detach = false
    @Flag(name: .customLong("rm"), help: "Remove the container when it exits.") var autoRemove = false
    @Option(help: "Assign a name to the container.") var name: String?
    @Option(help: "Container host name (default: the short id).") var hostname: String?
    @Option(name: [.customLong("network"), .customLong("net")],
            help: ArgumentHelp("bridge (default), host, none, container:NAME.", valueName: "mode"),
            transform: { try NetworkMode(parsing: $0) })
    var network: NetworkMode?
    @Option(name: [.short, .long], help: ArgumentHelp("Set an environment variable (KEY=VALUE, or KEY to pass the caller's).", valueName: "env"))
    var env: [String] = []
    @Option(name: [.short, .long], help: "Working directory inside the container.") var workdir: String?
    @Option(name: [.short, .customLong("publish")],
            help: ArgumentHelp("Publish a port: [hostIP:][hostPort:]containerPort[/tcp|udp], ranges allowed.", valueName: "spec"),
            transform: { try PublishSpec.parse($0) })
    var publish: [PublishSpec.Parsed] = []
    @Option(help: "Join a pod's network, UTS and IPC namespaces.") var pod: String?
    @Option(help: "Static IPv4 address on a user-defined network.",
            transform: { s in guard let a = IPv4Address(s) else { throw HutchError("invalid --ip \"\(s)\": use an IPv4 address") }; return a })
    var ip: IPv4Address?
    @Option(name: .customLong("network-alias"), help: ArgumentHelp("Extra name on a user-defined network.", valueName: "alias"))
    var networkAlias: [String] = []
    @Option(name: .customLong("cap-add"), help: ArgumentHelp("Add a Linux capability (or ALL).", valueName: "cap")) var capAdd: [String] = []
    @Option(name: .customLong("cap-drop"), help: ArgumentHelp("Drop a Linux capability (or ALL).", valueName: "cap")) var capDrop: [String] = []
    @Flag(help: "Keep every capability and allow privilege gain (no no_new_privs).") var privileged = false
    @Flag(inversion: .prefixedNo, help: "Run a tiny init as PID 1 that forwards signals and reaps zombies.") var `init` = true
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

    func run() throws {
        if let first = command.first, first == "-h" || first == "--help" { throw CleanExit.helpRequest(self) }
        if let first = command.first, first.hasPrefix("-"), first != "--" {
            throw HutchError("unknown flag: \(first) (see 'hutch run --help')")
        }
        var o = RunOptions()
        o.name = name; o.hostname = hostname; o.network = network ?? .bridge("bridge"); o.networkGiven = network != nil; o.env = env; o.workdir = workdir
        o.detach = detach; o.autoRemove = autoRemove; o.useInit = `init`; o.publish = publish; o.pod = pod; o.ip = ip; o.aliases = networkAlias
        o.command = command.first == "--" ? Array(command.dropFirst()) : command
        let mask = try Capabilities.mask(add: capAdd, drop: capDrop)  // (checks the names, also with --privileged)
        if privileged {
            o.capMask = nil
            o.noNewPrivs = false
        } else {
            // Never more than the caller holds: `--cap-add ALL` means all of the bounding set.
            o.capMask = Capabilities.hex(mask & Capabilities.callerBounding())
        }
        // Everything that can be checked without the state store is checked before it is opened
        // (or, on first use, created).
        try o.validate()
        let status = try global.runtime().run(o) { started in
            if detach { print(started.id) }
        }
        if status != 0 { throw ExitStatus(status) }
    }
}
