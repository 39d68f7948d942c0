import ArgumentParser
import HutchKit

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command inside a running container's namespaces.")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: "Set an environment variable.") var env: [String] = []
    @Option(name: [.short, .long], help: "Working directory inside the container.") var workdir: String?
    @Argument(help: "Container (name or id).") var container: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []

    func run() throws {
        if let first = command.first, first == "-h" || first == "--help" { throw CleanExit.helpRequest(self) }
        if let first = command.first, first.hasPrefix("-"), first != "--" {
            throw HutchError("unknown flag: \(first) (see 'hutch exec --help')")
        }
        let cmd = command.first == "--" ? Array(command.dropFirst()) : command
        guard !cmd.isEmpty else { throw HutchError("exec needs a command: hutch exec CONTAINER COMMAND [ARG...]") }
        try global.runtime().exec(container, command: cmd, env: env, workdir: workdir)
    }
}
