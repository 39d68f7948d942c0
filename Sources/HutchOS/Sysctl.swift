#if canImport(Glibc)
import Glibc
#endif

/// Kernel parameters under /proc/sys, in the caller's network namespace for the net/ ones.
public enum Sysctl {
    /// "net/ipv4/ip_forward" (or "net.ipv4.ip_forward") -> /proc/sys/net/ipv4/ip_forward
    public static func path(_ key: String) -> String {
        "/proc/sys/" + (key.contains("/") ? key : key.replacingDots())
    }

    /// sysctl -w KEY=VALUE
    public static func write(_ key: String, _ value: String) throws {
        let p = path(key)
        let fd = open(p, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HutchError.sys("sysctl \(key)", errno) }
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw HutchError.sys("sysctl \(key)=\(value)", n < 0 ? errno : EIO) }
    }

    /// sysctl -n KEY (trimmed), nil when unreadable.
    public static func read(_ key: String) -> String? {
        Sys.readFile(path(key), limit: 4096)?.trimmingSpaces()
    }
}

extension String {
    fileprivate func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
}
