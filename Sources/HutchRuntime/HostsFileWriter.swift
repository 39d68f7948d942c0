#if canImport(Glibc)
import Glibc
#endif
import HutchOS
import HutchState
import HutchNet
import HutchModel

extension HostsFile {
    /// The block size hosts files are padded to, so an update is one write of whole blocks.
    static let block = 4096

    /// Replaces the file's content in place (it is bind-mounted, so its inode must stay): the new
    /// text padded with spaces to a whole number of blocks, written by one pwrite at offset 0 —
    /// never truncated first, so a resolver reading during an update sees the old or the new
    /// names, never an empty file. Trailing spaces on the last line are harmless to resolvers.
    public func rewrite(at path: String) {
        var bytes = Array(rendered.utf8)
        let size = max(Self.block, (bytes.count + Self.block) / Self.block * Self.block)
        bytes.append(contentsOf: [UInt8](repeating: 32, count: size - bytes.count - 1))
        bytes.append(10)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        var st = stat()
        if fstat(fd, &st) == 0, Int(st.st_size) > size { _ = ftruncate(fd, off_t(size)) }
        close(fd)
    }
}

