import HutchOS

/// `--env-file FILE` in Docker's format: one `KEY=VALUE` per line, the value taken as it is
/// (spaces and quotes included, no expansion); a line that is only `KEY` takes the caller's value
/// of KEY and is dropped when the caller has none; blank lines and lines starting with `#` are
/// skipped; leading whitespace is ignored; a UTF-8 byte order mark at the start is dropped.
public enum EnvFile {
    /// The entries of one file, `KEY=VALUE` each, in file order. `lookup`: the caller's environment.
    public static func parse(_ text: String, path: String, lookup: (String) -> String?) throws -> [String] {
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        var out: [String] = []
        var n = 0
        // "\r\n" is one Character in Swift: split on both, as Docker's line scanner does.
        for raw in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            n += 1
            var line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = parts[0]
            func bad(_ why: String) -> HutchError { HutchError("invalid --env-file \(path) line \(n): \(why)") }
            if key.isEmpty { throw bad("no variable name before '=' in \"\(line)\"") }
            if key.contains(where: { $0 == " " || $0 == "\t" }) { throw bad("variable name \"\(key)\" contains whitespace") }
            guard Validate.isEnvKey(key) else {
                throw bad("invalid variable name \"\(key)\": letters, digits and punctuation other than '=', not starting with a digit")
            }
            if parts.count == 2 { out.append("\(key)=\(parts[1])") }
            else if let v = lookup(String(key)) { out.append("\(key)=\(v)") }
        }
        return out
    }

    /// Every file's entries, in the order the files were given; `read` nil: the file is missing.
    public static func entries(files: [String], read: (String) -> String?, lookup: (String) -> String?) throws -> [String] {
        try files.flatMap { f -> [String] in
            guard let text = read(f) else {
                throw HutchError("cannot read --env-file \(f): no such file or not readable")
            }
            return try parse(text, path: f, lookup: lookup)
        }
    }
}

/// `--add-host NAME:IP`: an extra line of the container's /etc/hosts. IP is an IPv4 address or
/// `host-gateway` (the gateway of the container's network: the host as the container reaches it).
public struct ExtraHost: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    /// nil: `host-gateway`.
    public var address: IPv4Address?

    public init(parsing spec: String) throws {
        func bad(_ why: String) -> HutchError { HutchError("invalid --add-host \"\(spec)\": \(why) (use NAME:IP, e.g. db.local:10.0.0.5, or NAME:host-gateway)") }
        // Docker accepts NAME=IP too.
        guard let sep = spec.firstIndex(where: { $0 == ":" || $0 == "=" }) else { throw bad("the address is missing") }
        let name = String(spec[..<sep]), ip = spec[spec.index(after: sep)...]
        guard Validate.isHostname(name) else { throw bad("\"\(name)\" is not a valid host name") }
        self.name = name
        if ip == "host-gateway" { address = nil; return }
        guard let a = IPv4Address(ip) else { throw bad("\"\(ip)\" is not an IPv4 address") }
        address = a
    }

    /// As stored and shown by inspect (`HostConfig.ExtraHosts`): `NAME:IP`.
    public var description: String { "\(name):\(address?.description ?? "host-gateway")" }
}
