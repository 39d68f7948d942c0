import HutchOS
/// A JSON value, rendered by hand: `inspect` output (sorted keys, pretty-printed like
/// `docker inspect`) and the string arrays stored in the state store. Foundation's JSONEncoder
/// would pull Foundation into every hutch process for these two small jobs.
public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public static func strings(_ a: [String]) -> JSON { .array(a.map { .string($0) }) }

    /// Compact (`["a","b"]`) or pretty-printed with two-space indentation; keys always sorted.
    public func render(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                v.write(to: &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "]"
        case .object(let fields):
            if fields.isEmpty { out += "{}"; return }
            out += "{"
            for (i, k) in fields.keys.sorted().enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                JSON.quote(k, into: &out)
                out += pretty ? ": " : ":"
                fields[k]!.write(to: &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        // Most strings need no escape: one scan of the bytes, one append (a record's environment
        // can hold thousands of entries).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var int: Int64? { if case .int(let n) = self { return n }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public subscript(key: String) -> JSON? { if case .object(let o) = self { return o[key] }; return nil }

    /// Parses a JSON document: seccomp profiles, stored records, string arrays. Numbers are
    /// integers (fractions are refused: nothing hutch reads has any); nil if `text` is not JSON.
    public static func parse(_ text: String) -> JSON? {
        var p = Parser(Array(text.utf8))
        guard let v = p.value() else { return nil }
        p.skipSpace()
        return p.atEnd ? v : nil
    }

    /// Parses a JSON array of strings (`["sh","-c","echo \"hi\""]`); nil if `text` is anything else.
    public static func stringArray(from text: String) -> [String]? {
        guard let a = parse(text)?.array else { return nil }
        let out = a.compactMap(\.string)
        return out.count == a.count ? out : nil
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0
        var depth = 0
        init(_ b: [UInt8]) { self.b = b }
        var atEnd: Bool { i >= b.count }
        mutating func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        mutating func eat(_ c: UInt8) -> Bool {
            skipSpace()
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        /// The byte `c` next, without skipping white space (inside strings).
        mutating func take(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        mutating func literal(_ s: String) -> Bool {
            let u = Array(s.utf8)
            guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { return false }
            i += u.count
            return true
        }
        mutating func value() -> JSON? {
            depth += 1
            defer { depth -= 1 }
            guard depth < 64 else { return nil }
            skipSpace()
            guard i < b.count else { return nil }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var o: [String: JSON] = [:]
                if eat(UInt8(ascii: "}")) { return .object(o) }
                repeat {
                    skipSpace()
                    guard let k = string(), eat(UInt8(ascii: ":")), let v = value() else { return nil }
                    o[k] = v
                } while eat(UInt8(ascii: ","))
                return eat(UInt8(ascii: "}")) ? .object(o) : nil
            case UInt8(ascii: "["):
                i += 1
                var a: [JSON] = []
                if eat(UInt8(ascii: "]")) { return .array(a) }
                repeat {
                    guard let v = value() else { return nil }
                    a.append(v)
                } while eat(UInt8(ascii: ","))
                return eat(UInt8(ascii: "]")) ? .array(a) : nil
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default:
                let start = i
                if b[i] == UInt8(ascii: "-") { i += 1 }
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                guard i > start, let n = Int64(String(decoding: b[start..<i], as: UTF8.self)) else { return nil }
                return .int(n)
            }
        }
        mutating func hex4() -> UInt32? {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }
        mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var bytes: [UInt8] = []
            while i < b.count {
                let c = b[i]; i += 1
                if c == UInt8(ascii: "\"") { return String(decoding: bytes, as: UTF8.self) }
                guard c == UInt8(ascii: "\\") else { bytes.append(c); continue }
                guard i < b.count else { return nil }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    guard var v = hex4() else { return nil }
                    // A UTF-16 surrogate pair: \uD83D\uDE00.
                    if v >= 0xD800, v < 0xDC00, take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let lo = hex4(),
                       lo >= 0xDC00, lo < 0xE000 {
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(v) else { return nil }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                default: return nil
                }
            }
            return nil
        }
    }
}
