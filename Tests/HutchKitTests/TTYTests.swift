import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchCLI

/// `-i` and `-t` as `run` and `exec` declare them (Sources/hutch/Run.swift, Exec.swift), and
/// Docker's rule for `-it` without a terminal.
final class TTYTests: XCTestCase {
    static let detach = CLIOption.flag("-d, --detach", "")
    static let interactive = CLIOption.flag("-i, --interactive", "")
    static let tty = CLIOption.flag("-t, --tty", "")
    static let rm = CLIOption.flag("--rm", "")
    static let hostname = CLIOption.value("-h, --hostname", "")
    static let container = CLIArgument("CONTAINER", .one, "")
    static let command = CLIArgument("COMMAND", .command, "")
    static let parser = CLIParser(
        CLICommand("hutch", abstract: "test", subcommands: [
            CLICommand("run", abstract: "", options: [detach, interactive, tty, rm, hostname], arguments: [command]) { _ in },
            CLICommand("exec", abstract: "", options: [interactive, tty], arguments: [container, command]) { _ in },
        ]),
        globals: [], version: "")

    /// (interactive, tty, detach, command) of a command line.
    func parse(_ words: String...) throws -> (Bool, Bool, Bool, [String]) {
        guard case .run(_, let v) = try Self.parser.parse(words) else { XCTFail("\(words) printed"); return (false, false, false, []) }
        return (v.flag(Self.interactive), v.flag(Self.tty), v.flag(Self.detach), v.all(Self.command))
    }

    func testEverySpellingOfIT() throws {
        for words in [["run", "-it", "bash"], ["run", "-ti", "bash"], ["run", "-i", "-t", "bash"],
                      ["run", "--interactive", "--tty", "bash"], ["run", "--rm", "-it", "--", "bash"],
                      ["run", "-i=true", "--tty=1", "bash"]] {
            let (i, t, d, cmd) = try Self.parser.parse(words).values(Self.interactive, Self.tty, Self.detach, Self.command)
            XCTAssertTrue(i && t && !d, "\(words)")
            XCTAssertEqual(cmd, ["bash"], "\(words)")
        }
        let (i, t, d, _) = try parse("run", "-dit", "sh")
        XCTAssertTrue(i && t && d)
        let (i2, t2, _, _) = try parse("run", "-dt", "sh")
        XCTAssertTrue(!i2 && t2)
        let (i3, t3, _, _) = try parse("run", "-it", "--tty=false", "sh")
        XCTAssertTrue(i3 && !t3, "the last value counts")
        let (_, _, _, e) = try parse("exec", "-it", "web", "sh")
        XCTAssertEqual(e, ["sh"])
    }

    func testFlagsAfterTheCommandWordAreTheCommands() throws {
        let (i, t, _, cmd) = try parse("run", "--rm", "sh", "-it")
        XCTAssertFalse(i || t)
        XCTAssertEqual(cmd, ["sh", "-it"])
        let (_, _, _, c2) = try parse("exec", "-t", "web", "ls", "-t")
        XCTAssertEqual(c2, ["ls", "-t"])
        // -h stays --hostname on run (Docker), and clusters with -i/-t.
        guard case .run(_, let v) = try Self.parser.parse(["run", "-ith", "box", "sh"]) else { return XCTFail() }
        XCTAssertEqual(v.value(Self.hostname), "box")
    }

    func testITNeedsATerminalOnStdinUnlessDetached() {
        func check(_ i: Bool, _ t: Bool, _ d: Bool, _ term: Bool) -> String? {
            do { try RunOptions.checkTerminal(interactive: i, tty: t, detach: d, stdinIsTerminal: term); return nil }
            catch let e as HutchError { XCTAssertEqual(e.exitCode, 125); return e.message } catch { return "\(error)" }
        }
        XCTAssertEqual(check(true, true, false, false), "the input device is not a TTY")
        XCTAssertNil(check(true, true, false, true))
        XCTAssertNil(check(false, true, false, false), "-t alone: Docker allocates the pty without a terminal")
        XCTAssertNil(check(true, false, false, false), "-i alone: a pipe is fine")
        XCTAssertNil(check(true, true, true, false), "-dit: nothing is attached")
        XCTAssertNil(check(false, false, false, false))
    }
}

private extension Invocation {
    func values(_ i: CLIOption, _ t: CLIOption, _ d: CLIOption, _ c: CLIArgument) throws -> (Bool, Bool, Bool, [String]) {
        guard case .run(_, let v) = self else { throw HutchError("printed") }
        return (v.flag(i), v.flag(t), v.flag(d), v.all(c))
    }
}
