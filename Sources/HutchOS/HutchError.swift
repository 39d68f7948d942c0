/// hutch's own error: one line for the user, and the exit status it maps to.
/// 125: hutch's own failure (Docker's convention); 126: the command cannot be invoked; 127: not found.
public struct HutchError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 125) {
        self.message = message; self.exitCode = exitCode
    }

    /// A failed system call: names the step and errno's text.
    public static func sys(_ step: String, _ err: Int32) -> HutchError {
        HutchError("\(step): \(errnoString(err))")
    }

    public var description: String { message }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public func errnoString(_ e: Int32) -> String { String(cString: strerror(e)) }
