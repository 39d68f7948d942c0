import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

/// Containers (names or ids): the argument of stop, kill, wait and rm.
let containersArgument = CLIArgument("CONTAINER", .oneOrMore, "Containers (names or ids).")
/// `-t, --time`: of stop and pod stop.
let stopTime = CLIOption.value("-t, --time", "Seconds to wait before killing (default 10).", as: "seconds")

enum Stop {
    static let command = CLICommand(
        "stop", abstract: "Stop running containers (SIGTERM, then SIGKILL after a grace period).",
        options: [stopTime], arguments: [containersArgument]
    ) { a in
        let time = try a.count(stopTime, default: 10)
        let rt = try Global.runtime(a)
        try forEach(a.all(containersArgument)) { _ = try rt.stop($0, timeout: time); print($0) }
    }
}

enum Kill {
    static let signal = CLIOption.value("-s, --signal", "Signal name or number (default KILL).", as: "signal")

    static let command = CLICommand(
        "kill", abstract: "Send a signal to running containers (default KILL).", options: [signal], arguments: [containersArgument]
    ) { a in
        let s = a.value(signal) ?? "KILL"
        guard let sig = Signals.parse(s) else {
            throw HutchError("invalid --signal \"\(s)\": use a name like TERM, SIGHUP or a number from 1 to 64")
        }
        let rt = try Global.runtime(a)
        try forEach(a.all(containersArgument)) { try rt.kill($0, signal: sig); print($0) }
    }
}

enum Wait {
    static let command = CLICommand(
        "wait", abstract: "Block until containers stop, then print their exit codes.", arguments: [containersArgument]
    ) { a in
        let rt = try Global.runtime(a)
        try forEach(a.all(containersArgument)) { print(try rt.waitStatus($0)) }
    }
}

enum Remove {
    static let force = CLIOption.flag("-f, --force", "Kill and remove running containers.")
    static let ignore = CLIOption.flag("-i, --ignore", "No error for containers that do not exist.")

    static let command = CLICommand("rm", abstract: "Remove containers.", options: [force, ignore], arguments: [containersArgument]) { a in
        let rt = try Global.runtime(a)
        let forced = a.flag(force)
        let ignoring = a.flag(ignore)
        try forEach(a.all(containersArgument)) {
            if ignoring, try rt.findContainer($0) == nil { return }
            _ = try rt.remove($0, force: forced); print($0)
        }
    }
}

/// Run by the shim when a detached container exits (hidden): tears its network down.
enum Cleanup {
    static let id = CLIArgument("ID", .one, "The container's id.")

    static let command = CLICommand(
        "cleanup", abstract: "Clean up after an exited container (run by the shim).", hidden: true, arguments: [id]
    ) { a in
        try Global.recordedRuntime(a).cleanup(a.one(id))
    }
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
