#if canImport(Glibc)
import Glibc
#endif

public enum Environment {
    public static func get(_ key: String) -> String? {
        guard let v = getenv(key) else { return nil }
        return String(cString: v)
    }
}

/// Thrown by a command to end with a given status and nothing printed (e.g. `run` returning the
/// container's exit code).
public struct ExitStatus: Error, Sendable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
}
