import HutchOS
/// `hutch stats` (Docker's `docker stats`): a container's usage as its cgroups count it, turned
/// into Docker's columns. Pure: the samples come from `Cgroups.sample`.
public enum Stats {
    public static let rows = ListOutput(fields: [
        ("Container", "CONTAINER"), ("ID", "CONTAINER ID"), ("Name", "NAME"), ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"), ("MemPerc", "MEM %"), ("PIDs", "PIDS"),
    ])

    /// CPU time used between two samples as a share of one CPU, in percent (Docker's: 200% is two
    /// CPUs busy). `elapsed`: nanoseconds between the samples.
    public static func cpuPercent(before: Int64?, after: Int64?, elapsed: Int64) -> Double {
        guard let b = before, let a = after, elapsed > 0, a >= b else { return 0 }
        return Double(a - b) / Double(elapsed) * 100
    }

    /// One row, its fields as `--format` sees them.
    public struct Row: Equatable, Sendable {
        public var container, id, name, cpuPerc, memUsage, memPerc, pids: String
        public var json: JSON {
            .object(["Container": .string(container), "ID": .string(id), "Name": .string(name), "CPUPerc": .string(cpuPerc),
                     "MemUsage": .string(memUsage), "MemPerc": .string(memPerc), "PIDs": .string(pids)])
        }
    }

    /// `given`: the name or id as the user gave it (all of them: the name). `hostMemory` stands
    /// for the limit when there is none (Docker's).
    public static func row(_ c: ContainerRecord, given: String, cpu: Double, sample: Cgroups.Sample, hostMemory: Int64,
                           full: Bool) -> Row {
        let usage = sample.memory ?? 0
        let limit = sample.memoryLimit.map { min($0, hostMemory) } ?? hostMemory
        let memPerc = limit > 0 ? Double(usage) / Double(limit) * 100 : 0
        return Row(container: given, id: full ? c.id : c.shortId, name: c.name, cpuPerc: fixed(cpu, 2) + "%",
                   memUsage: size(usage) + " / " + size(limit), memPerc: fixed(memPerc, 2) + "%",
                   pids: String(sample.pids ?? 0))
    }

    /// The default table: Docker's columns (without NET I/O and BLOCK I/O).
    public static func table(_ rows: [Row]) -> String {
        Table.render([["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]] +
                     rows.map { [$0.id, $0.name, $0.cpuPerc, $0.memUsage, $0.memPerc, $0.pids] })
    }

    /// `value` with `places` decimals (rounded half up).
    public static func fixed(_ value: Double, _ places: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let n = Int64((max(0, value) * Double(scale)).rounded())
        let whole = n / scale, frac = n % scale
        if places == 0 { return String(whole) }
        let f = String(frac)
        return "\(whole)." + String(repeating: "0", count: places - f.count) + f
    }

    /// Docker's sizes (go-units' BytesSize, "%.4g" in binary units): 0B, 512KiB, 1.953MiB, 7.668GiB.
    public static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(bytes), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        let places = v >= 1000 ? 0 : v >= 100 ? 1 : v >= 10 ? 2 : 3
        var s = fixed(v, places)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s + units[i]
    }
}
