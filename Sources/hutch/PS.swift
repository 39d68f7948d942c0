import ArgumentParser
import HutchKit

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Show all containers (default: running only).") var all = false
    @Flag(name: .shortAndLong, help: "Only print short ids.") var quiet = false
    @Flag(name: .customLong("no-trunc"), help: "Print full ids.") var noTrunc = false

    func run() throws {
        let rt = try global.runtime()
        let list = try rt.containers(all: all)
        if quiet {
            for c in list { print(noTrunc ? c.id : c.shortId) }
            return
        }
        var rows = [["CONTAINER ID", "COMMAND", "CREATED", "STATUS", "NETWORK", "IP", "NAMES"]]
        for c in list {
            rows.append([noTrunc ? c.id : c.shortId, Table.command(c.command),
                         Table.humanDuration(Table.secondsSince(c.createdAt)) + " ago", Table.status(c),
                         c.networkMode, c.status == .running ? c.ipAddress ?? "" : "", c.name])
        }
        print(Table.render(rows))
    }
}
