import HutchOS
/// hutch's command line, declared as data and parsed with Docker's (pflag's) conventions:
/// `--name value`, `--name=value`, `-p value`, `-pvalue`, `-p=value`, clustered short flags (`-dq`),
/// `--no-init` for a flag that defaults to on, options before or after positional arguments, `--`
/// to end the options, and for `run`/`exec` everything from the command word on passed through as
/// it is.
///
/// Why not swift-argument-parser: it builds each command's argument set by reflection (`Mirror`
/// and dynamic casts) on every start and links FoundationEssentials, a measured share of every
/// `hutch run` (bench/README.md, "The command line without swift-argument-parser"). A table is
/// enough for hutch's flat, Docker-shaped options.

/// One option. `names` is written as help shows it: "-p, --publish" or "--rm" or "--network, --net".
public struct CLIOption: Sendable {
    public enum Kind: Sendable {
        /// On when present; `negatable` ones default to on and take `--no-NAME`.
        case flag(negatable: Bool)
        /// Takes a value; given twice, the last one counts.
        case value
        /// Takes a value; may be repeated, every value is kept in order.
        case list
    }
    public let short: Character?
    public let long: [String]
    public let kind: Kind
    public let valueName: String
    public let help: String

    public init(_ names: String, _ kind: Kind, valueName: String = "", help: String) {
        var short: Character?
        var long: [String] = []
        // Over UTF-8 bytes: every option of every command is built at each start.
        let dash = UInt8(ascii: "-")
        for part in names.utf8.split(separator: UInt8(ascii: ",")) {
            let n = Array(part.drop(while: { $0 == UInt8(ascii: " ") }))
            if n.count > 2, n[0] == dash, n[1] == dash { long.append(String(decoding: n[2...], as: UTF8.self)) }
            else if n.count == 2, n[0] == dash { short = Character(Unicode.Scalar(n[1])) }
            else { preconditionFailure("option name \"\(names)\" is neither -x nor --long") }
        }
        precondition(!long.isEmpty, "option \(names) needs a long name")
        self.short = short; self.long = long; self.kind = kind; self.help = help
        self.valueName = valueName.isEmpty ? long[0] : valueName
    }

    public static func flag(_ names: String, _ help: String) -> CLIOption { .init(names, .flag(negatable: false), help: help) }
    /// `as`: the value's name in help (default: the long name).
    public static func value(_ names: String, _ help: String, as valueName: String = "") -> CLIOption {
        .init(names, .value, valueName: valueName, help: help)
    }
    public static func list(_ names: String, _ help: String, as valueName: String = "") -> CLIOption {
        .init(names, .list, valueName: valueName, help: help)
    }

    var key: String { long[0] }
    var takesValue: Bool { if case .flag = kind { return false } else { return true } }
    var negatable: Bool { if case .flag(true) = kind { return true } else { return false } }
    var display: String { "--" + key }
}

/// A positional argument: its name as help shows it (CONTAINER) and how many words it takes.
public struct CLIArgument: Sendable {
    public enum Count: Sendable {
        case one, optional, oneOrMore, zeroOrMore
        /// The command to run and its arguments: every word from the first one that is not an
        /// option of hutch's (or from after `--`) on, options included.
        case command
    }
    public let name: String
    public let count: Count
    public let help: String
    public init(_ name: String, _ count: Count = .one, _ help: String) { self.name = name; self.count = count; self.help = help }
}

/// A command: a leaf with `run`, or a group of subcommands (`hutch network ls`).
public struct CLICommand: Sendable {
    public let name: String
    public let aliases: [String]
    public let abstract: String
    public let discussion: String
    public let options: [CLIOption]
    public let arguments: [CLIArgument]
    public let subcommands: [CLICommand]
    public let hidden: Bool
    public let run: (@Sendable (CLIValues) throws -> Void)?

    public init(_ name: String, aliases: [String] = [], abstract: String, discussion: String = "", hidden: Bool = false,
                options: [CLIOption] = [], arguments: [CLIArgument] = [], subcommands: [CLICommand] = [],
                run: (@Sendable (CLIValues) throws -> Void)? = nil) {
        precondition((run == nil) != subcommands.isEmpty, "command \(name): either subcommands or run")
        precondition(arguments.dropLast().allSatisfy { $0.count == .one }, "command \(name): only the last argument may take a count")
        self.name = name; self.aliases = aliases; self.abstract = abstract; self.discussion = discussion; self.hidden = hidden
        self.options = options; self.arguments = arguments; self.subcommands = subcommands; self.run = run
    }

    func subcommand(_ word: String) -> CLICommand? { subcommands.first { $0.name == word || $0.aliases.contains(word) } }
}

/// What one command line said: flags, option values and positional arguments, read back with
/// the declarations they were parsed by.
public struct CLIValues: Sendable {
    var flags: [String: Bool] = [:]
    var values: [String: [String]] = [:]
    var words: [String: [String]] = [:]

    public init() {}
    public func flag(_ o: CLIOption) -> Bool { flags[o.key] ?? o.negatable }
    public func value(_ o: CLIOption) -> String? { values[o.key]?.last }
    public func list(_ o: CLIOption) -> [String] { values[o.key] ?? [] }
    public func one(_ a: CLIArgument) -> String { words[a.name]?.first ?? "" }
    public func optional(_ a: CLIArgument) -> String? { words[a.name]?.first }
    public func all(_ a: CLIArgument) -> [String] { words[a.name] ?? [] }

    /// The value converted by `parse`, nil when the option is absent; a value that does not
    /// convert is an error naming the option and what it takes (`expect`).
    public func value<T>(_ o: CLIOption, _ parse: (String) -> T?, expect: String) throws -> T? {
        guard let s = value(o) else { return nil }
        guard let v = parse(s) else { throw HutchError("invalid \(o.display) \"\(s)\": \(expect)") }
        return v
    }

    /// A whole number of at least 0, for options like `--time`.
    public func count(_ o: CLIOption, default d: Int) throws -> Int {
        try value(o, { Int($0).flatMap { $0 >= 0 ? $0 : nil } }, expect: "use a whole number of 0 or more") ?? d
    }
}

/// The outcome of parsing: a command to run, or text to print with status 0 (help, version).
public enum Invocation {
    case run(CLICommand, CLIValues)
    case print(String)
}

public struct CLIParser: Sendable {
    public let program: CLICommand
    /// Options every command takes, before or after its name (--root, --firewall).
    public let globals: [CLIOption]
    public let version: String

    public init(_ program: CLICommand, globals: [CLIOption], version: String) {
        self.program = program; self.globals = globals; self.version = version
    }

    /// Errors are HutchErrors (exit 125) of one line that names the word at fault and where to
    /// read more.
    public func parse(_ args: [String]) throws -> Invocation {
        var path = [program]
        var parsed = CLIValues()
        var i = 0
        // The command words, with global options allowed between them.
        while !path[path.count - 1].subcommands.isEmpty {
            guard i < args.count else { return .print(help(path)) }
            let a = args[i]
            if a == "-h" || a == "--help" || a == "--help=true" || a == "--help=1" { return .print(help(path)) }
            if a == "--version" && path.count == 1 { return .print(version) }
            // `hutch help`, `hutch help run`, `hutch help network ls`: like Docker's.
            if a == "help" && path[path.count - 1].subcommand(a) == nil {
                for w in args[(i + 1)...] {
                    guard let sub = path[path.count - 1].subcommand(w) else {
                        throw usage("unknown command \"\(w)\" for \"\(title(path))\"", path)
                    }
                    path.append(sub)
                }
                return .print(help(path))
            }
            if a.hasPrefix("-") && a != "-" {
                guard let next = try option(args, i, globals, path, into: &parsed) else { return .print(help(path)) }
                i = next
                continue
            }
            guard let sub = path[path.count - 1].subcommand(a) else {
                throw usage("unknown command \"\(a)\" for \"\(title(path))\"", path)
            }
            path.append(sub)
            i += 1
        }
        let command = path[path.count - 1]
        let options = command.options + globals
        let passThrough = command.arguments.last?.count == .command
        let leading = command.arguments.count - (passThrough ? 1 : 0)
        var words: [String] = []
        var rest: [String] = []
        while i < args.count {
            let a = args[i]
            if a == "--" {
                var tail = Array(args[(i + 1)...])
                if passThrough {
                    while words.count < leading, !tail.isEmpty { words.append(tail.removeFirst()) }
                    rest = tail
                } else { words += tail }
                break
            }
            if a == "--help" || (a == "-h" && !options.contains(where: { $0.short == "h" })) { return .print(help(path)) }
            // pflag's boolean values for --help too: `--help=true` is --help, `--help=false` is nothing.
            if a.hasPrefix("--help=") {
                switch a.dropFirst(7) {
                case "true", "1": return .print(help(path))
                case "false", "0": i += 1; continue
                case let v: throw usage("invalid value \"\(v)\" for --help: use true or false", path)
                }
            }
            if a.hasPrefix("-"), a != "-" {
                guard let next = try option(args, i, options, path, into: &parsed) else { return .print(help(path)) }
                i = next
                continue
            }
            if passThrough && words.count == leading {
                rest = Array(args[i...])
                break
            }
            words.append(a)
            i += 1
        }
        var n = 0
        for arg in command.arguments {
            switch arg.count {
            case .one, .oneOrMore:
                guard n < words.count else { throw usage("missing argument \(arg.name)", path) }
                parsed.words[arg.name] = arg.count == .one ? [words[n]] : Array(words[n...])
                n = arg.count == .one ? n + 1 : words.count
            case .optional:
                if n < words.count { parsed.words[arg.name] = [words[n]]; n += 1 }
            case .zeroOrMore:
                parsed.words[arg.name] = Array(words[n...])
                n = words.count
            case .command:
                parsed.words[arg.name] = rest
            }
        }
        if n < words.count { throw usage("unexpected argument \"\(words[n])\"", path) }
        return .run(command, parsed)
    }

    /// Parses the option at `args[i]` (a long one, or a cluster of short ones); returns the index
    /// of the next word, or nil for `-h` inside a cluster (`-dh`) when no option of the command
    /// has `h` (`run -h` is `--hostname`, as in Docker).
    private func option(_ args: [String], _ i: Int, _ options: [CLIOption], _ path: [CLICommand],
                        into parsed: inout CLIValues) throws -> Int? {
        let a = args[i]
        var next = i + 1
        func take(_ o: CLIOption, _ inline: Substring?, _ shown: String) throws {
            guard o.takesValue else {
                // pflag's boolean values: `--rm=false`, `-d=true`, `--init=0`.
                switch inline {
                case nil, "true", "1": parsed.flags[o.key] = true
                case "false", "0": parsed.flags[o.key] = false
                case let v?: throw usage("invalid value \"\(v)\" for \(shown): use true or false", path)
                }
                return
            }
            let v: String
            if let inline { v = String(inline) } else {
                guard next < args.count else { throw usage("flag needs an argument: \(shown)", path) }
                v = args[next]
                next += 1
            }
            if case .list = o.kind { parsed.values[o.key, default: []].append(v) } else { parsed.values[o.key] = [v] }
        }
        if a.hasPrefix("--") {
            let body = a.dropFirst(2)
            let eq = body.firstIndex(of: "=")
            let name = String(body[..<(eq ?? body.endIndex)])
            let inline = eq.map { body[body.index(after: $0)...] }
            if let o = options.first(where: { $0.long.contains(name) }) {
                try take(o, inline, "--" + name)
            } else if name.hasPrefix("no-"),
                      let o = options.first(where: { $0.negatable && $0.long.contains(String(name.dropFirst(3))) }) {
                guard inline == nil else { throw usage("flag --\(name) takes no value", path) }
                parsed.flags[o.key] = false
            } else {
                throw usage("unknown flag: --\(name)", path)
            }
            return next
        }
        // -dq, -p8080:80, -p=8080:80, -p 8080:80, -p= (empty), -d=false
        var cluster = a.dropFirst()
        while let c = cluster.first {
            cluster = cluster.dropFirst()
            guard let o = options.first(where: { $0.short == c }) else {
                if c == "h" { return nil }
                throw usage("unknown shorthand flag: '\(c)' in \(a)", path)
            }
            if cluster.first == "=" {
                try take(o, cluster.dropFirst(), "-\(c)")
                break
            }
            if o.takesValue {
                try take(o, cluster.isEmpty ? nil : cluster, "-\(c)")
                break
            }
            try take(o, nil, "-\(c)")
        }
        return next
    }

    private func title(_ path: [CLICommand]) -> String { path.map(\.name).joined(separator: " ") }

    private func usage(_ message: String, _ path: [CLICommand]) -> HutchError {
        HutchError("\(message) (see '\(title(path)) --help')")
    }

    /// The help text of the command at the end of `path`.
    public func help(_ path: [CLICommand]) -> String {
        let c = path[path.count - 1]
        let name = title(path)
        var out = "OVERVIEW: \(c.abstract)\n\n"
        if !c.discussion.isEmpty { out += c.discussion + "\n\n" }
        var usage = "USAGE: \(name) [OPTIONS]" + (c.subcommands.isEmpty ? "" : " COMMAND")
        for a in c.arguments {
            switch a.count {
            case .one: usage += " \(a.name)"
            case .optional: usage += " [\(a.name)]"
            case .oneOrMore: usage += " \(a.name)..."
            case .zeroOrMore: usage += " [\(a.name)...]"
            case .command: usage += " [--] \(a.name) [ARG...]"
            }
        }
        out += usage + "\n"
        func table(_ title: String, _ rows: [(String, String)]) {
            guard !rows.isEmpty else { return }
            let width = min(max(rows.map(\.0.count).max() ?? 0, 12), 32)
            out += "\n\(title):\n"
            for (left, right) in rows {
                let pad = left.count <= width ? String(repeating: " ", count: width - left.count) : "\n" + String(repeating: " ", count: width + 2)
                out += "  \(left)\(pad)  \(right)\n"
            }
        }
        table("ARGUMENTS", c.arguments.map { ($0.name, $0.help) })
        func row(_ o: CLIOption) -> (String, String) {
            var left = o.short.map { "-\($0), " } ?? "    "
            left += o.long.map { (o.negatable ? "--[no-]" : "--") + $0 }.joined(separator: ", ")
            if o.takesValue { left += " <\(o.valueName)>" }
            return (left, o.help + (o.negatable ? " (default: on)" : "") + (o.kind.isList ? " (repeatable)" : ""))
        }
        let help = CLIOption.flag(c.options.contains(where: { $0.short == "h" }) ? "--help" : "-h, --help", "Show this help.")
        table("OPTIONS", (c.options + globals + [help]).map(row))
        table("COMMANDS", c.subcommands.filter { !$0.hidden }.map { ($0.name, $0.abstract) })
        if !c.subcommands.isEmpty { out += "\nSee '\(name) COMMAND --help' for more on a command.\n" }
        if path.count == 1 { out += "hutch \(version)\n" }
        return out
    }
}

extension CLIOption.Kind {
    var isList: Bool { if case .list = self { return true } else { return false } }
}
