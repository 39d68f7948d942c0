import ArgumentParser
import HutchKit

struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Clean up what crashed or killed hutch processes left behind, and say what.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let report = try global.runtime().gc()
        if report.isEmpty { print("nothing to clean") }
        for line in report { print(line) }
    }
}
