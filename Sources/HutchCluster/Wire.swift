import HutchModel

// The encodings etcd's JSON gateway speaks: JSON (parsed here; rendered with HutchModel's JSON)
// and base64 for every key and value.

extension JSON {
    /// Parses one JSON value (the whole text). Numbers: integers become .int, anything else
    /// (fractions, exponents) a .string of the number's text. nil when the text is not JSON.
    public static func parse(_ text: String) -> JSON? {
        var p = JSONReader(Array(text.utf8))
        guard let v = p.value() else { return nil }
        p.space()
        return p.i == p.b.count ? v : nil
    }

    public subscript(_ key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        default: return nil
        }
    }

    /// int64 fields come as strings from the gateway ("123"), int32 ones as numbers.
    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .string(let s): return Int64(s)
        default: return nil
        }
    }

    public var arrayValue: [JSON] {
        if case .array(let a) = self { return a }
        return []
    }

    public var boolValue: Bool {
        if case .bool(let b) = self { return b }
        return false
    }
}

struct JSONReader {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    mutating func space() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

    mutating func literal(_ s: String, _ v: JSON) -> JSON? {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { return nil }
        i += u.count
        return v
    }

    mutating func value() -> JSON? {
        space()
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o: [String: JSON] = [:]
            space()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                space()
                guard let k = string() else { return nil }
                space()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value() else { return nil }
                o[k] = v
                space()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                return nil
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JSON] = []
            space()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                guard let v = value() else { return nil }
                a.append(v)
                space()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                return nil
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default:
            let start = i
            while i < b.count, "+-.0123456789eE".utf8.contains(b[i]) { i += 1 }
            guard i > start else { return nil }
            let text = String(decoding: b[start..<i], as: UTF8.self)
            if let n = Int64(text) { return .int(n) }
            return .string(text)
        }
    }

    mutating func hex4() -> UInt32? {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { return nil }
        i += 4
        return v
    }

    mutating func string() -> String? {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]; i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            guard i < b.count else { return nil }
            let e = b[i]; i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var v = hex4() else { return nil }
                if v >= 0xD800, v < 0xDC00, i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    guard let lo = hex4(), lo >= 0xDC00, lo < 0xE000 else { return nil }
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                }
                guard let u = Unicode.Scalar(v) else { return nil }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: return nil
            }
        }
        return nil
    }
}

/// Splits a stream of concatenated JSON objects (the watch's answer: one object per message,
/// newline-separated or not) into whole objects, keeping an unfinished tail for the next piece.
public struct JSONStreamSplitter {
    var pending: [UInt8] = []
    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [String] {
        pending += bytes
        var out: [String] = []
        var depth = 0, inString = false, escaped = false, start: Int? = nil, consumed = 0
        for (k, c) in pending.enumerated() {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"):
                if depth == 0 { start = k }
                depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0, let s = start {
                    out.append(String(decoding: pending[s...k], as: UTF8.self))
                    start = nil
                    consumed = k + 1
                }
            default: break
            }
        }
        pending.removeFirst(consumed)
        return out
    }
}

public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ s: String) -> String { encode(Array(s.utf8)) }

    public static func encode(_ d: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((d.count + 2) / 3 * 4)
        var i = 0
        while i < d.count {
            let n = min(3, d.count - i)
            let v = UInt32(d[i]) << 16 | (n > 1 ? UInt32(d[i + 1]) << 8 : 0) | (n > 2 ? UInt32(d[i + 2]) : 0)
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil when `s` is not base64.
    public static func decode(_ s: String) -> String? {
        var table = [Int](repeating: -1, count: 256)
        for (k, c) in alphabet.enumerated() { table[Int(c)] = k }
        var out: [UInt8] = [], acc: UInt32 = 0, bits = 0
        for c in s.utf8 {
            if c == UInt8(ascii: "=") { break }
            let v = table[Int(c)]
            if v < 0 { return nil }
            acc = acc << 6 | UInt32(v); bits += 6
            if bits >= 8 { bits -= 8; out.append(UInt8(acc >> UInt32(bits) & 0xff)) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
