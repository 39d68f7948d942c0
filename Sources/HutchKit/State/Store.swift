import GRDB
#if canImport(Glibc)
import Glibc
#endif

extension ContainerRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "containers"
}
extension PodRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "pods"
}
extension NetworkRecord: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "networks"
}

/// An address lease: one IP of one network held by one container (or pod).
public struct LeaseRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "leases"
    public var network: String
    public var ip: String
    public var owner: String
}

/// The state store: one SQLite database under the state root. Every change that hands something
/// out (a name, an address) happens in one IMMEDIATE transaction, so concurrent hutch processes
/// serialise on SQLite's write lock and can never both win.
public final class Store: @unchecked Sendable {
    public let root: String
    let db: DatabaseQueue

    public static let defaultNetwork = NetworkRecord(
        name: "bridge", id: String(repeating: "0", count: 64), bridge: "hutch0",
        subnet: "10.87.0.0/16", gateway: "10.87.0.1", isInternal: false, lastIP: nil, createdAt: "")

    public init(root: String) throws {
        self.root = root
        try Sys.mkdirs(root + "/containers", mode: 0o711)
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.journalMode = .wal
        // WAL + NORMAL: commits are atomic and survive a crash of hutch; only a power loss can
        // drop the last commits. Saves an fsync per command on the hot path.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        // Opening (the switch to WAL) and migrating a fresh store are not covered by SQLite's
        // busy timeout: serialise them between hutch processes with a file lock.
        let lock = open(root + "/hutch.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if lock >= 0 { while flock(lock, LOCK_EX) != 0 && errno == EINTR {} }
        defer { if lock >= 0 { close(lock) } }
        do {
            db = try DatabaseQueue(path: root + "/hutch.db", configuration: config)
            // The migrator only when the schema is not the current one (user_version): it costs
            // a few milliseconds that every command would otherwise pay.
            let version = try db.read { try Int.fetchOne($0, sql: "PRAGMA user_version") } ?? 0
            if version != Self.schemaVersion {
                try Self.migrator.migrate(db)
                try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)") }
            }
        } catch let e as DatabaseError {
            throw HutchError("cannot open the state store in \(root): \(e.message ?? "\(e)")")
        }
    }

    /// Bumped with every migration added below.
    static let schemaVersion = 1

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "containers") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("command", .text).notNull()
                t.column("hostname", .text).notNull()
                t.column("env", .text).notNull()
                t.column("workdir", .text).notNull()
                t.column("networkMode", .text).notNull()
                t.column("network", .text)
                t.column("ipAddress", .text)
                t.column("macAddress", .text)
                t.column("hostVeth", .text)
                t.column("joinedId", .text)
                t.column("autoRemove", .boolean).notNull()
                t.column("detached", .boolean).notNull()
                t.column("useInit", .boolean).notNull()
                t.column("capMask", .text)
                t.column("noNewPrivs", .boolean).notNull()
                t.column("status", .text).notNull()
                t.column("shimPid", .integer).notNull()
                t.column("shimStart", .integer).notNull()
                t.column("pid", .integer).notNull()
                t.column("pidStart", .integer).notNull()
                t.column("exitCode", .integer)
                t.column("createdAt", .text).notNull()
                t.column("startedAt", .text)
                t.column("finishedAt", .text)
                t.column("bootId", .text).notNull()
                t.column("pod", .text)
                t.column("isInfra", .boolean).notNull().defaults(to: false)
                t.column("aliases", .text).notNull().defaults(to: "[]")
            }
            try db.create(table: "pods") { t in
                t.primaryKey("id", .text)
                t.column("name", .text).notNull().unique()
                t.column("hostname", .text).notNull()
                t.column("infraId", .text).notNull()
                t.column("createdAt", .text).notNull()
                t.column("ownerPid", .integer).notNull().defaults(to: 0)
                t.column("ownerStart", .integer).notNull().defaults(to: 0)
            }
            try db.create(table: "networks") { t in
                t.primaryKey("name", .text)
                t.column("id", .text).notNull().unique()
                t.column("bridge", .text).notNull().unique()
                t.column("subnet", .text).notNull()
                t.column("gateway", .text).notNull()
                t.column("isInternal", .boolean).notNull()
                t.column("lastIP", .text)
                t.column("createdAt", .text).notNull()
            }
            try db.create(table: "leases") { t in
                t.column("network", .text).notNull()
                t.column("ip", .text).notNull()
                t.column("owner", .text).notNull()
                t.primaryKey(["network", "ip"])
            }
            try db.create(index: "leases_owner", on: "leases", columns: ["owner"])
            try db.create(table: "ports") { t in
                t.column("proto", .text).notNull()
                t.column("hostIP", .text).notNull()
                t.column("hostPort", .integer).notNull()
                t.column("containerPort", .integer).notNull()
                t.column("owner", .text).notNull()
                t.primaryKey(["proto", "hostIP", "hostPort"])
            }
            try db.create(index: "ports_owner", on: "ports", columns: ["owner"])
            try db.create(table: "meta") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
        }
        return m
    }

    /// Runs `body` in one IMMEDIATE transaction; database errors become one-line hutch errors.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) { result = try body(db); return .commit }
                return result!
            }
        } catch let e as DatabaseError {
            throw HutchError("state store: \(e.message ?? "\(e)")")
        }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as DatabaseError {
            throw HutchError("state store: \(e.message ?? "\(e)")")
        }
    }

    // MARK: containers

    public func containers() throws -> [ContainerRecord] {
        try read { try ContainerRecord.order(Column("createdAt").desc).fetchAll($0) }
    }

    /// Finds a container by exact name, full id, or unique id prefix, as Docker does.
    public func findContainer(_ ref: String) throws -> ContainerRecord? {
        try read { db in try Self.findContainer(ref, in: db) }
    }

    public static func findContainer(_ ref: String, in db: Database) throws -> ContainerRecord? {
        try find(ContainerRecord.self, ref, kind: "container", in: db)
    }

    /// A record by exact name, else by full id or unique id prefix (lowercase hex), as Docker
    /// resolves references.
    static func find<T: FetchableRecord & TableRecord>(_ type: T.Type, _ ref: String, kind: String, in db: Database) throws -> T? {
        if let r = try T.filter(Column("name") == ref).fetchOne(db) { return r }
        guard !ref.isEmpty, ref.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let matches = try T.filter(Column("id").like(ref + "%")).limit(2).fetchAll(db)
        if matches.count > 1 { throw HutchError("\(kind) id prefix \(ref) is ambiguous: give more characters") }
        return matches.first
    }

    public func container(_ ref: String) throws -> ContainerRecord {
        guard let c = try findContainer(ref) else {
            throw HutchError("no such container: \(ref)")
        }
        return c
    }

    public func update(_ c: ContainerRecord) throws {
        try write { try c.update($0) }
    }

    // MARK: pods

    /// Finds a pod by exact name, full id, or unique id prefix.
    public func findPod(_ ref: String) throws -> PodRecord? {
        try read { try Self.find(PodRecord.self, ref, kind: "pod", in: $0) }
    }

    public func pod(_ ref: String) throws -> PodRecord {
        guard let p = try findPod(ref) else { throw HutchError("no such pod: \(ref)") }
        return p
    }

    public func members(ofPod id: String) throws -> [ContainerRecord] {
        try read { try ContainerRecord.filter(Column("pod") == id && Column("isInfra") == false).order(Column("createdAt")).fetchAll($0) }
    }

    // MARK: networks

    public static func network(_ name: String, in db: Database) throws -> NetworkRecord? {
        let existing = try NetworkRecord.fetchOne(db, key: name)
        guard name == "bridge" else { return existing }
        // The default subnet is configurable (like dockerd's "bip") with HUTCH_DEFAULT_SUBNET; it
        // takes effect while no container holds an address on the default network.
        var n = existing ?? defaultNetwork
        if let custom = Environment.get("HUTCH_DEFAULT_SUBNET") {
            guard let c = CIDRv4(custom), c.prefix <= 30 else {
                throw HutchError("invalid HUTCH_DEFAULT_SUBNET \"\(custom)\": use an IPv4 CIDR such as 10.87.0.0/16 (at most /30)")
            }
            n.subnet = c.subnet.description
            n.gateway = c.subnet.firstHost.description
        }
        if let e = existing {
            if e == n { return e }
            let inUse = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM leases WHERE network = ?", arguments: [name]) ?? 0
            if inUse > 0 { return e }
            n.lastIP = nil
            try n.update(db)
            return n
        }
        n.createdAt = Sys.now()
        try n.insert(db)
        return n
    }

    /// A network by name. A read on the hot path; a write only to record (or re-subnet, with
    /// HUTCH_DEFAULT_SUBNET) the default network.
    public func network(_ name: String) throws -> NetworkRecord? {
        let mayChange = name == "bridge" && Environment.get("HUTCH_DEFAULT_SUBNET") != nil
        if !mayChange, let n = try read({ try NetworkRecord.fetchOne($0, key: name) }) { return n }
        guard name == "bridge" else { return nil }
        return try write { try Self.network(name, in: $0) }
    }

    // MARK: meta

    public func meta(_ key: String) throws -> String? {
        try read { try String.fetchOne($0, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) }
    }

    public static func setMeta(_ key: String, _ value: String, in db: Database) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }
}
