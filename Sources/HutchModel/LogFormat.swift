import HutchOS
/// A container's log as the shim writes it (docs/shim-protocol.md, "The log"): CRI's format, one
/// entry per line, `TIMESTAMP STREAM F|P TEXT`, TIMESTAMP RFC 3339 UTC with 9 fraction digits,
/// STREAM `stdout` or `stderr`, `F` for a full line (its newline not stored), `P` for a piece
/// continued by the stream's next entry.
public struct LogEntry: Equatable, Sendable {
    public enum Stream: String, Sendable { case stdout, stderr }
    /// The timestamp as stored (what `logs -t` prints).
    public var time: String
    /// The same, nanoseconds since the epoch.
    public var nanos: Int64
    public var stream: Stream
    /// The line's bytes, with its newline unless the stream ended in the middle of a line.
    public var text: [UInt8]

    public init(time: String, nanos: Int64, stream: Stream, text: [UInt8]) {
        self.time = time; self.nanos = nanos; self.stream = stream; self.text = text
    }
}

/// Reads log bytes as they come (a whole file, or what `logs -f` finds appended) into entries,
/// joining each stream's `P` pieces with the entry that ends its line.
public struct LogReader: Sendable {
    private var rest: [UInt8] = []
    private var pending: [LogEntry.Stream: LogEntry] = [:]

    public init() {}

    /// The lines completed by `bytes`. A line of the file that does not parse is skipped.
    public mutating func feed(_ bytes: ArraySlice<UInt8>) -> [LogEntry] {
        var out: [LogEntry] = []
        var start = bytes.startIndex
        if !rest.isEmpty {
            guard let nl = bytes.firstIndex(of: 10) else { rest += bytes; return [] }
            rest += bytes[start..<nl]
            let line = rest
            rest = []
            if let e = entry(line[...]) { out.append(e) }
            start = nl + 1
        }
        while start < bytes.endIndex {
            guard let nl = bytes[start...].firstIndex(of: 10) else { rest = Array(bytes[start...]); break }
            if let e = entry(bytes[start..<nl]) { out.append(e) }
            start = nl + 1
        }
        return out
    }

    /// At the end of the log: the pieces whose line never ended, as lines without a newline.
    public mutating func finish() -> [LogEntry] {
        let left = [LogEntry.Stream.stdout, .stderr].compactMap { pending.removeValue(forKey: $0) }
        return left.sorted { $0.nanos < $1.nanos }
    }

    private mutating func entry(_ line: ArraySlice<UInt8>) -> LogEntry? {
        // TIMESTAMP SP STREAM SP TAG SP TEXT
        let fields = line.split(separator: 32, maxSplits: 3, omittingEmptySubsequences: false)
        guard fields.count >= 3, let stream = LogEntry.Stream(rawValue: String(decoding: fields[1], as: UTF8.self)),
              fields[2].count == 1, let tag = fields[2].first, tag == UInt8(ascii: "F") || tag == UInt8(ascii: "P") else { return nil }
        let time = String(decoding: fields[0], as: UTF8.self)
        guard let nanos = LogTime.rfc3339(time) else { return nil }
        let text = fields.count == 4 ? Array(fields[3]) : []
        var e = pending.removeValue(forKey: stream) ?? LogEntry(time: time, nanos: nanos, stream: stream, text: [])
        e.text += text
        if tag == UInt8(ascii: "P") { pending[stream] = e; return nil }
        e.text.append(10)
        return e
    }
}

/// `logs --tail`, `--since`, `--until`: which entries are shown.
public struct LogFilter: Equatable, Sendable {
    /// nil: all.
    public var tail: Int?
    /// Nanoseconds since the epoch; an entry is shown when since <= its time <= until.
    public var since: Int64?
    public var until: Int64?

    public init(tail: Int? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.tail = tail; self.since = since; self.until = until
    }

    /// `--tail`: a number of lines from 0 up, or `all` (Docker's default).
    public static func tail(parsing s: String) throws -> Int? {
        if s == "all" { return nil }
        guard let n = Int(s), n >= 0, s.allSatisfy(\.isNumber) else {
            throw HutchError("invalid --tail \"\(s)\": use a number of lines (0 or more) or all")
        }
        return n
    }

    public func allows(_ e: LogEntry) -> Bool {
        if let s = since, e.nanos < s { return false }
        if let u = until, e.nanos > u { return false }
        return true
    }

    /// The entries of a whole log to show: the last `tail` lines, then the time window (as
    /// Docker's json-file reader applies them).
    public func apply(_ entries: [LogEntry]) -> [LogEntry] {
        let last = tail.map { Array(entries.suffix($0)) } ?? entries
        return last.filter(allows)
    }
}

/// Docker's `--since`/`--until` values: an RFC 3339 time (date, minutes, seconds, fraction,
/// `Z` or `±HH:MM`; none: UTC), a Unix time in seconds (`1700000000`, `1700000000.5`), or a
/// duration before now in Go's syntax (`10m`, `1h30m`, `90s`, `1.5h`, `250ms`).
public enum LogTime {
    /// Nanoseconds since the epoch; `now` too.
    public static func parse(_ s: String, now: Int64, flag: String) throws -> Int64 {
        if let t = rfc3339(s) { return t }
        if let t = unix(s) { return t }
        if let d = duration(s) { return now - d }
        throw HutchError("invalid \(flag) \"\(s)\": use a time such as 2026-12-07T10:00:00Z, Unix seconds such as 1796637600, or a duration such as 10m or 1h30m")
    }

    /// `[-]SECONDS[.FRACTION]`.
    static func unix(_ s: String) -> Int64? {
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber), let secs = Int64(parts[0]), secs < 1 << 33 else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let f = parts[1]
            guard !f.isEmpty, f.count <= 9, f.allSatisfy(\.isNumber), let v = Int64(f) else { return nil }
            nanos = v * pow10(9 - f.count)
        }
        return secs * 1_000_000_000 + nanos
    }

    static func pow10(_ n: Int) -> Int64 { (0..<n).reduce(Int64(1)) { a, _ in a * 10 } }

    /// Go's time.ParseDuration, positive values only: a sequence of NUMBER[.FRACTION]UNIT with
    /// units ns, us, µs, ms, s, m, h.
    public static func duration(_ s: String) -> Int64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var rest = Substring(s)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let num = rest.prefix(while: { $0.isNumber || $0 == "." })
            guard !num.isEmpty, num != ".", num.filter({ $0 == "." }).count <= 1, let v = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            let unit = rest.prefix(while: { !$0.isNumber && $0 != "." })
            guard let u = units.first(where: { $0.0 == unit }) else { return nil }
            rest = rest.dropFirst(unit.count)
            total += v * u.1
        }
        guard total < 9e18 else { return nil }
        return Int64(total)
    }

    /// RFC 3339 and its shorter forms: `2026-12-07`, `2026-12-07T10:00`, `2026-12-07T10:00:05`,
    /// with `.FRACTION` and `Z`/`±HH:MM`. Nanoseconds since the epoch.
    public static func rfc3339(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ i: Int, _ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + n) { guard b[k] >= 48 && b[k] <= 57 else { return nil }; v = v * 10 + Int64(b[k] - 48) }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var i = 10
        var secs: Int64 = 0, nanos: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: "T") {
            guard let h = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let mi = num(i + 4, 2), h < 24, mi < 60 else { return nil }
            secs = h * 3600 + mi * 60
            i += 6
            if i < b.count, b[i] == 58 {
                guard let sec = num(i + 1, 2), sec < 61 else { return nil }
                secs += sec
                i += 3
                if i < b.count, b[i] == 46 {
                    var k = i + 1
                    var digits = 0
                    while k < b.count, b[k] >= 48, b[k] <= 57 {
                        if digits < 9 { nanos = nanos * 10 + Int64(b[k] - 48) }
                        digits += 1; k += 1
                    }
                    guard digits > 0 else { return nil }
                    if digits < 9 { nanos *= pow10(9 - digits) }
                    i = k
                }
            }
        }
        var offset: Int64 = 0
        if i < b.count {
            if b[i] == UInt8(ascii: "Z") && i + 1 == b.count {
            } else if (b[i] == 43 || b[i] == 45), i + 6 == b.count, let oh = num(i + 1, 2), b[i + 3] == 58, let om = num(i + 4, 2) {
                offset = (oh * 3600 + om * 60) * (b[i] == 43 ? 1 : -1)
            } else { return nil }
        }
        return (daysFromCivil(y, mo, d) * 86400 + secs - offset) * 1_000_000_000 + nanos
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
