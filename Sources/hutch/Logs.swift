import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

enum Logs {
    static let follow = CLIOption.flag("-f, --follow", "Follow the output until the container stops.")
    static let tail = CLIOption.value("-n, --tail", "Number of lines to show from the end of the log (default all).", as: "lines")
    static let timestamps = CLIOption.flag("-t, --timestamps", "Show each line's time (RFC 3339, nanoseconds).")
    static let since = CLIOption.value("--since", "Lines since a time: 2026-12-07T10:00:00Z, Unix seconds, or a duration such as 10m.", as: "time")
    static let until = CLIOption.value("--until", "Lines until a time (the same forms as --since).", as: "time")
    static let container = CLIArgument("CONTAINER", .one, "Container (name or id).")

    static let command = CLICommand(
        "logs", abstract: "Print a detached container's output (its stdout to stdout, its stderr to stderr).",
        options: [follow, tail, timestamps, since, until], arguments: [container]
    ) { a in
        let filter = try Self.filter(a)
        let rt = try Global.runtime(a)
        let c = try rt.container(a.one(container))
        guard c.detached else {
            throw HutchError("container \(c.name) ran in the foreground: its output went to the terminal, there is no log")
        }
        try show(rt, c, filter: filter, timestamps: a.flag(timestamps), follow: a.flag(follow))
    }

    static func filter(_ a: CLIValues) throws -> LogFilter {
        let now = Sys.epochNanos()
        var f = LogFilter()
        if let t = a.value(tail) { f.tail = try LogFilter.tail(parsing: t) }
        if let s = a.value(since) { f.since = try LogTime.parse(s, now: now, flag: "--since") }
        if let u = a.value(until) { f.until = try LogTime.parse(u, now: now, flag: "--until") }
        return f
    }

    /// Prints a container's log from byte `offset` on: what passes `filter`, each line on the
    /// stream it was written to. `follow`: then what is appended, until the container has stopped
    /// (a monitor waiting to restart it keeps it running) or `--until` has passed.
    static func show(_ rt: Runtime, _ c: ContainerRecord, filter: LogFilter, timestamps: Bool, follow: Bool, offset: Int = 0) throws {
        let fd = open(rt.logPath(c.id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if offset > 0 { lseek(fd, off_t(offset), SEEK_SET) }
        var reader = LogReader()
        var out = LogWriter(timestamps: timestamps)
        var buf = [UInt8](repeating: 0, count: 65536)
        func readAll() -> [LogEntry] {
            var entries: [LogEntry] = []
            while true {
                let n = read(fd, &buf, buf.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return entries }
                entries += reader.feed(buf[0..<n])
            }
        }
        // What is there now: the last --tail lines of it, in the time window.
        var first = readAll()
        if !follow { first += reader.finish() }
        guard out.write(filter.apply(first)) else { return }
        guard follow else { return }
        var checks = 0
        while true {
            if let u = filter.until, Sys.epochNanos() > u { return }
            let more = readAll()
            if !more.isEmpty {
                guard out.write(more.filter(filter.allows)) else { return }
                continue
            }
            // Nothing new: stop once the container is gone and everything it wrote has been read.
            checks += 1
            if checks % 5 == 0 {
                guard let cur = try rt.findContainer(c.id), try rt.reconcile(cur).status == .running else {
                    _ = out.write((readAll() + reader.finish()).filter(filter.allows))
                    return
                }
            }
            Sys.sleepMS(20)
        }
    }
}

/// Writes log entries: stdout's to fd 1, stderr's to fd 2, each line prefixed with its time
/// for `-t`. Consecutive lines of one stream go out in one write.
struct LogWriter {
    let timestamps: Bool
    /// false once a stream cannot take more (a closed pipe): stop reading.
    mutating func write(_ entries: [LogEntry]) -> Bool {
        var i = 0
        while i < entries.count {
            let stream = entries[i].stream
            var bytes: [UInt8] = []
            while i < entries.count, entries[i].stream == stream {
                if timestamps { bytes += Array(entries[i].time.utf8); bytes.append(32) }
                bytes += entries[i].text
                i += 1
            }
            if !Self.writeAll(stream == .stdout ? 1 : 2, bytes) { return false }
        }
        return true
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let w = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { return false }
            off += w
        }
        return true
    }
}
