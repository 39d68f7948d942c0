import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// Starting and talking to `hutch-shim` (docs/shim-protocol.md). Swift only posix_spawns it;
/// every clone/setns/unshare happens in the shim's C code.
public enum ShimLocator {
    /// `HUTCH_SHIM`, else `hutch-shim` next to the running `hutch` binary.
    public static let path: String = {
        if let p = getenv("HUTCH_SHIM") { return String(cString: p) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "hutch-shim" }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return dir + "/hutch-shim"
    }()

    /// The shim, when it is there to take over closing an nftables socket after a delete
    /// (`hutch-shim linger`, see nftel.c); nil: close in this process.
    package static let lingerHelper: String? = access(path, X_OK) == 0 ? path : nil

    public static let hutchPath: String = {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return "hutch" }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}

/// A pipe whose ends live at fd numbers >= 10 with close-on-exec set, so they never collide with
/// 0–5 in posix_spawn's dup2 actions and never leak into anything else.
struct Pipe {
    var read: Int32
    var write: Int32
    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HutchError.sys("pipe", errno) }
        read = Pipe.high(fds[0]); write = Pipe.high(fds[1])
    }
    static func high(_ fd: Int32) -> Int32 {
        let n = fcntl(fd, F_DUPFD_CLOEXEC, 10)
        if n >= 0 { close(fd); return n }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}

/// A running shim as seen from the CLI during `run`.
public final class ShimProcess {
    public let pid: pid_t
    var statusFD: Int32
    var goFD: Int32
    var errFD: Int32
    /// The settings of our terminal (fd 0) before the shim put it into raw mode (`-it`), put back
    /// by waitExit whatever way the shim ended (the shim restores them itself, unless killed).
    var savedTerminal: termios?

    /// posix_spawns the shim with the three protocol pipes at fds 3, 4 and 5.
    /// `detached`: a new session, stdio on /dev/null. Otherwise the shim shares our stdio, except
    /// that without `stdin` its fd 0 is /dev/null. `terminal`: remember fd 0's terminal settings
    /// for waitExit. `environment`: variables the shim gets besides this process's own (the
    /// container's environment, see `ShimRunSpec.environment`); set here only while it is spawned.
    public init(arguments: [String], environment: [(String, String)] = [], detached: Bool, stdin: Bool = true,
                terminal: Bool = false) throws {
        let status = try Pipe(), go = try Pipe(), err = try Pipe()
        // hn_spawn (spawn.c): default signal dispositions, an empty mask, nothing else inherited.
        var map: [Int32] = [status.write, 3, go.read, 4, err.write, 5]
        var null: Int32 = -1
        if !detached && !stdin {
            null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard null >= 0 else { throw HutchError.sys("open /dev/null", errno) }
            null = Pipe.high(null)
            map += [null, 0]
        }
        defer { if null >= 0 { close(null) } }
        if terminal {
            var t = termios()
            if tcgetattr(0, &t) == 0 { savedTerminal = t }
        }
        let flags = detached ? Int32(HN_SPAWN_NULL_STDIO | HN_SPAWN_NEW_SESSION) : 0
        let argv = [ShimLocator.path] + arguments
        let cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var p: pid_t = 0
        // Our environment plus `environment` (whose names win), built once: setenv per variable
        // would scan and copy the whole environment each time (thousands of service variables).
        let added = Set(environment.map(\.0))
        var envp: [UnsafeMutablePointer<CChar>?] = []
        var e = environ
        while let entry = e.pointee {
            let name = String(cString: entry).prefix { $0 != "=" }
            if !added.contains(String(name)) { envp.append(strdup(entry)) }
            e += 1
        }
        for (k, v) in environment { envp.append(strdup(k + "=" + v)) }
        envp.append(nil)
        defer { for q in envp { free(q) } }
        let rc = cargs.withUnsafeBufferPointer { a in
            a.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: a.count) { av in
                envp.withUnsafeBufferPointer { ep in
                    ep.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: ep.count) {
                        hn_spawn_env(&p, ShimLocator.path, av, $0, map, map.count / 2, flags)
                    }
                }
            }
        }
        close(status.write); close(go.read); close(err.write)
        guard rc == 0 else {
            close(status.read); close(go.write); close(err.read)
            throw HutchError("cannot start \(ShimLocator.path): \(errnoString(-rc)) (set HUTCH_SHIM or reinstall hutch)")
        }
        pid = p
        statusFD = status.read; goFD = go.write; errFD = err.read
    }

    /// Reads the container's host pid from the status pipe (`PID\n`).
    public func readContainerPid() throws -> pid_t {
        // One line (the pid or the shim's error), not EOF: the child's copy of fd 3 closes only
        // once it runs, and waiting for that cost every run (bench/README.md).
        let line = readAll(statusFD, untilNewline: true)
        close(statusFD); statusFD = -1
        guard let v = Int32(line.trimmingSpaces()), v > 0 else {
            throw HutchError("the shim failed before starting the container (\(line.isEmpty ? "no pid reported" : line.trimmingSpaces()))")
        }
        return v
    }

    /// Lets the child go on (`G`), then waits for exec: EOF on the error pipe means exec succeeded;
    /// otherwise the failing step comes back as a HutchError with Docker's exit code.
    public func release() throws {
        var g: UInt8 = UInt8(ascii: "G")
        _ = write(goFD, &g, 1)
        close(goFD); goFD = -1
        let report = readAll(errFD)
        close(errFD); errFD = -1
        if !report.isEmpty { throw Self.childError(report) }
    }

    /// Aborts: closing the go pipe without `G` makes the shim kill the child and exit 125.
    public func abort() {
        if goFD >= 0 { close(goFD); goFD = -1 }
        if statusFD >= 0 { close(statusFD); statusFD = -1 }
        if errFD >= 0 { close(errFD); errFD = -1 }
        _ = waitExit()
    }

    /// Waits for the shim and returns its exit status (the container's, per the protocol).
    public func waitExit() -> Int32 {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 {
            if errno != EINTR { st = 125 << 8; break }
        }
        restoreTerminal()
        if st & 0x7f == 0 { return (st >> 8) & 0xff }
        return 128 + (st & 0x7f)
    }

    /// Puts fd 0's terminal settings back if they are not what they were (a shim killed while
    /// the terminal was raw); an unchanged terminal is left alone (a background job that wrote
    /// to it would be stopped).
    func restoreTerminal() {
        guard var saved = savedTerminal else { return }
        savedTerminal = nil
        var now = termios()
        guard tcgetattr(0, &now) == 0 else { return }
        let same = withUnsafeBytes(of: &now) { a in withUnsafeBytes(of: &saved) { b in a.elementsEqual(b) } }
        if !same { _ = tcsetattr(0, TCSADRAIN, &saved) }
    }

    /// Makes /dev/null our fd 0 (`hutch exec` without -i, right before it execs the shim).
    public static func nullStdin() throws {
        let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HutchError.sys("open /dev/null", errno) }
        if fd == 0 { _ = fcntl(0, F_SETFD, 0); return }  // fd 0 was closed: keep it across exec
        // dup2 clears close-on-exec on the new fd 0.
        guard dup2(fd, 0) == 0 else { let e = errno; close(fd); throw HutchError.sys("dup2 /dev/null", e) }
        close(fd)
    }

    /// `STEP\tERRNO\tMESSAGE` from the child -> the one-line error and exit code Docker would give.
    static func childError(_ report: String) -> HutchError {
        let line = report.split(separator: "\n").first.map(String.init) ?? report
        // Empty fields are kept: `hutch run -- ''` reports `exec\t2\t` (an empty command word).
        let parts = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let e = Int32(parts[1]) else { return HutchError("container setup failed: \(line)") }
        let (step, msg) = (parts[0], parts[2])
        if step == "exec" {
            if e == ENOENT {
                if msg.contains("/") { return HutchError("exec failed: \(msg): no such file or directory", exitCode: 127) }
                // Docker's words; and a word like `alpine` is most often an image name typed out of habit.
                let notFound = "exec: \"\(msg)\": executable file not found in $PATH"
                if msg.isEmpty { return HutchError(notFound, exitCode: 127) }
                return HutchError(notFound + " (hutch runs the host's commands, not images: give a command installed on this host, e.g. hutch run --rm -- echo hi)", exitCode: 127)
            }
            return HutchError("exec failed: \(msg): \(errnoString(e))", exitCode: 126)
        }
        if step == "chdir" { return HutchError("cannot change to the working directory: \(msg)", exitCode: 125) }
        return HutchError("container setup failed at \(step): \(msg)")
    }
}

func readAll(_ fd: Int32, untilNewline: Bool = false) -> String {
    var out = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 512)
    while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
        if untilNewline && out.last == UInt8(ascii: "\n") { break }
    }
    return String(decoding: out, as: UTF8.self)
}
