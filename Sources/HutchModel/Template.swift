import HutchOS
/// `--format` templates, the subset of Go's text/template that Docker's users write:
/// `{{.Names}}`, `{{.State.Status}}`, `{{json .Config}}`, `{{.Config | json}}`,
/// `{{index .Config.Labels "app.kubernetes.io/name"}}`, literal text around them, `{{- ` and
/// ` -}}` trim markers. Parsed once into segments, then rendered against the JSON value the
/// command already builds. Everything else (`range`, `if`, variables, other functions, a field
/// the value does not have) is a one-line error, never silent empty output.
public struct Template: Sendable, Equatable {
    /// One argument of a call: a field path (`.A.B`; `[]` is `.` itself) or a string literal.
    public enum Argument: Sendable, Equatable {
        case field([String])
        case string(String)
    }

    /// One command of a pipeline: a lone argument (`function == nil`) or a function and its
    /// arguments. After a `|`, the previous command's value is the last argument.
    public struct Call: Sendable, Equatable {
        public var function: String?
        public var arguments: [Argument]
    }

    public enum Segment: Sendable, Equatable {
        case text(String)
        case action([Call])
    }

    public let segments: [Segment]

    /// The functions hutch's templates know.
    public static let functions: Set<String> = ["json", "index"]
    /// Go template keywords, refused by name.
    static let keywords: Set<String> = ["if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil"]

    public init(segments: [Segment]) { self.segments = segments }

    /// Parses `text`; errors name the construct at fault.
    public static func parse(_ text: String) throws -> Template {
        var segments: [Segment] = []
        var rest = Substring(text)
        var trimNext = false
        while !rest.isEmpty {
            guard let open = rest.firstRange("{{") else {
                segments.append(.text(trimNext ? String(rest.drop(while: { $0.isWhitespace })) : String(rest)))
                break
            }
            var literal = rest[..<open.lowerBound]
            if trimNext { literal = literal.drop(while: { $0.isWhitespace }) }
            var body = rest[open.upperBound...]
            guard let close = body.firstRange("}}") else {
                throw bad("unclosed {{ in \(quoted(String(rest[open.lowerBound...])))")
            }
            var inner = body[..<close.lowerBound]
            body = body[close.upperBound...]
            // `{{- ` trims the whitespace before, ` -}}` the whitespace after (as in Go).
            if inner.hasPrefix("- ") || inner == "-" {
                literal = Substring(String(literal.reversed().drop(while: { $0.isWhitespace }).reversed()))
                inner = inner.dropFirst()
            }
            trimNext = false
            if inner.hasSuffix(" -") {
                trimNext = true
                inner = inner.dropLast()
            }
            if !literal.isEmpty { segments.append(.text(String(literal))) }
            segments.append(.action(try action(inner)))
            rest = body
        }
        return Template(segments: segments)
    }

    static func bad(_ why: String) -> HutchError { HutchError("invalid --format: \(why)") }

    static func quoted(_ s: String) -> String {
        var out = ""
        JSON.quote(s.count > 60 ? String(s.prefix(60)) + "…" : s, into: &out)
        return out
    }

    /// The inside of one `{{ }}`: a pipeline of calls.
    static func action(_ inner: Substring) throws -> [Call] {
        let shown = "{{" + inner + "}}"
        let words = try tokens(inner, shown)
        guard !words.isEmpty else { throw bad("empty action {{}}") }
        var calls: [Call] = []
        var current: [Token] = []
        func finish() throws {
            guard let first = current.first else { throw bad("a | with nothing on one side in \(quoted(shown))") }
            var call: Call
            switch first {
            case .word(let w) where w.hasPrefix("."):
                call = Call(function: nil, arguments: [try field(w, shown)])
                if current.count > 1 { throw bad("\(w) is a field, not a function: it takes no arguments in \(quoted(shown))") }
                if !calls.isEmpty { throw bad("\(w) after | must be a function (json, index) in \(quoted(shown))") }
            case .word(let w):
                if keywords.contains(w) {
                    throw bad("{{\(w)}} is not supported (hutch's templates take {{.Field}}, {{.A.B}}, {{json .X}}, {{index .X \"key\"}} and text)")
                }
                if w.hasPrefix("$") { throw bad("template variables (\(w)) are not supported") }
                guard functions.contains(w) else {
                    throw bad("unknown function \"\(w)\" (the functions are json and index)")
                }
                call = Call(function: w, arguments: try current.dropFirst().map { t in
                    switch t {
                    case .string(let s): return .string(s)
                    case .word(let a) where a.hasPrefix("."): return try field(a, shown)
                    case .pipe: throw bad("a | with nothing on one side in \(quoted(shown))")
                    case .word(let a): throw bad("\(quoted(a)) is not a field or a string in \(quoted(shown)) (nested calls and other functions are not supported)")
                    }
                })
                let given = call.arguments.count + (calls.isEmpty ? 0 : 1)
                if w == "json" && given != 1 { throw bad("json takes one value, as in {{json .Config}}") }
                if w == "index" && given < 2 { throw bad("index takes a value and keys, as in {{index .Config.Labels \"app\"}}") }
                if w == "index", call.arguments.dropFirst(calls.isEmpty ? 1 : 0).contains(where: { if case .field = $0 { return true } else { return false } }) {
                    throw bad("index keys must be quoted strings in \(quoted(shown))")
                }
            case .string(let s):
                if !calls.isEmpty || current.count > 1 { throw bad("\(quoted(s)) is not a function in \(quoted(shown))") }
                call = Call(function: nil, arguments: [.string(s)])
            case .pipe:
                throw bad("a | with nothing on one side in \(quoted(shown))")
            }
            calls.append(call)
            current = []
        }
        for t in words {
            if case .pipe = t { try finish() } else { current.append(t) }
        }
        try finish()
        return calls
    }

    enum Token: Equatable { case word(String), string(String), pipe }

    static func tokens(_ s: Substring, _ shown: String) throws -> [Token] {
        var out: [Token] = []
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c.isWhitespace { i = s.index(after: i); continue }
            if c == "|" { out.append(.pipe); i = s.index(after: i); continue }
            if c == "\"" || c == "`" {
                var v = ""
                var j = s.index(after: i)
                var closed = false
                while j < s.endIndex {
                    let d = s[j]
                    if d == c { closed = true; j = s.index(after: j); break }
                    if d == "\\" && c == "\"" {
                        j = s.index(after: j)
                        guard j < s.endIndex else { break }
                        switch s[j] {
                        case "n": v.append("\n")
                        case "t": v.append("\t")
                        case "\\": v.append("\\")
                        case "\"": v.append("\"")
                        default: throw bad("unknown escape \\\(s[j]) in a string in \(quoted(shown))")
                        }
                    } else { v.append(d) }
                    j = s.index(after: j)
                }
                guard closed else { throw bad("unterminated string in \(quoted(shown))") }
                out.append(.string(v))
                i = j
                continue
            }
            if c == "(" || c == ")" { throw bad("parentheses are not supported in \(quoted(shown))") }
            if c == "/" && s[i...].hasPrefix("/*") { throw bad("template comments are not supported in \(quoted(shown))") }
            var j = i
            while j < s.endIndex, !s[j].isWhitespace, !"|()\"`".contains(s[j]) { j = s.index(after: j) }
            let w = String(s[i..<j])
            if w.first?.isNumber == true || w == "true" || w == "false" {
                throw bad("constants (\(w)) are not supported in \(quoted(shown))")
            }
            out.append(.word(w))
            i = j
        }
        return out
    }

    /// `.` or `.A.B.C` with Go identifier names.
    static func field(_ w: String, _ shown: String) throws -> Argument {
        if w == "." { return .field([]) }
        let parts = w.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
        for p in parts {
            guard let f = p.first, f == "_" || f.isLetter, p.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }) else {
                throw bad("\(quoted(w)) is not a field name in \(quoted(shown))")
            }
        }
        return .field(parts.map(String.init))
    }

    // MARK: checks

    /// Every field path used, first component first (for up-front checks and table headers).
    public var fieldPaths: [[String]] {
        segments.flatMap { s -> [[String]] in
            guard case .action(let calls) = s else { return [] }
            return calls.flatMap { $0.arguments.compactMap { if case .field(let p) = $0 { return p } else { return nil } } }
        }
    }

    /// For list commands, whose rows have a known set of fields: refuses unknown ones before
    /// anything is listed (so an empty list cannot hide the mistake).
    public func check(fields: [String]) throws {
        for p in fieldPaths {
            guard let first = p.first else { continue }
            guard fields.contains(first) else {
                throw Self.bad("no field .\(first) (the fields are \(fields.map { "." + $0 }.joined(separator: ", ")))")
            }
        }
    }

    // MARK: rendering

    /// The text for one value; `what` names it in errors ("container web").
    public func render(_ value: JSON, what: String = "the value") throws -> String {
        var out = ""
        for s in segments {
            switch s {
            case .text(let t): out += t
            case .action(let calls): out += Self.text(try evaluate(calls, value, what))
            }
        }
        return out
    }

    /// A table's header row: every action shows the header of the first field it uses.
    public func header(_ name: (String) -> String) -> String {
        var out = ""
        for s in segments {
            switch s {
            case .text(let t): out += t
            case .action(let calls):
                let path = calls.lazy.flatMap { $0.arguments }.compactMap { a -> [String]? in
                    if case .field(let p) = a { return p } else { return nil }
                }.first
                out += name(path?.first ?? "")
            }
        }
        return out
    }

    func evaluate(_ calls: [Call], _ dot: JSON, _ what: String) throws -> JSON {
        var prev: JSON?
        for call in calls {
            var args = try call.arguments.map { a -> JSON in
                switch a {
                case .string(let s): return .string(s)
                case .field(let p): return try Self.lookup(p, in: dot, what)
                }
            }
            if let p = prev { args.append(p) }
            switch call.function {
            case nil: prev = args[0]
            case "json"?: prev = .string(args[0].render())
            case "index"?:
                // index VALUE KEY... (or after |: index KEY... VALUE)
                let (base, keys) = call.arguments.count == args.count ? (args[0], args.dropFirst()) : (args[args.count - 1], args.dropLast())
                var v = base
                for k in keys {
                    guard case .string(let key) = k, case .object(let o) = v else {
                        throw Self.bad("index needs a map and string keys (in \(what))")
                    }
                    // A missing key is the empty value, as Docker shows a missing label.
                    v = o[key] ?? .string("")
                }
                prev = v
            default: throw Self.bad("unknown function \(call.function!)")
            }
        }
        return prev ?? .string("")
    }

    static func lookup(_ path: [String], in value: JSON, _ what: String) throws -> JSON {
        var v = value
        var walked = ""
        for name in path {
            guard case .object(let o) = v else {
                throw bad("\(walked.isEmpty ? "." : walked) of \(what) has no fields (it is not a map), so no .\(name)")
            }
            guard let next = o[name] else {
                throw bad("\(what) has no field \(walked).\(name)")
            }
            walked += "." + name
            v = next
        }
        return v
    }

    /// A value as Go's template prints it: strings bare, lists `[a b]`, maps `map[k:v]`.
    public static func text(_ v: JSON) -> String {
        switch v {
        case .null: return "<no value>"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(text).joined(separator: " ") + "]"
        case .object(let o): return "map[" + o.keys.sorted().map { "\($0):\(text(o[$0]!))" }.joined(separator: " ") + "]"
        }
    }
}

/// What `--format` asked for: the command's usual output, JSON, or a template (a `table` one
/// prints a header row and aligns the columns).
public enum OutputFormat: Sendable, Equatable {
    case standard
    case json
    case template(Template, table: Bool)

    /// `list`: a list command (ps, pod ls, network ls, port): `table` is allowed and the format
    /// is trimmed of spaces, as Docker's formatter does. `\t` and `\n` become a tab and a newline.
    /// `fields`: the row's fields, checked up front.
    public init(_ s: String?, list: Bool, fields: [String] = []) throws {
        guard var f = s else { self = .standard; return }
        if f == "json" { self = .json; return }
        var table = false
        if list, f.hasPrefix("table") {
            let after = f.dropFirst(5)
            if after.isEmpty { self = .standard; return }
            if after.first == " " || after.first == "\t" || after.hasPrefix("\\t") { table = true; f = String(after) }
        }
        if list { f = String(f.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed()) }
        f = f.replacingAll("\\t", with: "\t").replacingAll("\\n", with: "\n")
        if f.isEmpty { throw HutchError("invalid --format: empty (use json, a template like '{{.ID}}', or table TEMPLATE)") }
        let t = try Template.parse(f)
        if list { try t.check(fields: fields) }
        self = .template(t, table: table)
    }
}

extension Substring {
    /// The first occurrence of `needle` (no Foundation).
    func firstRange(_ needle: String) -> Range<Index>? {
        let n = Array(needle)
        guard let f = n.first else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i] == f {
                var j = i
                var k = 0
                while k < n.count, j < endIndex, self[j] == n[k] { j = index(after: j); k += 1 }
                if k == n.count { return i..<j }
            }
            i = index(after: i)
        }
        return nil
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

/// Rows of a list command with named fields, printed the way `--format` asks.
public struct ListOutput: Sendable {
    public let fields: [String]
    /// A field's header in `table` output ("ID" -> "CONTAINER ID").
    public let headers: [String: String]

    public init(fields: [(String, String)]) {
        self.fields = fields.map(\.0)
        self.headers = Dictionary(fields, uniquingKeysWith: { a, _ in a })
    }

    public func format(_ s: String?) throws -> OutputFormat { try OutputFormat(s, list: true, fields: fields) }

    /// The lines to print for `rows` (each a JSON object of this list's fields); nil for
    /// `.standard`, which the command prints its own way.
    public func render(_ rows: [JSON], as format: OutputFormat, what: (Int) -> String) throws -> String? {
        switch format {
        case .standard: return nil
        case .json:
            return rows.map { $0.render() + "\n" }.joined()
        case .template(let t, let table):
            var lines = try rows.enumerated().map { try t.render($1, what: what($0)) }
            if table {
                lines.insert(t.header { headers[$0] ?? $0.uppercased() }, at: 0)
                return Table.render(lines.map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }) + "\n"
            }
            return lines.map { $0 + "\n" }.joined()
        }
    }
}
