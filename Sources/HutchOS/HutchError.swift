#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// hutch's own error: one line for the user, and the exit status it maps to.
/// 125: hutch's own failure (Docker's convention); 126: the command cannot be invoked; 127: not found.
public struct HutchError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var exitCode: Int32
    /// The error underneath, when this one wraps another (its text is already in `message`):
    /// kept so callers and tests can tell what failed without parsing the line.
    public var cause: (any Error & Sendable)?

    public init(_ message: String, exitCode: Int32 = 125, cause: (any Error & Sendable)? = nil) {
        self.message = message; self.exitCode = exitCode; self.cause = cause
    }

    /// A failed system call: names the step and errno's text.
    public static func sys(_ step: String, _ err: Int32) -> HutchError {
        HutchError("\(step): \(errnoString(err))", cause: SystemError(step: step, errno: err))
    }

    public var description: String { message }
}

/// A system call that failed, with the step that made it.
public struct SystemError: Error, Sendable, Equatable {
    public var step: String
    public var errno: Int32
}

/// Failures collected while tearing something down (netavark's error list): every step is tried
/// whatever the earlier ones did, each failure is kept, and the caller reports all of them.
public struct ErrorList: Sendable {
    public private(set) var failures: [(step: String, message: String)] = []
    public init() {}

    public var isEmpty: Bool { failures.isEmpty }

    /// Runs one step; a failure is recorded, not thrown.
    public mutating func attempt(_ step: String, _ body: () throws -> Void) {
        do { try body() } catch { failures.append((step, "\(error)")) }
    }

    /// One line per failure: "STEP: ERROR".
    public var lines: [String] { failures.map { "\($0.step): \($0.message)" } }

    /// Throws one error naming every failure, when there was any.
    public func check(_ what: String, hint: String = "") throws {
        guard !failures.isEmpty else { return }
        throw HutchError("\(what): " + lines.joined(separator: "; ") + hint)
    }
}

public func errnoString(_ e: Int32) -> String { String(cString: strerror(e)) }
