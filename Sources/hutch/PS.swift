import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum PS {
    static let all = CLIOption.flag("-a, --all", "Show all containers (default: running only).")
    static let quiet = CLIOption.flag("-q, --quiet", "Only print short ids.")
    static let noTrunc = CLIOption.flag("--no-trunc", "Print full ids.")

    static let command = CLICommand("ps", abstract: "List containers.", options: [all, quiet, noTrunc]) { a in
        let rt = try Global.runtime(a)
        let list = try rt.containers(all: a.flag(all))
        let full = a.flag(noTrunc)
        if a.flag(quiet) {
            for c in list { print(full ? c.id : c.shortId) }
            return
        }
        var rows = [["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NETWORK", "IP", "NAMES"]]
        for c in list {
            rows.append([full ? c.id : c.shortId, Table.command(c.command),
                         Table.humanDuration(Table.secondsSince(c.createdAt)) + " ago", Table.status(c),
                         c.networkMode, c.status == .running ? c.ipAddress?.description ?? "" : "", c.name])
        }
        print(Table.render(rows))
    }
}
