#if canImport(Glibc)
import Glibc
#endif
import HutchOS
import HutchState
import HutchNet
import HutchModel

extension Runtime {
    /// Runs `body` holding the state root's hosts lock (`flock` on `hosts.lock`, released when the
    /// process exits whatever happens). Every change to a hosts file hutch generated — a full
    /// rewrite, a service's line appended, a new container's first file — reads what it writes
    /// from the store and writes it under this lock, so changes apply one at a time, each from a
    /// store state at least as new as the previous one's: an append never lands inside a rewrite,
    /// and a rewrite from an older read never drops a line appended after it. The lock file is
    /// outside the containers' folders (a container could hold a lock on its own bind-mounted
    /// hosts file forever).
    func withHostsLock<T>(_ body: () throws -> T) rethrows -> T {
        let fd = open(store.root + "/hosts.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 {
            while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        }
        defer { if fd >= 0 { close(fd) } }
        return try body()
    }
}

extension HostsFile {
    /// Replaces the file's content in place (it is bind-mounted, so its inode must stay; a rename
    /// would leave the container looking at the old file). The file ends up holding exactly the
    /// new text — no padding — and a resolver reading at any moment sees the old names or the new
    /// ones, never an empty or half-cut file (see `inPlaceWrites`).
    public func rewrite(at path: String) {
        let text = Array(rendered.utf8)
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        let old = Int(st.st_size)
        var last: UInt8 = 10
        if old > 0 { _ = pread(fd, &last, 1, off_t(old - 1)) }
        let plan = Self.inPlaceWrites(oldSize: old, oldEndsWithNewline: last == 10, text: text)
        for (offset, bytes) in plan.writes {
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        }
        if let n = plan.truncate { _ = ftruncate(fd, off_t(n)) }
    }

    /// The writes that turn a file of `oldSize` bytes into exactly `text`, each of which leaves a
    /// file that resolves as the old one or the new one (one pwrite of a few KB over the same
    /// range is seen whole or not at all by a reader, as before; size changes never cut a line):
    /// - same size: one write;
    /// - growing: first a comment line appended after the old text (`#…`, still the old names),
    ///   then the new text over the whole file, which now has its final size;
    /// - shrinking: the new text followed by a comment over the rest of the old text (same size),
    ///   then a truncate to the new length, which only drops that comment.
    static func inPlaceWrites(oldSize: Int, oldEndsWithNewline: Bool, text: [UInt8]) -> (writes: [(Int, [UInt8])], truncate: Int?) {
        let hash = UInt8(ascii: "#"), newline: UInt8 = 10
        if oldSize == 0 || oldSize == text.count { return ([(0, text)], nil) }
        if text.count > oldSize {
            var comment = [UInt8](repeating: hash, count: text.count - oldSize)
            if !oldEndsWithNewline { comment[0] = newline }
            return ([(oldSize, comment), (0, text)], nil)
        }
        return ([(0, text + [UInt8](repeating: hash, count: oldSize - text.count))], text.count)
    }
}
