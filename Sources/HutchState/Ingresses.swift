import HutchModel
import HutchOS

// The ingresses table (issue 17): one row per ingress; its nginx container is an ordinary
// container record (`container`), its ports are that container's reservations.

extension IngressRecord: SQLKeyedRecord {
    public static let table = "ingresses"
    public static let primaryKey = "name"
    public init(row r: Row) throws {
        var rules: [IngressRule] = []
        for s in r.strings("rules") {
            guard let rule = IngressRule(stored: s) else { throw HutchError("corrupt state store: ingress rule \"\(s)\"") }
            rules.append(rule)
        }
        var backend: IngressBackend?
        if let d = r.text("defaultBackend") {
            guard let b = try? IngressBackend(parsing: d) else { throw HutchError("corrupt state store: ingress default backend \"\(d)\"") }
            backend = b
        }
        self.init(name: r.string("name"), id: r.string("id"), container: r.string("container"), rules: rules,
                  defaultBackend: backend, tls: r.bool("tls"), createdAt: r.string("createdAt"),
                  ownerPid: r.int32("ownerPid"), ownerStart: r.uint64("ownerStart"))
        tlsHosts = r.strings("tlsHosts")
        tlsGeneration = Int(r.integer("tlsGeneration") ?? 0)
        serviceUpstream = r.bool("serviceUpstream")
    }
    public var columns: [(String, any SQLArgument)] {
        [("name", name), ("id", id), ("container", container), ("rules", JSON.strings(rules.map(\.stored)).render()),
         ("defaultBackend", defaultBackend?.description), ("tls", tls), ("createdAt", createdAt),
         ("ownerPid", ownerPid), ("ownerStart", ownerStart), ("tlsHosts", JSON.strings(tlsHosts).render()),
         ("tlsGeneration", tlsGeneration), ("serviceUpstream", serviceUpstream)]
    }
}

extension IngressRecord {
    /// Every ingress, oldest first.
    public static func all(in db: Database) throws -> [IngressRecord] {
        try fetchAll(db, order: "createdAt, name")
    }
    /// The ingress with this name, else the one with this id or unique id prefix.
    public static func find(_ ref: String, in db: Database) throws -> IngressRecord? {
        if let r = try fetchOne(db, key: ref) { return r }
        guard !ref.isEmpty, ref.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let matches = try fetchAll(db, where: "id LIKE ?", arguments: [ref + "%"], limit: 2)
        if matches.count > 1 { throw HutchError("ingress id prefix \(ref) is ambiguous: give more characters") }
        return matches.first
    }
}
