import HutchOS
/// `run --restart`: what the container's monitor does when its command exits, in Docker's
/// vocabulary (`no`, `on-failure[:MAX]`, `always`, `unless-stopped`), carried out by the shim.
public struct RestartPolicy: Equatable, Sendable, CustomStringConvertible {
    public enum Name: String, Sendable, CaseIterable {
        case no, onFailure = "on-failure", always, unlessStopped = "unless-stopped"
    }
    public var name: Name
    /// on-failure's maximum retry count; 0: no maximum.
    public var maximumRetryCount: Int

    public init(_ name: Name = .no, maximumRetryCount: Int = 0) {
        self.name = name; self.maximumRetryCount = maximumRetryCount
    }

    public static let no = RestartPolicy()

    /// `no`, `always`, `unless-stopped`, `on-failure`, `on-failure:N` (Docker's rules: only
    /// on-failure takes a count, which is a number from 0 up).
    public init(parsing s: String) throws {
        func bad(_ why: String) -> HutchError { HutchError("invalid --restart \"\(s)\": \(why)") }
        let parts = s.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let n = Name(rawValue: String(parts[0])) else {
            throw bad("use no, on-failure[:MAX-RETRIES], always or unless-stopped")
        }
        var max = 0
        if parts.count == 2 {
            guard n == .onFailure else { throw bad("only on-failure takes a maximum retry count") }
            guard let m = Int(parts[1]), m >= 0, m <= 1_000_000, parts[1].allSatisfy(\.isNumber) else {
                throw bad("the maximum retry count must be a number from 0 (no maximum) up")
            }
            max = m
        }
        self.init(n, maximumRetryCount: max)
    }

    /// As given on the command line and to the shim: `on-failure:2`, `always`.
    public var description: String {
        name == .onFailure && maximumRetryCount > 0 ? "on-failure:\(maximumRetryCount)" : name.rawValue
    }

    /// `HostConfig.RestartPolicy` as Docker shows it.
    public var json: JSON {
        .object(["Name": .string(name.rawValue), "MaximumRetryCount": .int(Int64(maximumRetryCount))])
    }
}
