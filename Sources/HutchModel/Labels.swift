import HutchOS
/// Labels: `--label KEY=VALUE` (or `KEY`, an empty value, as Docker takes it) and label files
/// (Docker's format: one label a line, `#` comments and blank lines skipped). Constructed only
/// through `parse`, so a label with an empty key or a key with whitespace never exists. Services
/// select containers on them (`matches`).
public struct Labels: Sendable, Equatable {
    public private(set) var items: [String: String]

    public init() { items = [:] }

    /// Labels from `KEY=VALUE` entries; a later entry for the same key wins. `flag` names the
    /// source in errors ("--label", or "--label-file FILE line 3").
    public init(_ entries: [String], flag: String = "--label") throws {
        items = [:]
        for e in entries { try add(e, flag: flag) }
    }

    /// Labels as stored (`["k=v", ...]`); entries that do not parse are skipped.
    public init(stored entries: [String]) {
        items = [:]
        for e in entries { try? add(e, flag: "") }
    }

    public mutating func add(_ entry: String, flag: String = "--label") throws {
        let kv = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(kv[0])
        guard !key.isEmpty else { throw HutchError("invalid \(flag) \"\(entry)\": the key is empty (use KEY=VALUE)") }
        guard key.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value != 127 }) else {
            throw HutchError("invalid \(flag) \"\(entry)\": the key contains whitespace or control characters (use KEY=VALUE)")
        }
        guard !entry.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\0" }) else {
            throw HutchError("invalid \(flag) \"\(key)=…\": the value contains a newline or a NUL byte")
        }
        items[key] = kv.count == 2 ? String(kv[1]) : ""
    }

    /// The entries of a label file's text, Docker's format: surrounding whitespace trimmed, blank
    /// lines and lines starting with `#` skipped, every other line one `KEY=VALUE` (or `KEY`).
    public static func fileEntries(_ text: String, path: String) throws -> [(line: Int, entry: String)] {
        var out: [(Int, String)] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            let kv = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv[0].contains(where: { $0 == " " || $0 == "\t" }) {
                throw HutchError("invalid --label-file \(path) line \(i + 1): the key \"\(kv[0])\" contains whitespace")
            }
            out.append((i + 1, String(line)))
        }
        return out
    }

    /// `--label-file` files first (in order), then `--label` entries, which win (as in Docker).
    /// `read` returns a file's text or nil if it cannot be read.
    public static func parse(labels: [String], files: [String], read: (String) -> String?) throws -> Labels {
        var l = Labels()
        for f in files {
            guard let text = read(f) else { throw HutchError("cannot read --label-file \(f): no such file or not readable") }
            for (n, e) in try fileEntries(text, path: f) { try l.add(e, flag: "--label-file \(f) line \(n):") }
        }
        for e in labels { try l.add(e) }
        return l
    }

    /// True when every selector key is present with that value (a Kubernetes-style equality
    /// selector); an empty selector matches everything.
    public func matches(_ selector: [String: String]) -> Bool {
        selector.allSatisfy { items[$0.key] == $0.value }
    }

    public subscript(_ key: String) -> String? { items[key] }
    public var isEmpty: Bool { items.isEmpty }

    /// `["a=1","b=2"]`, sorted: how the store keeps them.
    public var entries: [String] { items.keys.sorted().map { "\($0)=\(items[$0]!)" } }
    /// `a=1,b=2`, as `docker ps --format '{{.Labels}}'` shows them.
    public var joined: String { entries.joined(separator: ",") }
    /// `{"a": "1"}`, as inspect shows them.
    public var json: JSON { .object(items.mapValues { .string($0) }) }
}

/// `--filter KEY=VALUE` of `ps` and `pod ls`: the same key given twice matches either value,
/// different keys must all match (Docker's rule); `label` filters must all match.
public struct Filters: Sendable, Equatable {
    public private(set) var values: [String: [String]] = [:]
    public private(set) var labels: [(key: String, value: String?)] = []

    public static func == (a: Filters, b: Filters) -> Bool {
        a.values == b.values && a.labels.map { "\($0.key)=\($0.value ?? "\u{0}")" } == b.labels.map { "\($0.key)=\($0.value ?? "\u{0}")" }
    }

    /// The keys `ps --filter` takes, and `status` values (Docker's, of which hutch has three).
    public static let containerKeys = ["id", "name", "label", "status", "pod", "network"]
    public static let containerStatuses = ["created", "restarting", "running", "removing", "paused", "exited", "dead"]
    public static let podKeys = ["id", "name", "label", "status", "network"]
    public static let podStatuses = ["created", "running", "stopped", "paused", "exited", "dead", "degraded"]

    public init() {}

    /// Parses every `--filter` value; `keys` are the ones this command takes, `statuses` the
    /// values `status=` may have.
    public init(_ entries: [String], keys: [String], statuses: [String]) throws {
        for e in entries {
            let kv = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(kv[0]).lowercased()
            guard keys.contains(key) else {
                throw HutchError("invalid --filter \"\(e)\": unknown filter \"\(kv[0])\" (use \(keys.map { $0 + "=" }.joined(separator: ", ")))")
            }
            guard kv.count == 2, !kv[1].isEmpty else { throw HutchError("invalid --filter \"\(e)\": use \(key)=VALUE") }
            let v = String(kv[1])
            if key == "label" {
                let lv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard !lv[0].isEmpty else { throw HutchError("invalid --filter \"\(e)\": use label=KEY or label=KEY=VALUE") }
                labels.append((String(lv[0]), lv.count == 2 ? String(lv[1]) : nil))
                continue
            }
            if key == "status", !statuses.contains(v.lowercased()) {
                throw HutchError("invalid --filter \"\(e)\": status is one of \(statuses.joined(separator: ", "))")
            }
            values[key, default: []].append(key == "status" ? v.lowercased() : v)
        }
    }

    public var isEmpty: Bool { values.isEmpty && labels.isEmpty }
    /// Whether a `status=` filter was given (it shows stopped containers without `-a`, as Docker).
    public var hasStatus: Bool { values["status"] != nil }

    /// What one container or pod offers to the filters.
    public struct Subject: Sendable {
        public var id: String
        public var name: String
        public var status: String
        public var labels: Labels
        /// Pod names and ids the subject belongs to (empty if none).
        public var pods: [String] = []
        /// Network names and ids it is attached to.
        public var networks: [String] = []
        public init(id: String, name: String, status: String, labels: Labels, pods: [String] = [], networks: [String] = []) {
            self.id = id; self.name = name; self.status = status; self.labels = labels; self.pods = pods; self.networks = networks
        }
    }

    /// `name=web`: a substring; `^` and `$` anchor it (`name=^web$`, as scripts write Docker's
    /// regular expression). Other regular-expression syntax is matched literally.
    static func nameMatches(_ name: String, _ pattern: String) -> Bool {
        var p = Substring(pattern)
        let start = p.hasPrefix("^"), end = p.hasSuffix("$") && p.count > (start ? 1 : 0)
        if start { p = p.dropFirst() }
        if end { p = p.dropLast() }
        switch (start, end) {
        case (true, true): return name == p
        case (true, false): return name.hasPrefix(p)
        case (false, true): return name.hasSuffix(p)
        case (false, false): return p.isEmpty || Substring(name).firstRange(String(p)) != nil
        }
    }

    /// `id`: a prefix of the id; `name`: see `nameMatches`; `status`: equal; `pod`, `network`: a name or an id prefix; `label`: KEY present
    /// or KEY=VALUE equal.
    public func matches(_ s: Subject) -> Bool {
        for (key, wanted) in values {
            let ok: Bool
            switch key {
            case "id": ok = wanted.contains { s.id.hasPrefix($0) }
            case "name": ok = wanted.contains { Self.nameMatches(s.name, $0) }
            case "status": ok = wanted.contains(s.status)
            case "pod": ok = wanted.contains { w in s.pods.contains { $0 == w || (w.count >= 3 && $0.hasPrefix(w)) } }
            case "network": ok = wanted.contains { w in s.networks.contains { $0 == w || (w.count >= 3 && $0.hasPrefix(w)) } }
            default: ok = false
            }
            if !ok { return false }
        }
        for l in labels {
            guard let v = s.labels[l.key] else { return false }
            if let want = l.value, v != want { return false }
        }
        return true
    }
}

/// `--expose PORT[/PROTO]` (ranges allowed): container ports `-P` publishes on free host ports.
public enum ExposeSpec {
    public static func parse(_ spec: String) throws -> [PortMapping] {
        func bad(_ why: String) -> HutchError { HutchError("invalid --expose \"\(spec)\": \(why) (use PORT[/tcp|udp] or START-END[/tcp|udp])") }
        let (body, given, suffix) = PortMapping.Proto.split(Substring(spec))
        guard let proto = given else { throw bad("unknown protocol \"\(suffix)\"") }
        guard !body.isEmpty else { throw bad("the port is missing") }
        let r = try PublishSpec.range(body, bad)
        return r.map { PortMapping(hostIP: nil, hostPort: 0, containerPort: $0, proto: proto) }
    }

    /// `-P`: the exposed ports not already published with `-p`, each on a free host port.
    public static func publishAll(_ exposed: [PortMapping], besides published: [PublishSpec.Parsed]) -> [PublishSpec.Parsed] {
        let taken = Set(published.flatMap(\.mappings).map { "\($0.containerPort)/\($0.proto.rawValue)" })
        var seen = Set<String>()
        return exposed.compactMap { m in
            let k = "\(m.containerPort)/\(m.proto.rawValue)"
            guard !taken.contains(k), seen.insert(k).inserted else { return nil }
            return PublishSpec.Parsed(mappings: [m], hostRange: nil)
        }
    }
}
