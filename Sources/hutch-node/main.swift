import HutchCLI
import HutchCluster
import HutchModel
import HutchOS
import HutchRuntime
#if canImport(Glibc)
import Glibc
#endif

// hutch-node: the `hutch node …` commands (hutch execs this program for them), kept out of the
// hutch binary so that plain `hutch run` never loads libcurl. Exit codes as hutch's.
do {
    switch try NodeCLI.parser.parse(Array(CommandLine.arguments.dropFirst())) {
    case .print(let text):
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    case .run(let command, let arguments):
        try command.run?(arguments)
    }
    Out.flush()
    exit(0)
} catch let e as HutchError {
    Out.err("hutch: \(e.message)")
    exit(e.exitCode)
} catch {
    Out.err("hutch: \(error)")
    exit(125)
}
