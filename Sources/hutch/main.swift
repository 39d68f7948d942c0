import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI
#if canImport(Glibc)
import Glibc
#endif

// Docker's exit-code convention: 125 for hutch's own errors (bad flags included), 126/127 when
// the command cannot run / is not found, otherwise the command's own status. Errors are one line
// on stderr.
// `hutch node …` is hutch-node's (HutchCluster, libcurl): exec it with the same arguments.
NodeForward.execIfNodeCommand(CommandLine.arguments)

do {
    Timeline.mark("main")
    switch try Hutch.parser.parse(Array(CommandLine.arguments.dropFirst())) {
    case .print(let text):
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    case .run(let command, let arguments):
        Timeline.mark("parsed")
        try command.run?(arguments)
    }
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
    Out.err("hutch: \(error)")
    exit(125)
}
