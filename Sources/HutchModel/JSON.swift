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

    /// Parses a JSON array of strings (`["sh","-c","echo \"hi\""]`); nil if `text` is anything else.
    public static func stringArray(from text: String) -> [String]? {
        var p = Parser(Array(text.utf8))
        p.skipSpace()
        guard p.eat(UInt8(ascii: "[")) else { return nil }
        var out: [String] = []
        p.skipSpace()
        if p.eat(UInt8(ascii: "]")) { p.skipSpace(); return p.atEnd ? out : nil }
        while true {
            p.skipSpace()
            guard let s = p.string() else { return nil }
            out.append(s)
            p.skipSpace()
            if p.eat(UInt8(ascii: ",")) { continue }
            guard p.eat(UInt8(ascii: "]")) else { return nil }
            p.skipSpace()
            return p.atEnd ? out : nil
        }
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }
        var atEnd: Bool { i >= b.count }
        mutating func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        mutating func eat(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        mutating func hex4() -> UInt32? {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
            i += 4
            return v
        }
        mutating func string() -> String? {
            guard eat(UInt8(ascii: "\"")) else { return nil }
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
                    if v >= 0xD800, v < 0xDC00, eat(UInt8(ascii: "\\")), eat(UInt8(ascii: "u")), let lo = hex4(),
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
