import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchCLI

/// Issue 14 §2: the template engine, `--format` forms, filters, labels and label files, `--expose`.
final class TemplateTests: XCTestCase {
    let value = JSON.object([
        "Name": .string("web"), "Id": .string("abc"),
        "State": .object(["Status": .string("running"), "Pid": .int(42), "Running": .bool(true)]),
        "Config": .object(["Cmd": .strings(["sleep", "300"]), "Labels": .object(["app": .string("web"), "a.b/c": .string("x")])]),
        "Empty": .object([:]), "Nothing": .null,
    ])

    func render(_ t: String, _ v: JSON? = nil) throws -> String { try Template.parse(t).render(v ?? value, what: "container web") }

    func error(_ t: String, _ v: JSON? = nil) -> String {
        do { _ = try render(t, v); return "" } catch let e as HutchError { return e.message } catch { return "\(error)" }
    }

    func testFieldsAndText() throws {
        XCTAssertEqual(try render("{{.Name}}"), "web")
        XCTAssertEqual(try render("name={{.Name}} id={{ .Id }}!"), "name=web id=abc!")
        XCTAssertEqual(try render("{{.State.Status}}/{{.State.Pid}}/{{.State.Running}}"), "running/42/true")
        XCTAssertEqual(try render("plain text"), "plain text")
        XCTAssertEqual(try render(""), "")
        XCTAssertEqual(try render("{{.Config.Labels.app}}"), "web")
    }

    func testGoStyleValues() throws {
        XCTAssertEqual(try render("{{.Config.Cmd}}"), "[sleep 300]")
        XCTAssertEqual(try render("{{.Config.Labels}}"), "map[a.b/c:x app:web]")
        XCTAssertEqual(try render("{{.Empty}}"), "map[]")
        XCTAssertEqual(try render("{{.Nothing}}"), "<no value>")
        XCTAssertEqual(try render("{{.}}", .string("s")), "s")
    }

    func testJSONFunctionAndPipe() throws {
        XCTAssertEqual(try render("{{json .Config.Labels}}"), #"{"a.b/c":"x","app":"web"}"#)
        XCTAssertEqual(try render("{{json .Config.Cmd}}"), #"["sleep","300"]"#)
        XCTAssertEqual(try render("{{.State.Status | json}}"), #""running""#)
        XCTAssertEqual(try render("{{json .State.Pid}}"), "42")
        XCTAssertEqual(try render("{{json .}}", .object(["A": .string("1")])), #"{"A":"1"}"#)
    }

    func testIndex() throws {
        XCTAssertEqual(try render(#"{{index .Config.Labels "a.b/c"}}"#), "x")
        XCTAssertEqual(try render(#"{{index .Config.Labels "missing"}}"#), "")  // as Docker shows a missing label
        XCTAssertEqual(try render(#"{{index . "Config" "Labels" "app"}}"#), "web")
        XCTAssertEqual(try render(#"{{.Config.Labels | index "app"}}"#), "web")
    }

    func testTrimMarkersAndStrings() throws {
        XCTAssertEqual(try render("a  {{- .Name -}}  b"), "awebb")
        XCTAssertEqual(try render(#"{{"lit"}}-{{`raw`}}"#), "lit-raw")
        XCTAssertEqual(try render(#"{{"a\tb"}}"#), "a\tb")
    }

    func testErrorsAreOneLineAndNameTheConstruct() {
        let cases: [(String, String)] = [
            ("{{range .Config.Cmd}}{{.}}{{end}}", "{{range}} is not supported"),
            ("{{if .State.Running}}up{{end}}", "{{if}} is not supported"),
            ("{{with .State}}x{{end}}", "{{with}} is not supported"),
            ("{{end}}", "{{end}} is not supported"),
            ("{{printf \"%s\" .Name}}", "unknown function \"printf\""),
            ("{{upper .Name}}", "unknown function \"upper\""),
            ("{{.Name", "unclosed {{"),
            ("x {{.Name}} {{", "unclosed {{"),
            ("{{.Bogus}}", "container web has no field .Bogus"),
            ("{{.State.Bogus}}", "no field .State.Bogus"),
            ("{{.Name.First}}", "no fields"),
            ("{{}}", "empty action"),
            ("{{ }}", "empty action"),
            ("{{$x := .Name}}", "variables"),
            ("{{json}}", "json takes one value"),
            ("{{json .A .B}}", "json takes one value"),
            ("{{index .Config.Labels}}", "index takes"),
            ("{{index .Config.Labels .Name}}", "quoted strings"),
            ("{{.Name | upper}}", "unknown function"),
            ("{{.Name | .Id}}", "must be a function"),
            ("{{| json}}", "nothing on one side"),
            ("{{.Name |}}", "nothing on one side"),
            ("{{json (.Name)}}", "parentheses"),
            ("{{.Name 1}}", "constants"),
            ("{{.Name \"x\"}}", "takes no arguments"),
            ("{{\"open}}", "unterminated string"),
            ("{{.a-b}}", "is not a field name"),
            ("{{/* note */}}", "comments"),
            ("{{index .Name \"k\"}}", "index needs a map"),
        ]
        for (t, want) in cases {
            let e = error(t)
            XCTAssertTrue(e.contains(want), "\(t): \(e)")
            XCTAssertTrue(e.hasPrefix("invalid --format: "), "\(t): \(e)")
            XCTAssertFalse(e.contains("\n"), "\(t): \(e)")
        }
    }

    func testParsedOnce() throws {
        let t = try Template.parse("{{.ID}}\t{{json .Names}}")
        XCTAssertEqual(t.segments.count, 3)
        XCTAssertEqual(t.fieldPaths, [["ID"], ["Names"]])
        XCTAssertEqual(t.header { $0 == "ID" ? "CONTAINER ID" : $0.uppercased() }, "CONTAINER ID\tNAMES")
    }
}

final class OutputFormatTests: XCTestCase {
    let list = ListRows.containers

    func testForms() throws {
        XCTAssertEqual(try OutputFormat(nil, list: true), .standard)
        XCTAssertEqual(try OutputFormat("json", list: true), .json)
        XCTAssertEqual(try OutputFormat("table", list: true), .standard)
        guard case .template(let t, let table) = try list.format("table {{.ID}}\\t{{.Names}}") else { return XCTFail() }
        XCTAssertTrue(table)
        XCTAssertEqual(t.segments, [.action([.init(function: nil, arguments: [.field(["ID"])])]), .text("\t"),
                                    .action([.init(function: nil, arguments: [.field(["Names"])])])])
        // Escapes as Docker's CLI: \t and \n; list formats are trimmed of spaces.
        guard case .template(let u, false) = try list.format("  {{.Names}}\\n ") else { return XCTFail() }
        XCTAssertEqual(try u.render(.object(["Names": .string("a")])), "a\n")
        // "tablet" is not "table ...": plain text then.
        guard case .template(_, false) = try list.format("tablet {{.ID}}") else { return XCTFail() }
    }

    func testUnknownListFieldsFailBeforeAnyRow() {
        for f in ["{{.Bogus}}", "table {{.ID}}\t{{.Nope}}", "{{json .Name}}"] {
            XCTAssertThrowsError(try list.format(f), f) { e in
                XCTAssertTrue((e as? HutchError)?.message.contains("the fields are .ID, .Image") == true, "\(e)")
            }
        }
        XCTAssertThrowsError(try OutputFormat("", list: true))
    }

    func testTableOutputHasAHeaderAndAlignedColumns() throws {
        let rows: [JSON] = [.object(["ID": .string("aaaaaaaaaaaa"), "Names": .string("web")]),
                            .object(["ID": .string("bbbbbbbbbbbb"), "Names": .string("database")])]
        let out = try list.render(rows, as: try list.format("table {{.ID}}\\t{{.Names}}"), what: { _ in "row" })
        XCTAssertEqual(out, "CONTAINER ID   NAMES\naaaaaaaaaaaa   web\nbbbbbbbbbbbb   database\n")
        let empty = try list.render([], as: try list.format("table {{.ID}} {{.Names}}"), what: { _ in "" })
        XCTAssertEqual(empty, "CONTAINER ID NAMES\n")
        let plain = try list.render(rows, as: try list.format("{{.Names}}:{{.ID}}"), what: { _ in "" })
        XCTAssertEqual(plain, "web:aaaaaaaaaaaa\ndatabase:bbbbbbbbbbbb\n")
        let json = try list.render(rows, as: .json, what: { _ in "" })
        XCTAssertEqual(json, #"{"ID":"aaaaaaaaaaaa","Names":"web"}"# + "\n" + #"{"ID":"bbbbbbbbbbbb","Names":"database"}"# + "\n")
        XCTAssertNil(try list.render(rows, as: .standard, what: { _ in "" }))
    }

    func testHeadersOfEveryList() throws {
        func header(_ l: ListOutput, _ f: String) throws -> String {
            try l.render([], as: try l.format(f), what: { _ in "" })!
        }
        XCTAssertEqual(try header(ListRows.pods, "table {{.ID}}\\t{{.Name}}\\t{{.NumberOfContainers}}"), "POD ID   NAME   # OF CONTAINERS\n")
        XCTAssertEqual(try header(ListRows.networks, "table {{.Name}}\\t{{.Subnet}}"), "NAME   SUBNET\n")
        XCTAssertEqual(try header(ListRows.ports, "table {{.PublicPort}}\\t{{.PrivatePort}}"), "HOST PORT   CONTAINER PORT\n")
        XCTAssertEqual(try header(ListRows.containers, "table {{.RunningFor}}\\t{{.CreatedAt}}"), "CREATED   CREATED AT\n")
    }

    func testRows() {
        var c = ContainerRecord(id: String(repeating: "ab", count: 32), name: "web", command: ["sleep", "300"], hostname: "h", env: [],
                                workdir: "/", networkMode: "bridge", network: "bridge", autoRemove: false, detached: true,
                                useInit: true, noNewPrivs: true, status: .running, shimPid: 1, shimStart: 1, pid: 1, pidStart: 1,
                                createdAt: "2026-12-01T10:11:12.000000000Z", startedAt: "2026-12-01T10:11:12.000000000Z", bootId: "b")
        c.labels = try! Labels(["b=2", "a=1"])
        let m = PortMapping(hostIP: nil, hostPort: 8080, containerPort: 80, proto: .tcp)
        guard case .object(let o) = ListRows.container(c, ports: [m], networks: ["bridge"], full: false) else { return XCTFail() }
        XCTAssertEqual(o["ID"], .string("abababababab"))
        XCTAssertEqual(o["Names"], .string("web"))
        XCTAssertEqual(o["Image"], .string(""))
        XCTAssertEqual(o["Command"], .string("\"sleep 300\""))
        XCTAssertEqual(o["CreatedAt"], .string("2026-12-01 10:11:12 +0000 UTC"))
        XCTAssertEqual(o["Ports"], .string("0.0.0.0:8080->80/tcp"))
        XCTAssertEqual(o["Labels"], .string("a=1,b=2"))
        XCTAssertEqual(o["State"], .string("running"))
        XCTAssertEqual(Set(o.keys), Set(ListRows.containers.fields))
        guard case .object(let p) = ListRows.port(m) else { return XCTFail() }
        XCTAssertEqual(p["PublicPort"], .int(8080))
        XCTAssertEqual(Set(p.keys), Set(ListRows.ports.fields))
    }

    func testInspectShowsLabels() throws {
        var c = ContainerRecord(id: "i", name: "n", command: ["true"], hostname: "h", env: [], workdir: "/", networkMode: "none",
                                autoRemove: false, detached: false, useInit: true, noNewPrivs: true, status: .exited, shimPid: 0,
                                shimStart: 0, pid: 0, pidStart: 0, createdAt: "", bootId: "")
        c.labels = try Labels(["app=web"])
        let j = ContainerJSON(c, network: nil, ports: [], logPath: "").json
        XCTAssertEqual(try Template.parse("{{json .Config.Labels}}").render(j), #"{"app":"web"}"#)
        var p = PodRecord(id: "p", name: "pod", hostname: "pod", infraId: "", createdAt: "")
        p.labels = try Labels(["tier=db"])
        let pj = PodJSON(p, status: "Running", infra: nil, ports: [], members: []).json
        XCTAssertEqual(try Template.parse("{{.Config.Labels.tier}} {{.Labels.tier}}").render(pj), "db db")
    }
}

final class LabelsAndFiltersTests: XCTestCase {
    func testLabels() throws {
        let l = try Labels(["app=web", "tier=front", "app=api", "flag", "eq=a=b", "empty="])
        XCTAssertEqual(l.items, ["app": "api", "tier": "front", "flag": "", "eq": "a=b", "empty": ""])
        XCTAssertEqual(l.entries, ["app=api", "empty=", "eq=a=b", "flag=", "tier=front"])
        XCTAssertEqual(l.joined, "app=api,empty=,eq=a=b,flag=,tier=front")
        XCTAssertEqual(Labels(stored: l.entries), l)
        XCTAssertTrue(l.matches(["app": "api"]))
        XCTAssertTrue(l.matches(["app": "api", "tier": "front"]))
        XCTAssertTrue(l.matches([:]))
        XCTAssertFalse(l.matches(["app": "web"]))
        XCTAssertFalse(l.matches(["app": "api", "missing": ""]))
        XCTAssertTrue(l.matches(["flag": ""]))
        for bad in ["", "=v", "=", "a b=c", "a\tb", "k=line\nbreak"] {
            XCTAssertThrowsError(try Labels([bad]), bad) { e in
                let m = (e as? HutchError)?.message ?? ""
                XCTAssertTrue(m.hasPrefix("invalid --label"), m)
                XCTAssertFalse(m.contains("\n"), m)
            }
        }
    }

    func testLabelFiles() throws {
        let text = "# a comment\n\napp=web\n  tier=front\r\n   # indented comment\nflag\nurl=http://x/?a=b#frag\n"
        let l = try Labels.parse(labels: ["tier=back"], files: ["/f"], read: { $0 == "/f" ? text : nil })
        XCTAssertEqual(l.items, ["app": "web", "tier": "back", "flag": "", "url": "http://x/?a=b#frag"])
        XCTAssertThrowsError(try Labels.parse(labels: [], files: ["/missing"], read: { _ in nil })) { e in
            XCTAssertTrue((e as? HutchError)?.message.contains("/missing") == true)
        }
        XCTAssertThrowsError(try Labels.parse(labels: [], files: ["/f"], read: { _ in "ok=1\nbad key=2\n" })) { e in
            XCTAssertTrue((e as? HutchError)?.message.contains("line 2") == true, "\(e)")
        }
        XCTAssertThrowsError(try Labels.parse(labels: [], files: ["/f"], read: { _ in "=nokey\n" })) { e in
            XCTAssertTrue((e as? HutchError)?.message.contains("line 1") == true, "\(e)")
        }
        XCTAssertEqual(try Labels.parse(labels: [], files: ["/f"], read: { _ in "" }).items, [:])
    }

    func testFilterParsing() throws {
        let f = try Filters(["name=web", "name=db", "label=app", "label=tier=front", "status=Running", "id=abc"],
                            keys: Filters.containerKeys, statuses: Filters.containerStatuses)
        XCTAssertEqual(f.values["name"], ["web", "db"])
        XCTAssertEqual(f.values["status"], ["running"])
        XCTAssertEqual(f.labels.map(\.key), ["app", "tier"])
        XCTAssertEqual(f.labels.map(\.value), [nil, "front"])
        XCTAssertTrue(f.hasStatus)
        let bad: [(String, String)] = [("bogus=1", "unknown filter \"bogus\""), ("name", "use name=VALUE"), ("name=", "use name=VALUE"),
                                       ("status=sleeping", "status is one of"), ("label==x", "label=KEY"), ("=x", "unknown filter")]
        for (e, want) in bad {
            XCTAssertThrowsError(try Filters([e], keys: Filters.containerKeys, statuses: Filters.containerStatuses), e) { err in
                XCTAssertTrue((err as? HutchError)?.message.contains(want) == true, "\(e): \(err)")
            }
        }
        // pod ls takes no pod= filter.
        XCTAssertThrowsError(try Filters(["pod=x"], keys: Filters.podKeys, statuses: Filters.podStatuses))
        XCTAssertNoThrow(try Filters(["status=degraded"], keys: Filters.podKeys, statuses: Filters.podStatuses))
    }

    func testFilterMatching() throws {
        let s = Filters.Subject(id: "abcdef0123", name: "web-1", status: "running", labels: try Labels(["app=web", "tier=front"]),
                                pods: ["pp", "ffff00"], networks: ["bridge", "0000"])
        func m(_ e: String...) throws -> Bool {
            try Filters(e, keys: Filters.containerKeys, statuses: Filters.containerStatuses).matches(s)
        }
        XCTAssertTrue(try m())
        XCTAssertTrue(try m("name=web"))
        XCTAssertTrue(try m("name=nope", "name=eb-"))  // same key: either
        XCTAssertTrue(try m("name=^web-1$"))
        XCTAssertTrue(try m("name=^web"))
        XCTAssertTrue(try m("name=-1$"))
        XCTAssertFalse(try m("name=^web$"))
        XCTAssertFalse(try m("name=^eb"))
        XCTAssertFalse(try m("name=web", "status=exited"))  // different keys: all
        XCTAssertTrue(try m("id=abc"))
        XCTAssertFalse(try m("id=bcd"))
        XCTAssertTrue(try m("label=app"))
        XCTAssertTrue(try m("label=app=web", "label=tier=front"))
        XCTAssertFalse(try m("label=app=web", "label=tier=back"))  // labels: all
        XCTAssertFalse(try m("label=other"))
        XCTAssertTrue(try m("pod=pp"))
        XCTAssertTrue(try m("pod=fff"))
        XCTAssertFalse(try m("pod=p"))
        XCTAssertTrue(try m("network=bridge"))
        XCTAssertFalse(try m("network=other"))
        XCTAssertTrue(try m("status=running"))
    }

    func testExpose() throws {
        XCTAssertEqual(try ExposeSpec.parse("80").map(\.containerPort), [80])
        XCTAssertEqual(try ExposeSpec.parse("8000-8002/udp").map { "\($0.containerPort)/\($0.proto.rawValue)" },
                       ["8000/udp", "8001/udp", "8002/udp"])
        XCTAssertTrue(try ExposeSpec.parse("53/UDP").allSatisfy { $0.proto == .udp && $0.hostPort == 0 })
        for bad in ["", "/tcp", "0", "65536", "abc", "80/sctp", "90-80", "1:80", "80-"] {
            XCTAssertThrowsError(try ExposeSpec.parse(bad), bad) { e in
                XCTAssertTrue((e as? HutchError)?.message.hasPrefix("invalid --expose") == true, "\(e)")
            }
        }
        let exposed = try ExposeSpec.parse("80") + ExposeSpec.parse("81") + ExposeSpec.parse("80")
        let published = [try PublishSpec.parse("8081:81")]
        XCTAssertEqual(ExposeSpec.publishAll(exposed, besides: published).flatMap(\.mappings).map(\.containerPort), [80])
    }

    func testReplaceNeedsName() {
        var o = RunOptions()
        o.command = ["true"]
        o.replace = true
        XCTAssertThrowsError(try o.validate())
        o.name = "x"
        XCTAssertNoThrow(try o.validate())
        var p = PodOptions()
        p.replace = true
        XCTAssertThrowsError(try p.validate())
    }

    func testNetworkIgnoreComparesOptions() throws {
        let n = NetworkRecord(name: "n", id: "i", bridge: "hb-x", subnet: CIDRv4("10.90.0.0/24")!, gateway: IPv4Address("10.90.0.1")!, isInternal: false, createdAt: "")
        var o = NetworkOptions(name: "n")
        XCTAssertEqual(o.differences(from: n), [])
        o.subnet = CIDRv4("10.90.0.0/24")
        XCTAssertEqual(o.differences(from: n), [])
        o.subnet = CIDRv4("10.91.0.0/24")
        o.isInternal = true
        XCTAssertEqual(o.differences(from: n).count, 2)
    }
}

/// The flags' shapes as hutch declares them: `-f` short for `--format` on inspect and for
/// `--filter` on ps, both repeatable where Docker's are, `-l`/`--label-file`, `-P` clustered.
final class ScriptingFlagTests: XCTestCase {
    static let filter = CLIOption.list("-f, --filter", "", as: "filter")
    static let listFormat = CLIOption.value("--format", "", as: "format")
    static let inspectFormat = CLIOption.value("-f, --format", "", as: "format")
    static let label = CLIOption.list("-l, --label", "", as: "label")
    static let labelFile = CLIOption.list("--label-file", "", as: "file")
    static let publishAll = CLIOption.flag("-P, --publish-all", "")
    static let expose = CLIOption.list("--expose", "", as: "port")
    static let detach = CLIOption.flag("-d, --detach", "")
    static let ignore = CLIOption.flag("-i, --ignore", "")
    static let command = CLIArgument("COMMAND", .command, "")
    static let names = CLIArgument("NAME", .oneOrMore, "")
    static let parser = CLIParser(CLICommand("hutch", abstract: "", subcommands: [
        CLICommand("ps", abstract: "", options: [filter, listFormat]) { _ in },
        CLICommand("inspect", abstract: "", options: [inspectFormat], arguments: [names]) { _ in },
        CLICommand("rm", abstract: "", options: [ignore], arguments: [names]) { _ in },
        CLICommand("run", abstract: "", options: [label, labelFile, publishAll, expose, detach], arguments: [command]) { _ in },
    ]), globals: [], version: "")

    func parse(_ w: String...) throws -> CLIValues {
        guard case .run(_, let v) = try Self.parser.parse(w) else { throw HutchError("printed") }
        return v
    }

    func testFlags() throws {
        let ps = try parse("ps", "-f", "name=a", "--filter=label=x=y", "--filter", "status=exited", "--format", "{{.ID}}")
        XCTAssertEqual(ps.list(Self.filter), ["name=a", "label=x=y", "status=exited"])
        XCTAssertEqual(try OutputFormat(ps.value(Self.listFormat), list: true, fields: ["ID"]) != .standard, true)
        let i = try parse("inspect", "-f", "{{.Name}}", "a", "b")
        XCTAssertEqual(i.value(Self.inspectFormat), "{{.Name}}")
        let r = try parse("run", "-dP", "-l", "a=1", "--label=b=2", "--label-file", "/f", "--expose", "80", "--", "sleep", "1")
        XCTAssertTrue(r.flag(Self.publishAll) && r.flag(Self.detach))
        XCTAssertEqual(r.list(Self.label), ["a=1", "b=2"])
        XCTAssertEqual(r.list(Self.labelFile), ["/f"])
        XCTAssertEqual(r.list(Self.expose), ["80"])
        XCTAssertTrue(try parse("rm", "-i", "x").flag(Self.ignore))
    }
}

/// Schema step 2 (labels): a version-1 store is migrated in place, its rows keep everything and
/// get no labels; labels round-trip for containers and pods.
final class LabelsStoreTests: XCTestCase {
    func testMigrationFromVersion1AndRoundTrip() throws {
        var template = Array("/tmp/hutch-unit-XXXXXX".utf8CString)
        let root = String(cString: try XCTUnwrap(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }))
        defer { Sys.removeTree(root) }
        do {
            let db = try Database(path: root + "/hutch.db", busyTimeoutMs: 1000)
            try db.execute(sql: Store.migrations[0])
            try db.execute(sql: "PRAGMA user_version = 1")
            try db.execute(sql: "INSERT INTO pods (id, name, hostname, infraId, createdAt) VALUES ('p1', 'old', 'old', '', '')")
        }
        let store = try Store(root: root)
        XCTAssertEqual(try store.read { try $0.int(sql: "PRAGMA user_version") }, Store.migrations.count)
        let old = try XCTUnwrap(try store.findPod("old"))
        XCTAssertTrue(old.labels.isEmpty)
        var p = PodRecord(id: "p2", name: "new", hostname: "new", infraId: "", createdAt: "")
        p.labels = try Labels(["app=web", "k="])
        try store.write { try p.insert($0) }
        XCTAssertEqual(try store.findPod("new")?.labels, p.labels)
        var c = ContainerRecord(id: "c1", name: "c", command: ["true"], hostname: "h", env: [], workdir: "/", networkMode: "none",
                                autoRemove: false, detached: false, useInit: true, noNewPrivs: true, status: .exited, shimPid: 0,
                                shimStart: 0, pid: 0, pidStart: 0, createdAt: "", bootId: "")
        c.labels = try Labels(["tier=db"])
        try store.write { try c.insert($0) }
        XCTAssertEqual(try store.findContainer("c")?.labels["tier"], "db")
    }
}
