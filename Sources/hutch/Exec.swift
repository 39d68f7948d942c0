import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

enum Exec {
    static let interactive = CLIOption.flag("-i, --interactive", "Keep stdin attached (without it the command's stdin is empty).")
    static let tty = CLIOption.flag("-t, --tty", "Allocate a pseudo-terminal (hutch exec -it web sh).")
    static let env = CLIOption.list("-e, --env", "Set an environment variable.", as: "env")
    static let workdir = CLIOption.value("-w, --workdir", "Working directory inside the container.", as: "dir")
    static let container = CLIArgument("CONTAINER", .one, "Container (name or id).")
    static let commandLine = CLIArgument("COMMAND", .command, "The command and its arguments.")

    static let command = CLICommand(
        "exec", abstract: "Run a command inside a running container's namespaces.",
        options: [interactive, tty, env, workdir], arguments: [container, commandLine]
    ) { a in
        let cmd = a.all(commandLine)
        guard !cmd.isEmpty else { throw HutchError("exec needs a command: hutch exec CONTAINER COMMAND [ARG...]") }
        try RunOptions.checkTerminal(interactive: a.flag(interactive), tty: a.flag(tty), detach: false, stdinIsTerminal: isatty(0) == 1)
        try Global.runtime(a).exec(a.one(container), command: cmd, env: a.list(env), workdir: a.value(workdir),
                                   interactive: a.flag(interactive), tty: a.flag(tty))
    }
}
