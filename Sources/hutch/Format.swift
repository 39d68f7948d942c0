import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

/// `--format` and `--filter`, shared by the list and inspect commands.
enum Format {
    /// Of the list commands (ps, pod ls, network ls, port).
    static let list = CLIOption.value("--format", "json, a Go-style template ('{{.ID}} {{.Names}}'), or table TEMPLATE (with a header row).", as: "format")
    /// Of the inspect commands, with Docker's short form.
    static let inspect = CLIOption.value("-f, --format", "json, or a Go-style template ('{{.State.Status}}', '{{json .Config}}').", as: "format")

    /// Prints an inspect command's items: the JSON array, or each item through the template.
    static func printInspect(_ items: [(what: String, json: JSON)], _ format: OutputFormat) throws {
        guard case .template(let t, _) = format else {
            print(JSON.array(items.map(\.json)).render(pretty: true))
            return
        }
        var out = ""
        for i in items { out += try t.render(i.json, what: i.what) + "\n" }
        print(out, terminator: "")
    }

    /// Prints a list command's rows through `format`; false for `.standard` (the caller prints
    /// its own table).
    static func printList(_ list: ListOutput, _ rows: [(what: String, json: JSON)], _ format: OutputFormat) throws -> Bool {
        guard let text = try list.render(rows.map(\.json), as: format, what: { rows[$0].what }) else { return false }
        print(text, terminator: "")
        return true
    }
}

/// `hutch container ...`: Podman's noun for the container commands (`exists` is only here).
enum Container {
    static let name = CLIArgument("CONTAINER", .one, "Container (name or id).")

    static let exists = CLICommand(
        "exists", abstract: "Exit 0 if the container exists, 1 if not (no output).", arguments: [name]
    ) { a in
        if try Global.runtime(a).existingContainer(a.one(name)) == nil { throw ExitStatus(1) }
    }

    static let command = CLICommand(
        "container", abstract: "Manage containers (ls, inspect, rm, exists).",
        subcommands: [alias(PS.command, "ls", ["list", "ps"]), alias(Inspect.command, "inspect"),
                      alias(Remove.command, "rm", ["remove"]), exists])

    static func alias(_ c: CLICommand, _ name: String, _ aliases: [String] = []) -> CLICommand {
        CLICommand(name, aliases: aliases, abstract: c.abstract, discussion: c.discussion, options: c.options,
                   arguments: c.arguments, run: c.run)
    }
}

/// `--label` and `--label-file`, of `run` and `pod create`.
enum Labeling {
    static let label = CLIOption.list("-l, --label", "Set a label (KEY=VALUE, or KEY for an empty value).", as: "label")
    static let labelFile = CLIOption.list("--label-file", "Read labels from a file (KEY=VALUE lines, # comments).", as: "file")

    static func labels(_ a: CLIValues) throws -> Labels {
        try Labels.parse(labels: a.list(label), files: a.list(labelFile), read: { Sys.readFile($0) })
    }
}
