import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum GC {
    static let command = CLICommand(
        "gc", abstract: "Clean up what crashed or killed hutch processes left behind, and say what."
    ) { a in
        let report = try Global.runtime(a).gc()
        if report.isEmpty { print("nothing to clean") }
        for line in report { print(line) }
    }
}
