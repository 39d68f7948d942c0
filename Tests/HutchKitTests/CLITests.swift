import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// The command-line parser against Docker's (pflag's) conventions, on a small program shaped like
/// hutch's: a `run` with pass-through, a leaf with positionals, and a group.
final class CLITests: XCTestCase {
    static let detach = CLIOption.flag("-d, --detach", "")
    static let quiet = CLIOption.flag("-q, --quiet", "")
    static let name = CLIOption.value("--name", "")
    static let network = CLIOption.value("--network, --net", "", as: "mode")
    static let publish = CLIOption.list("-p, --publish", "", as: "spec")
    static let useInit = CLIOption("--init", .flag(negatable: true), help: "")
    static let command = CLIArgument("COMMAND", .command, "")
    static let container = CLIArgument("CONTAINER", .one, "")
    static let containers = CLIArgument("CONTAINER", .oneOrMore, "")
    static let port = CLIArgument("PORT", .optional, "")
    static let root = CLIOption.value("--root", "")
    static let hostname = CLIOption.value("-h, --hostname", "")

    static let parser = CLIParser(
        CLICommand("hutch", abstract: "test", subcommands: [
            CLICommand("run", abstract: "run", options: [detach, name, network, publish, useInit], arguments: [command]) { _ in },
            CLICommand("exec", abstract: "exec", options: [detach, hostname], arguments: [container, command]) { _ in },
            CLICommand("rm", abstract: "rm", options: [quiet, detach], arguments: [containers]) { _ in },
            CLICommand("port", abstract: "port", arguments: [container, port]) { _ in },
            CLICommand("pod", abstract: "pods", subcommands: [
                CLICommand("ls", aliases: ["list"], abstract: "list", options: [quiet]) { _ in },
            ]),
        ]),
        globals: [root], version: "9.9")

    func parse(_ words: String...) throws -> (String, CLIValues) { try Self.parse(words) }

    static func parse(_ words: [String]) throws -> (String, CLIValues) {
        guard case .run(let c, let v) = try parser.parse(words) else {
            XCTFail("\(words) printed text instead of running"); throw HutchError("no run")
        }
        return (c.name, v)
    }

    func error(_ words: String...) -> String {
        do { _ = try Self.parser.parse(words); return "" } catch let e as HutchError { return e.message } catch { return "\(error)" }
    }

    func printed(_ words: String...) throws -> String {
        guard case .print(let text) = try Self.parser.parse(words) else { XCTFail("\(words) did not print"); return "" }
        return text
    }

    func testRunOptionsInEveryForm() throws {
        let (c, v) = try parse("run", "-d", "--name", "web", "--net=none", "-p", "80:80", "-p8081:81", "-p=8082:82",
                               "--publish", "8083:83", "--publish=8084:84", "--no-init", "--", "echo", "-n", "hi")
        XCTAssertEqual(c, "run")
        XCTAssertTrue(v.flag(Self.detach))
        XCTAssertEqual(v.value(Self.name), "web")
        XCTAssertEqual(v.value(Self.network), "none")
        XCTAssertEqual(v.list(Self.publish), ["80:80", "8081:81", "8082:82", "8083:83", "8084:84"])
        XCTAssertFalse(v.flag(Self.useInit))
        XCTAssertEqual(v.all(Self.command), ["echo", "-n", "hi"])
    }

    func testAClusterMayEndWithAnOptionThatTakesAValue() throws {
        for words in [["run", "-dp", "80:80", "true"], ["run", "-dp80:80", "true"]] {
            let (_, v) = try Self.parse(words)
            XCTAssertTrue(v.flag(Self.detach), "\(words)")
            XCTAssertEqual(v.list(Self.publish), ["80:80"], "\(words)")
            XCTAssertEqual(v.all(Self.command), ["true"], "\(words)")
        }
    }

    func testEmptyInlineValuesAndBooleanValues() throws {
        let (_, v) = try parse("run", "-p=", "--name=", "true")
        XCTAssertEqual(v.list(Self.publish), [""])
        XCTAssertEqual(v.value(Self.name), "")
        XCTAssertEqual(v.all(Self.command), ["true"], "-p= takes an empty value, not the next word")
        let (_, b) = try parse("run", "--detach=true", "--init=false", "true")
        XCTAssertTrue(b.flag(Self.detach))
        XCTAssertFalse(b.flag(Self.useInit))
        XCTAssertFalse(try parse("run", "-d=false", "true").1.flag(Self.detach))
        XCTAssertTrue(try parse("run", "--init=1", "--no-init", "--init", "true").1.flag(Self.useInit))
    }

    func testHIsHelpUnlessTheCommandDeclaresIt() throws {
        let (_, v) = try parse("exec", "-h", "box", "c1", "true")
        XCTAssertEqual(v.value(Self.hostname), "box")
        XCTAssertEqual(v.one(Self.container), "c1")
        XCTAssertTrue(try printed("exec", "--help").contains("    --help"))
        XCTAssertTrue(try printed("run", "-dh").contains("-h, --help"))
    }

    func testHelpCommand() throws {
        XCTAssertTrue(try printed("help").contains("COMMANDS:"))
        XCTAssertTrue(try printed("help", "run").contains("USAGE: hutch run"))
        XCTAssertTrue(try printed("help", "pod", "ls").contains("USAGE: hutch pod ls"))
        XCTAssertTrue(try printed("pod", "help", "list").contains("USAGE: hutch pod ls"))
        XCTAssertEqual(error("help", "frob"), "unknown command \"frob\" for \"hutch\" (see 'hutch --help')")
    }

    func testDefaultsAndLastValueWins() throws {
        let (_, v) = try parse("run", "--name", "a", "--name", "b", "true")
        XCTAssertFalse(v.flag(Self.detach))
        XCTAssertTrue(v.flag(Self.useInit), "a negatable flag defaults to on")
        XCTAssertEqual(v.value(Self.name), "b")
        XCTAssertNil(v.value(Self.network))
        XCTAssertEqual(v.list(Self.publish), [])
    }

    func testTheCommandStartsAtItsFirstWordAndKeepsItsFlags() throws {
        XCTAssertEqual(try parse("run", "-d", "ls", "-d", "--name", "x").1.all(Self.command), ["ls", "-d", "--name", "x"])
        XCTAssertEqual(try parse("run", "--", "--", "x").1.all(Self.command), ["--", "x"])
        XCTAssertEqual(try parse("run", "--").1.all(Self.command), [])
        let (_, e) = try parse("exec", "-d", "c1", "sh", "-c", "exit 3")
        XCTAssertEqual(e.one(Self.container), "c1")
        XCTAssertEqual(e.all(Self.command), ["sh", "-c", "exit 3"])
        let (_, e2) = try parse("exec", "c1", "--", "ls", "-l")
        XCTAssertEqual(e2.all(Self.command), ["ls", "-l"])
        let (_, e3) = try parse("exec", "--", "c1", "ls")
        XCTAssertEqual(e3.one(Self.container), "c1")
        XCTAssertEqual(e3.all(Self.command), ["ls"])
    }

    func testClustersInterspersedPositionalsAndDash() throws {
        let (_, v) = try parse("rm", "c1", "-qd", "c2", "--", "-c3")
        XCTAssertTrue(v.flag(Self.quiet) && v.flag(Self.detach))
        XCTAssertEqual(v.all(Self.containers), ["c1", "c2", "-c3"])
        XCTAssertEqual(try parse("rm", "-").1.all(Self.containers), ["-"])
        XCTAssertEqual(try parse("port", "c1").1.optional(Self.port), nil)
        XCTAssertEqual(try parse("port", "c1", "80/udp").1.optional(Self.port), "80/udp")
    }

    func testGlobalOptionsBeforeOrAfterTheCommandName() throws {
        XCTAssertEqual(try parse("--root", "/r", "pod", "ls").1.value(Self.root), "/r")
        XCTAssertEqual(try parse("pod", "--root=/r", "list", "-q").1.value(Self.root), "/r")
        XCTAssertEqual(try parse("rm", "c1", "--root", "/r").1.value(Self.root), "/r")
        XCTAssertEqual(try parse("--root", "/a", "run", "--root", "/b", "true").1.value(Self.root), "/b")
    }

    func testHelpAndVersionPrint() throws {
        XCTAssertTrue(try printed("--help").contains("COMMANDS:"))
        XCTAssertTrue(try printed("run", "-h").contains("USAGE: hutch run [OPTIONS] [--] COMMAND [ARG...]"))
        XCTAssertTrue(try printed("run", "--name", "x", "--help").contains("--[no-]init"))
        XCTAssertTrue(try printed("rm", "-qh").contains("USAGE: hutch rm [OPTIONS] CONTAINER..."))
        XCTAssertTrue(try printed("pod").contains("ls"), "a group without its subcommand prints its help")
        XCTAssertTrue(try printed("pod", "ls", "--help").contains("-q, --quiet"))
        XCTAssertEqual(try printed("--version"), "9.9")
        XCTAssertEqual(try parse("run", "--", "-h").1.all(Self.command), ["-h"], "after -- it is the command's")
        XCTAssertEqual(try parse("run", "sh", "--help").1.all(Self.command), ["sh", "--help"])
    }

    func testErrorsNameTheWordAndTheHelp() {
        XCTAssertEqual(error("frob"), "unknown command \"frob\" for \"hutch\" (see 'hutch --help')")
        XCTAssertEqual(error("--root", "/r", "pod", "frob"), "unknown command \"frob\" for \"hutch pod\" (see 'hutch pod --help')")
        XCTAssertEqual(error("run", "--bogus", "true"), "unknown flag: --bogus (see 'hutch run --help')")
        XCTAssertEqual(error("run", "-dZ", "true"), "unknown shorthand flag: 'Z' in -dZ (see 'hutch run --help')")
        XCTAssertEqual(error("run", "--name"), "flag needs an argument: --name (see 'hutch run --help')")
        XCTAssertEqual(error("run", "-p"), "flag needs an argument: -p (see 'hutch run --help')")
        XCTAssertEqual(error("run", "--detach=yes", "true"), "invalid value \"yes\" for --detach: use true or false (see 'hutch run --help')")
        XCTAssertEqual(error("run", "--no-init=false", "true"), "flag --no-init takes no value (see 'hutch run --help')")
        XCTAssertEqual(error("-"), "unknown command \"-\" for \"hutch\" (see 'hutch --help')")
        XCTAssertEqual(error("pod", "-"), "unknown command \"-\" for \"hutch pod\" (see 'hutch pod --help')")
        XCTAssertEqual(error("run", "--no-detach", "true"), "unknown flag: --no-detach (see 'hutch run --help')")
        XCTAssertEqual(error("rm"), "missing argument CONTAINER (see 'hutch rm --help')")
        XCTAssertEqual(error("exec"), "missing argument CONTAINER (see 'hutch exec --help')")
        XCTAssertEqual(error("port", "c", "80", "81"), "unexpected argument \"81\" (see 'hutch port --help')")
        XCTAssertEqual(error("pod", "ls", "x"), "unexpected argument \"x\" (see 'hutch pod ls --help')")
        XCTAssertEqual(error("--bogus", "ps"), "unknown flag: --bogus (see 'hutch --help')")
    }

    func testCountOption() throws {
        let time = CLIOption.value("-t, --time", "")
        let p = CLIParser(CLICommand("stop", abstract: "", options: [time]) { _ in }, globals: [], version: "")
        func count(_ words: [String]) throws -> Int {
            guard case .run(_, let v) = try p.parse(words) else { return -1 }
            return try v.count(time, default: 10)
        }
        XCTAssertEqual(try count([]), 10)
        XCTAssertEqual(try count(["-t", "0"]), 0)
        XCTAssertEqual(try count(["-t3"]), 3)
        for bad in ["abc", "-1", "1.5", ""] {
            XCTAssertThrowsError(try count(["--time", bad]), bad) { e in
                XCTAssertEqual((e as? HutchError)?.message, "invalid --time \"\(bad)\": use a whole number of 0 or more")
            }
        }
    }
}
