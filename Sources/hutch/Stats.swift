import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

/// `hutch stats`: Docker's `docker stats` from the containers' cgroups.
enum StatsCommand {
    static let all = CLIOption.flag("-a, --all", "Show all containers (default: running only).")
    static let noStream = CLIOption.flag("--no-stream", "Print one sample and exit (default: refresh every second).")
    static let noTrunc = CLIOption.flag("--no-trunc", "Print full ids.")
    static let containers = CLIArgument("CONTAINER", .zeroOrMore, "Containers (names or ids; default: every running one).")

    static let command = CLICommand(
        "stats", abstract: "Show containers' CPU, memory and process counts (from their cgroups).",
        options: [all, noStream, noTrunc, Format.list], arguments: [containers]
    ) { a in
        let format = try Stats.rows.format(a.value(Format.list))
        let rt = try Global.runtime(a)
        let refs = a.all(containers)
        let hostMemory = Self.hostMemory()
        var previous: [String: (Int64, Int64?)] = [:]  // id -> (when, CPU ns)
        var targets = try rt.statsTargets(refs, all: a.flag(all))
        for t in targets { previous[t.record.id] = (now(), rt.statsSample(t.record).cpuNanos) }
        // CPU % is the use between two samples: the first table comes after a short interval.
        Sys.sleepMS(a.flag(noStream) ? 500 : 1000)
        while true {
            var rows: [Stats.Row] = []
            for t in targets {
                let s = rt.statsSample(t.record)
                let at = now()
                let cpu = previous[t.record.id].map { Stats.cpuPercent(before: $0.1, after: s.cpuNanos, elapsed: at - $0.0) } ?? 0
                previous[t.record.id] = (at, s.cpuNanos)
                rows.append(Stats.row(t.record, given: t.given, cpu: cpu, sample: s, hostMemory: hostMemory, full: a.flag(noTrunc)))
            }
            var text = ""
            if let t = try Stats.rows.render(rows.map(\.json), as: format, what: { "container \(rows[$0].name)" }) {
                text = t
            } else {
                text = Stats.table(rows) + "\n"
            }
            if a.flag(noStream) {
                print(text, terminator: "")
                return
            }
            // Docker's refresh: clear the screen, home the cursor, print the table.
            print("\u{1b}[2J\u{1b}[H" + text, terminator: "")
            fflush(nil)
            Sys.sleepMS(1000)
            // Without names the list follows what runs; named containers stay shown.
            if refs.isEmpty { targets = try rt.statsTargets(refs, all: a.flag(all)) }
        }
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The host's memory (MemTotal), the limit shown for a container without one.
    static func hostMemory() -> Int64 {
        for line in (Sys.readFile("/proc/meminfo") ?? "").split(separator: "\n") where line.hasPrefix("MemTotal:") {
            if let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int64($0) }) { return kb * 1024 }
        }
        return 0
    }
}
