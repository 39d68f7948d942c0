import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum GC {
    static let command = CLICommand(
        "gc", abstract: "Clean up what crashed or killed hutch processes left behind, and say what."
    ) { a in
        let report = try Global.runtime(a).gc()
        if report.cleaned.isEmpty && report.failures.isEmpty { print("nothing to clean") }
        for line in report.cleaned { print(line) }
        // What could not be removed: one line each on stderr, and hutch's error status.
        for line in report.failures.lines { Out.err("hutch: gc could not clean up: \(line)") }
        if !report.failures.isEmpty { throw ExitStatus(125) }
    }
}
