#if canImport(Glibc)
import Glibc
#endif

/// Writing to the terminal without touching C's `stdout`/`stderr` globals (not concurrency-safe in
/// Swift 6): errors go straight to fd 2, after flushing what `print` buffered.
public enum Out {
    public static func flush() { fflush(nil) }

    public static func err(_ line: String) {
        flush()
        let bytes = Array((line + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            off += n
        }
    }
}
