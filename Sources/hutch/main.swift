import ArgumentParser
import HutchKit
#if canImport(Glibc)
import Glibc
#endif

// Docker's exit-code convention: 125 for hutch's own errors (bad flags included, not
// ArgumentParser's 64), 126/127 when the command cannot run / is not found, otherwise the
// command's own status. Errors are one line on stderr.
do {
    Timeline.mark("main")
    var command = try Hutch.parseAsRoot(GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst())))
    Timeline.mark("parsed")
    try command.run()
    Timeline.mark("done")
    Out.flush()
    exit(0)
} catch let e as HutchError {
    Out.err("hutch: \(e.message)")
    exit(e.exitCode)
} catch let e as ExitStatus {
    Out.flush()
    exit(e.code)
} catch {
    if Hutch.exitCode(for: error) == .success {
        print(Hutch.fullMessage(for: error))
        Out.flush()
        exit(0)
    }
    let message = Hutch.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
    Out.err("hutch: \(message) (see 'hutch --help')")
    exit(125)
}
