import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program through posix_spawn (C), stdin fed, stdout+stderr captured.
public enum Command {
    public static func run(_ argv: [String], input: String = "") throws -> (status: Int32, output: String) {
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        var out: UnsafeMutablePointer<CChar>?
        let count = input.utf8.count
        let r: Int32 = cargs.withUnsafeBufferPointer { a in
            a.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: a.count) { argvp in
                input.withCString { hn_run(argvp, count == 0 ? nil : $0, count, &out) }
            }
        }
        defer { hn_free(out) }
        if r < 0 { throw HutchError.sys("run \(argv[0])", -r) }
        return (r, out.map { String(cString: $0) } ?? "")
    }
}


extension Command {
    /// Starts `argv` detached (the container shims' way, no init system needed): its own session,
    /// stdin/stdout/stderr on /dev/null, nothing else inherited. Does not wait; returns its pid.
    public static func spawnDetached(_ argv: [String]) throws -> pid_t {
        let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let r = cargs.withUnsafeBufferPointer { a in
            a.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: a.count) {
                hn_spawn(&pid, argv[0], $0, nil, 0, Int32(HN_SPAWN_NULL_STDIO | HN_SPAWN_NEW_SESSION))
            }
        }
        if r < 0 { throw HutchError.sys("start \(argv[0])", -r) }
        return pid
    }
}
