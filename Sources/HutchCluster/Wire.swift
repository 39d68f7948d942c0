import HutchModel

// The encodings etcd's JSON gateway speaks: JSON (rendered with HutchModel's JSON, parsed with its
// JSON) and base64 for every key and value.

// Answers are parsed with HutchModel's JSON; these read the gateway's shapes.
extension JSON {
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

    public var arrayValue: [JSON] { array ?? [] }
    public var boolValue: Bool { bool ?? false }
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
