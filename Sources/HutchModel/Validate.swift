import HutchOS
/// Input validation shared by every command. Each check returns a Bool; callers build the message
/// naming the flag and the value.
public enum Validate {
    /// Docker's container/network name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
    public static func isName(_ s: String) -> Bool {
        guard let f = s.utf8.first, isAlnum(f), s.utf8.count <= maxNameLength else { return false }
        return s.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// RFC 1123 hostname: dot-separated labels of 1–63 letters, digits and hyphens, not starting or
    /// ending with a hyphen; 253 characters at most.
    public static func isHostname(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        for label in s.split(separator: ".", omittingEmptySubsequences: false) {
            let u = Array(label.utf8)
            guard (1...63).contains(u.count), isAlnum(u.first!), isAlnum(u.last!),
                  u.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }

    /// A `-e` entry: `KEY=VALUE` (or `KEY`, taken from the caller's environment, as Docker does).
    public static func envEntry(_ e: String) throws {
        guard isEnvKey(e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]) else {
            throw HutchError("invalid --env \"\(e)\": use KEY=VALUE with a non-empty KEY without spaces")
        }
    }

    public static func isEnvKey(_ s: Substring) -> Bool {
        guard let f = s.utf8.first, f != UInt8(ascii: "="), !(f >= 48 && f <= 57) else { return false }
        return s.utf8.allSatisfy { $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "=") }
    }

    /// Throws the one-line error for a bad name given with `flag`.
    public static func name(_ s: String, flag: String = "--name") throws {
        if s.utf8.count > maxNameLength {
            throw HutchError("invalid \(flag) \"\(s.prefix(20))...\": names are at most \(maxNameLength) characters long (this one has \(s.utf8.count))")
        }
        guard isName(s) else { throw HutchError("invalid \(flag) \"\(s)\": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*") }
    }

    /// The longest container, pod or network name.
    public static let maxNameLength = 128

    /// Throws the one-line error for a bad hostname given with `flag`.
    /// `-w/--workdir`: an absolute path (run and exec).
    public static func workdir(_ w: String) throws {
        if !w.hasPrefix("/") {
            throw HutchError("invalid --workdir \"\(w)\": the working directory must be an absolute path")
        }
    }

    public static func hostname(_ s: String, flag: String = "--hostname") throws {
        guard isHostname(s) else {
            throw HutchError("invalid \(flag) \"\(s)\": use RFC 1123 labels (letters, digits, '-', at most 63 each)")
        }
    }

    static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
    }
}
