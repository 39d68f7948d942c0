import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

enum Logs {
    static let follow = CLIOption.flag("-f, --follow", "Follow the output until the container stops.")
    static let container = CLIArgument("CONTAINER", .one, "Container (name or id).")

    static let command = CLICommand(
        "logs", abstract: "Print a detached container's output.", options: [follow], arguments: [container]
    ) { a in
        let rt = try Global.runtime(a)
        let c = try rt.container(a.one(container))
        guard c.detached else {
            throw HutchError("container \(c.name) ran in the foreground: its output went to the terminal, there is no log")
        }
        let fd = open(rt.logPath(c.id), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 65536)
        var lastCheck = 0
        while true {
            let n = read(fd, &buf, buf.count)
            if n > 0 {
                var off = 0
                while off < n { let w = buf[off..<n].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }; if w <= 0 { return }; off += w }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            guard a.flag(follow) else { return }
            // EOF: stop once the container is gone and everything it wrote has been read.
            lastCheck += 1
            if lastCheck % 5 == 0 {
                guard let cur = try rt.findContainer(c.id), try rt.reconcile(cur).status == .running else {
                    // One more read for anything written just before the exit.
                    while true { let m = read(fd, &buf, buf.count); if m <= 0 { break }; _ = buf.withUnsafeBytes { write(1, $0.baseAddress, m) } }
                    return
                }
            }
            Sys.sleepMS(20)
        }
    }
}
