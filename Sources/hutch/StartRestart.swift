import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

enum Start {
    static let attach = CLIOption.flag("-a, --attach", "Stay attached: print the container's output and exit with its status.")

    static let command = CLICommand(
        "start", abstract: "Start exited containers again (same name, id, address, ports and sandbox).",
        discussion: "Example: hutch start web; hutch start -a job",
        options: [attach], arguments: [containersArgument]
    ) { a in
        let rt = try Global.runtime(a)
        let refs = a.all(containersArgument)
        guard a.flag(attach) else {
            try forEach(refs) { _ = try rt.start($0); print($0) }
            return
        }
        guard refs.count == 1 else { throw HutchError("start -a takes one container: attaching to several at once is not supported") }
        // Its output from now on: the log's end before it starts.
        let before = try rt.container(refs[0])
        var st = stat()
        let offset = stat(rt.logPath(before.id), &st) == 0 ? Int(st.st_size) : 0
        // (Already running: Docker's no-op; attached to what comes next.)
        let c = try rt.start(refs[0])
        rt.proxySignals(to: c)
        try Logs.show(rt, c, filter: LogFilter(), timestamps: false, follow: true, offset: offset)
        let status = try rt.waitStatus(c.id)
        if status != 0 { throw ExitStatus(status) }
    }
}

enum Restart {
    static let command = CLICommand(
        "restart", abstract: "Stop containers (SIGTERM, SIGKILL after the grace period) and start them again.",
        options: [stopTime], arguments: [containersArgument]
    ) { a in
        let time = try a.count(stopTime, default: 10)
        let rt = try Global.runtime(a)
        try forEach(a.all(containersArgument)) { _ = try rt.restart($0, timeout: time); print($0) }
    }
}

/// Run by a container's monitor around each restart (hidden): records it.
enum ShimEvent {
    static let id = CLIArgument("ID", .one, "The container's id.")
    static let event = CLIArgument("EVENT", .one, "restarting or started.")
    static let value = CLIArgument("VALUE", .one, "The exit code (restarting) or the new process id (started).")

    static let command = CLICommand(
        "shim-event", abstract: "Record a restart reported by a container's monitor (run by the shim).", hidden: true,
        arguments: [id, event, value]
    ) { a in
        guard let v = Int32(a.one(value)) else { throw HutchError("invalid VALUE \"\(a.one(value))\": a number") }
        try Global.recordedRuntime(a).shimEvent(a.one(id), event: a.one(event), value: v)
    }
}
