#if canImport(Glibc)
import Glibc
#endif
import HutchOS

/// Plain-text tables and Docker's human durations for `ps`.
public enum Table {
    /// Columns separated by three spaces, each as wide as its widest cell (the last one unpadded).
    /// Rows may differ in length (a `--format table` row with fewer tabs).
    public static func render(_ rows: [[String]]) -> String {
        guard let cols = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: cols)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                .joined(separator: "   ").trimmingSpaces()
        }.joined(separator: "\n")
    }

    /// "Less than a second", "3 seconds", "5 minutes", "2 hours", "4 days" — as Docker words them.
    public static func humanDuration(_ seconds: Int) -> String {
        switch seconds {
        case ..<1: return "Less than a second"
        case 1: return "1 second"
        case ..<60: return "\(seconds) seconds"
        case ..<120: return "About a minute"
        case ..<3600: return "\(seconds / 60) minutes"
        case ..<7200: return "About an hour"
        case ..<(48 * 3600): return "\(seconds / 3600) hours"
        default: return "\(seconds / 86400) days"
        }
    }

    public static func secondsSince(_ rfc3339: String?) -> Int {
        guard let s = rfc3339, let t = Sys.epochSeconds(ofRFC3339: s) else { return 0 }
        return max(0, Int(time(nil)) - t)
    }

    /// The NETWORK column: the mode as given, but a pod member shows its pod (`pod:web`), not
    /// the `container:<64 hex>` of the infra container whose namespaces it joined.
    public static func network(_ c: ContainerRecord, podName: String?) -> String {
        if !c.isInfra, c.pod != nil, let p = podName { return "pod:" + p }
        return c.networkMode
    }

    public static func status(_ c: ContainerRecord) -> String {
        switch c.status {
        case .running where c.restarting:
            // Docker's: the last exit code, and how long ago it exited.
            return "Restarting (\(c.exitCode ?? 0)) \(humanDuration(secondsSince(c.finishedAt))) ago"
        case .running: return "Up \(humanDuration(secondsSince(c.startedAt)))"
        case .created: return "Created"
        case .exited: return "Exited (\(c.exitCode ?? 0)) \(humanDuration(secondsSince(c.finishedAt))) ago"
        }
    }

    /// The command as `ps` shows it: quoted and cut to 20 characters like Docker's.
    public static func command(_ argv: [String]) -> String {
        let s = argv.joined(separator: " ")
        let cut = s.count > 19 ? String(s.prefix(19)) + "…" : s
        return "\"\(cut)\""
    }
}
