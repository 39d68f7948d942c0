import ArgumentParser
import HutchKit
#if canImport(Glibc)
import Glibc
#endif

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a detached container's output.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Follow the output until the container stops.") var follow = false
    @Argument(help: "Container (name or id).") var container: String

    func run() throws {
        let rt = try global.runtime()
        let c = try rt.store.container(container)
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
            guard follow else { return }
            // EOF: stop once the container is gone and everything it wrote has been read.
            lastCheck += 1
            if lastCheck % 5 == 0 {
                guard let cur = try rt.store.findContainer(c.id), try rt.reconcile(cur).status == .running else {
                    // One more read for anything written just before the exit.
                    while true { let m = read(fd, &buf, buf.count); if m <= 0 { break }; _ = buf.withUnsafeBytes { write(1, $0.baseAddress, m) } }
                    return
                }
            }
            Sys.sleepMS(20)
        }
    }
}
