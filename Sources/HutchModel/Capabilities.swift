import HutchOS
/// Linux capability names and Docker's default set, for --cap-add / --cap-drop / --privileged.
/// The mask is applied in the shim with libcap (bounding, effective, permitted, inheritable).
public enum Capabilities {
    /// Index = capability number (linux/capability.h), as `capsh --print` names them.
    public static let names = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ]

    /// Docker's default: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE
    /// NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP = 0xa80425fb.
    public static let dockerDefault: UInt64 = 0xa804_25fb

    public static var all: UInt64 { (UInt64(1) << UInt64(names.count)) - 1 }

    /// `NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin` -> its bit; `ALL` -> every bit; nil if unknown.
    public static func bits(_ name: String) -> UInt64? {
        var n = name.uppercased()
        if n == "ALL" { return all }
        if n.hasPrefix("CAP_") { n.removeFirst(4) }
        guard let i = names.firstIndex(of: n) else { return nil }
        return UInt64(1) << UInt64(i)
    }

    /// Docker's rule: start from the default set, drop what --cap-drop names, then add what
    /// --cap-add names (so `--cap-drop ALL --cap-add NET_ADMIN` leaves only NET_ADMIN).
    public static func mask(add: [String], drop: [String]) throws -> UInt64 {
        var m = dockerDefault
        for d in drop {
            guard let b = bits(d) else { throw HutchError("invalid --cap-drop \"\(d)\": unknown capability (e.g. NET_RAW, SYS_ADMIN, ALL)") }
            m &= ~b
        }
        for a in add {
            guard let b = bits(a) else { throw HutchError("invalid --cap-add \"\(a)\": unknown capability (e.g. NET_ADMIN, SYS_PTRACE, ALL)") }
            m |= b
        }
        return m
    }

    public static func hex(_ m: UInt64) -> String { String(m, radix: 16) }

    /// The calling process's bounding set (CapBnd in /proc/self/status); all bits if unreadable.
    public static func callerBounding() -> UInt64 {
        // Split as bytes, not as a String of Characters (that cost ~0.65 M instructions per run).
        // No small read limit: CapBnd comes after Groups:, which many groups make long.
        guard let status = Sys.readBytes("/proc/self/status") else { return ~0 }
        let key = Array("CapBnd:".utf8)
        guard let line = status.split(separator: UInt8(ascii: "\n")).first(where: { $0.starts(with: key) }) else { return ~0 }
        return UInt64(String(decoding: line.dropFirst(key.count), as: UTF8.self).trimmingSpaces(), radix: 16) ?? ~0
    }
}
