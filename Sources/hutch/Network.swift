import ArgumentParser
import HutchKit

struct Network: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage networks.",
        subcommands: [NetworkReload.self])
}

struct NetworkReload: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Re-install every network's and container's firewall rules from the state store.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        for line in try global.runtime().reload() { print(line) }
    }
}
