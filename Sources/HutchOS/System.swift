import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// Small helpers over /proc and libc that the runtime needs on its hot path, kept free of Foundation.
public enum Sys {
    /// 32 random bytes as 64 hex characters: a container id, as Docker makes them.
    public static func randomID() -> String {
        // Four 64-bit draws (one getrandom each), not 32 one-byte ones.
        var g = SystemRandomNumberGenerator()
        var s = ""
        s.reserveCapacity(64)
        for _ in 0..<4 {
            var v = g.next()
            for _ in 0..<8 { s += hex2(UInt8(truncatingIfNeeded: v)); v >>= 8 }
        }
        return s
    }

    public static func readFile(_ path: String, limit: Int = 1 << 20) -> String? {
        readBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func readBytes(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Writes a file with the given mode: atomically (a temporary file, then rename) unless
    /// `atomic` is false, for a new file in a folder nothing reads yet.
    public static func writeFile(_ path: String, _ contents: String, mode: mode_t = 0o644, atomic: Bool = true) throws {
        let tmp = atomic ? path + ".tmp" : path
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw HutchError.sys("write \(path)", errno) }
        let bytes = Array(contents.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; let e = errno; close(fd); throw HutchError.sys("write \(path)", e) }
            off += n
        }
        close(fd)
        guard !atomic || rename(tmp, path) == 0 else { throw HutchError.sys("rename \(path)", errno) }
    }

    /// mkdir -p: the folder itself first (one call when its parent exists), then the parents.
    /// `mode` is the folder's; missing parents get 0711 (traversable, not listable).
    public static func mkdirs(_ path: String, mode: mode_t = 0o711) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
            throw HutchError.sys("mkdir \(path)", errno)
        }
        try mkdirs(String(path[..<slash]), mode: 0o711)
        if mkdir(path, mode) != 0 && errno != EEXIST { throw HutchError.sys("mkdir \(path)", errno) }
    }

    /// The entries of a directory (without . and ..), each with whether it is a directory;
    /// nil when it cannot be opened.
    public static func directoryEntries(_ path: String) -> [(name: String, isDirectory: Bool)]? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var out: [(name: String, isDirectory: Bool)] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            out.append((name, e.pointee.d_type == UInt8(DT_DIR)))
        }
        return out
    }

    /// Removes a directory tree that hutch made (files and sub-directories only, no symlink following).
    public static func removeTree(_ path: String) {
        guard let entries = directoryEntries(path) else { unlink(path); return }
        for e in entries {
            let p = path + "/" + e.name
            if e.isDirectory { removeTree(p) } else { unlink(p) }
        }
        rmdir(path)
    }

    /// The kernel's boot id: records from an earlier boot are stale by definition.
    public static let bootID: String = {
        (readFile("/proc/sys/kernel/random/boot_id") ?? "unknown").trimmingSpaces()
    }()

    /// Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), nil if gone.
    /// A pid plus its start time names one process for good; a pid alone can be recycled.
    public static func processStartTime(_ pid: Int32) -> UInt64? {
        guard pid > 0, let stat = readBytes("/proc/\(pid)/stat", limit: 4096) else { return nil }
        // The command name (field 2) may contain spaces and parentheses: skip past the last ')'.
        // Split as bytes, not as a String of Characters: this runs several times per command.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
        guard fields.count > 19, fields[0].first != UInt8(ascii: "Z") else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }

    public static func isAlive(pid: Int32, start: UInt64) -> Bool {
        guard pid > 0, let s = processStartTime(pid) else { return false }
        return s == start
    }

    /// Nanoseconds since the epoch (CLOCK_REALTIME).
    public static func epochNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// RFC 3339 UTC time with nanoseconds, the format Docker uses in `inspect`.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int32, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        let ns = String(ts.tv_nsec)
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2)).\(String(repeating: "0", count: 9 - ns.count))\(ns)Z"
    }

    public static func epochSeconds(ofRFC3339 s: String) -> Int? {
        let d = s.split(whereSeparator: { "-T:.Z".contains($0) }).compactMap { Int32($0) }
        guard d.count >= 6 else { return nil }
        var tmv = tm()
        tmv.tm_year = d[0] - 1900; tmv.tm_mon = d[1] - 1; tmv.tm_mday = d[2]
        tmv.tm_hour = d[3]; tmv.tm_min = d[4]; tmv.tm_sec = d[5]
        return Int(timegm(&tmv))
    }

    /// Milliseconds sleep without Foundation.
    public static func sleepMS(_ ms: Int) {
        var req = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && errno == EINTR { req = rem }
    }
}

extension StringProtocol {
    package func trimmingSpaces() -> String {
        let u = Array(self.utf8)
        var a = 0, b = u.count
        while a < b, u[a] == 32 || u[a] == 10 || u[a] == 9 || u[a] == 13 { a += 1 }
        while b > a, u[b - 1] == 32 || u[b - 1] == 10 || u[b - 1] == 9 || u[b - 1] == 13 { b -= 1 }
        return String(decoding: u[a..<b], as: UTF8.self)
    }
}

/// `HUTCH_TIMELINE=1`: one line per step on stderr, `hutch-timeline STEP MONOTONIC_NS`, so a
/// benchmark can see where a command's milliseconds go without a tracer's overhead
/// (`make bench` prints the medians: bench/bench.py, `timeline`). Costs one getenv per process when unset.
public enum Timeline {
    static let enabled = getenv("HUTCH_TIMELINE") != nil

    public static func mark(_ step: StaticString) {
        guard enabled else { return }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let line = "hutch-timeline \(step) \(Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}

package func hex2(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(b >> 4)], digits[Int(b & 0xf)]])
}

extension Sys {
    /// flock(LOCK_EX) on a file, created 0600 if missing: the fd to pass to `unlockFile`, or a
    /// negative errno (then nothing is locked; callers treat the lock as best effort).
    public static func lockFile(_ path: String) -> Int32 { hn_lock_file(path) }
    public static func unlockFile(_ fd: Int32) { if fd >= 0 { hn_unlock_file(fd) } }
}
