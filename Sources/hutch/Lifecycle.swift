import ArgumentParser
import HutchKit

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop running containers (SIGTERM, then SIGKILL after a grace period).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .customLong("time")], help: "Seconds to wait before killing.") var time: Int = 10
    @Argument(help: "Containers (names or ids).") var containers: [String]

    func run() throws {
        guard time >= 0 else { throw HutchError("invalid --time \(time): must be 0 or more seconds") }
        let rt = try global.runtime()
        try forEach(containers) { _ = try rt.stop($0, timeout: time); print($0) }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Send a signal to running containers (default KILL).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.short, .long], help: "Signal name or number.") var signal: String = "KILL"
    @Argument(help: "Containers (names or ids).") var containers: [String]

    func run() throws {
        guard let sig = Signals.parse(signal) else {
            throw HutchError("invalid --signal \"\(signal)\": use a name like TERM, SIGHUP or a number from 1 to 64")
        }
        let rt = try global.runtime()
        try forEach(containers) { try rt.kill($0, signal: sig); print($0) }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Block until containers stop, then print their exit codes.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Containers (names or ids).") var containers: [String]

    func run() throws {
        let rt = try global.runtime()
        try forEach(containers) { print(try rt.wait($0).exitCode ?? 0) }
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove containers.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Kill and remove running containers.") var force = false
    @Argument(help: "Containers (names or ids).") var containers: [String]

    func run() throws {
        let rt = try global.runtime()
        try forEach(containers) { _ = try rt.remove($0, force: force); print($0) }
    }
}

/// Run by the shim when a detached container exits (hidden): tears its network down.
struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cleanup", abstract: "Clean up after an exited container (run by the shim).", shouldDisplay: false)
    @OptionGroup var global: GlobalOptions
    @Argument var id: String

    func run() throws { try global.runtime().cleanup(id) }
}

/// Applies `body` to every argument; like Docker, one failure does not stop the rest, each
/// error gets its line and the command exits 125 at the end.
func forEach(_ refs: [String], _ body: (String) throws -> Void) throws {
    var failed = false
    for r in refs {
        do { try body(r) } catch let e as HutchError {
            Out.err("hutch: \(e.message)")
            failed = true
        }
    }
    if failed { throw ExitStatus(125) }
}
