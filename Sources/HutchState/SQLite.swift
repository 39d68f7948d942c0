import HutchModel
import HutchOS
import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// An error reported by SQLite (the store turns it into a one-line hutch error).
public struct SQLiteError: Error, Sendable {
    public var message: String
    init(_ message: String) { self.message = message }
}

/// The store's one connection is used by one thread at a time. Not re-entrant: a `read` or
/// `write` inside another on the same thread would deadlock, so it stops with a message instead.
final class StoreLock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>
    private var owner: pthread_t?
    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }
    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }
    func lock() {
        if let o = owner, pthread_equal(o, pthread_self()) != 0 {
            fatalError("state store used re-entrantly (a read or write inside another on the same thread)")
        }
        pthread_mutex_lock(m)
        owner = pthread_self()
    }
    func unlock() {
        owner = nil
        pthread_mutex_unlock(m)
    }
}

/// A value of one SQLite column (hutch stores only text and integers).
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)

    /// As text (an integer in decimal); nil for NULL.
    public var text: String? {
        switch self {
        case .text(let s): return s
        case .integer(let i): return String(i)
        case .null: return nil
        }
    }
    /// As an integer (text parsed); nil for NULL or text that is not a number.
    public var integer: Int64? {
        switch self {
        case .integer(let i): return i
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }
}

/// Anything that can be bound to a `?` of a statement.
public protocol SQLArgument {
    var sqlValue: SQLValue { get }
}
extension String: SQLArgument { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLArgument { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int32: SQLArgument { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension UInt64: SQLArgument { public var sqlValue: SQLValue { .integer(Int64(bitPattern: self)) } }
extension Bool: SQLArgument { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension SQLValue: SQLArgument { public var sqlValue: SQLValue { self } }
extension IPv4Address: SQLArgument { public var sqlValue: SQLValue { .text(description) } }
extension CIDRv4: SQLArgument { public var sqlValue: SQLValue { .text(description) } }
extension Optional: SQLArgument where Wrapped: SQLArgument {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// One result row: the statement's column names and this row's values.
public struct Row {
    let names: [String]
    let values: [SQLValue]

    public subscript(_ column: String) -> SQLValue {
        guard let i = names.firstIndex(of: column) else { return .null }
        return values[i]
    }
    public func text(_ column: String) -> String? { self[column].text }
    public func integer(_ column: String) -> Int64? { self[column].integer }
    public func string(_ column: String) -> String { text(column) ?? "" }
    public func int32(_ column: String) -> Int32 { Int32(truncatingIfNeeded: integer(column) ?? 0) }
    public func uint64(_ column: String) -> UInt64 { UInt64(bitPattern: integer(column) ?? 0) }
    public func bool(_ column: String) -> Bool { (integer(column) ?? 0) != 0 }
    /// An IPv4 address stored as text; nil when NULL, an error when it does not parse.
    public func ipv4(_ column: String) throws -> IPv4Address? {
        guard let t = text(column) else { return nil }
        guard let a = IPv4Address(t) else { throw corrupt(column, t) }
        return a
    }
    /// An IPv4 address stored as text in a NOT NULL column; an error when it does not parse.
    public func address(_ column: String) throws -> IPv4Address {
        guard let a = try ipv4(column) else { throw corrupt(column, "NULL") }
        return a
    }
    /// An IPv4 CIDR stored as text; an error when it does not parse.
    public func cidr(_ column: String) throws -> CIDRv4 {
        guard let c = CIDRv4(string(column)) else { throw corrupt(column, string(column)) }
        return c
    }
    func corrupt(_ column: String, _ value: String) -> HutchError {
        HutchError("the state store is corrupt: \"\(value)\" in column \(column) is not an IPv4 address or CIDR (hutch gc cannot repair this; restore or remove the state root)")
    }
    /// A JSON array of strings stored as text (command, env, aliases).
    public func strings(_ column: String) -> [String] { JSON.stringArray(from: string(column)) ?? [] }
}

/// One SQLite connection, used through `Store.read`/`Store.write` (which serialise access).
/// The SQLite C API directly, not GRDB: see bench/README.md ("SQLite without GRDB") for why.
public final class Database {
    let handle: OpaquePointer

    /// `create`: create the file if missing and switch it to WAL (see hutch_sqlite_open).
    init(path: String, busyTimeoutMs: Int32, create: Bool = true) throws {
        var h: OpaquePointer?
        let rc = hutch_sqlite_open(path, busyTimeoutMs, create ? 1 : 0, &h)
        guard rc == SQLITE_OK, let opened = h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(rc)"
            if let h { sqlite3_close(h) }
            throw SQLiteError(msg)
        }
        handle = opened
    }

    deinit { sqlite3_close(handle) }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs one statement (or several without arguments), discarding any rows.
    func execute(sql: String, arguments: [any SQLArgument] = []) throws {
        if arguments.isEmpty {
            guard sqlite3_exec(handle, sql, nil, nil, nil) == SQLITE_OK else { throw SQLiteError(errorMessage) }
            return
        }
        _ = try rows(sql: sql, arguments: arguments)
    }

    /// Runs one statement and returns its rows.
    func rows(sql: String, arguments: [any SQLArgument] = []) throws -> [Row] {
        var st: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &st, nil) == SQLITE_OK, let stmt = st else {
            throw SQLiteError(errorMessage)
        }
        defer { sqlite3_finalize(stmt) }
        for (i, a) in arguments.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch a.sqlValue {
            case .null: rc = sqlite3_bind_null(stmt, idx)
            case .integer(let v): rc = sqlite3_bind_int64(stmt, idx, v)
            case .text(let s): rc = hutch_sqlite_bind_text(stmt, idx, s, Int32(s.utf8.count))
            }
            guard rc == SQLITE_OK else { throw SQLiteError(errorMessage) }
        }
        let n = sqlite3_column_count(stmt)
        let names = (0..<n).map { String(cString: sqlite3_column_name(stmt, $0)) }
        var out: [Row] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLiteError(errorMessage) }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(n))
            for c in 0..<n {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_NULL: values.append(.null)
                case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(stmt, c)))
                default:
                    let len = Int(sqlite3_column_bytes(stmt, c))
                    if let p = sqlite3_column_text(stmt, c) {
                        values.append(.text(String(decoding: UnsafeBufferPointer(start: p, count: len), as: UTF8.self)))
                    } else {
                        values.append(.text(""))
                    }
                }
            }
            out.append(Row(names: names, values: values))
        }
        return out
    }

    /// The first column of every row, as text.
    func strings(sql: String, arguments: [any SQLArgument] = []) throws -> [String] {
        try rows(sql: sql, arguments: arguments).compactMap { $0.values.first?.text }
    }

    /// The first column of the first row, as an integer.
    func int(sql: String, arguments: [any SQLArgument] = []) throws -> Int? {
        try rows(sql: sql, arguments: arguments).first?.values.first?.integer.map { Int($0) }
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` for writers, so concurrent writers queue on
    /// SQLite's lock instead of failing at commit), rolled back if it throws.
    func transaction<T>(_ kind: String, _ body: (Database) throws -> T) throws -> T {
        try execute(sql: "BEGIN \(kind)")
        do {
            let result = try body(self)
            try execute(sql: "COMMIT")
            return result
        } catch {
            sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }
}

/// A struct stored as one row of one table, mapped by hand (no reflection, no Codable: both cost
/// start-up time in every short-lived hutch process).
public protocol SQLRecord {
    static var table: String { get }
    /// Converts the row's text into typed values once, here; a value that does not parse is a
    /// corrupt store, reported as such.
    init(row: Row) throws
    /// Every column.
    var columns: [(String, any SQLArgument)] { get }
}

/// A record whose table has a single-column primary key: fetched, updated and deleted by it.
public protocol SQLKeyedRecord: SQLRecord {
    static var primaryKey: String { get }
}

extension SQLKeyedRecord {
    public static func fetchOne(_ db: Database, key: String) throws -> Self? {
        try db.rows(sql: "SELECT * FROM \(table) WHERE \(primaryKey) = ?", arguments: [key]).first.map { try Self(row: $0) }
    }

    /// Deletes the row with this primary key; `onlyIf`: an SQL condition the row must also
    /// meet (as in `update`). False if no row was deleted.
    @discardableResult
    public static func deleteOne(_ db: Database, key: String) throws -> Bool {
        try deleteOne(db, key: key, onlyIf: nil)
    }

    @discardableResult
    static func deleteOne(_ db: Database, key: String, onlyIf condition: String?) throws -> Bool {
        try db.execute(sql: "DELETE FROM \(table) WHERE \(primaryKey) = ?" + (condition.map { " AND (\($0))" } ?? ""),
                       arguments: [key])
        return db.changes > 0
    }

    /// Writes every column of the row with this primary key; `onlyIf`: an SQL condition the row
    /// must also meet (a compare-and-swap). False if no row was changed.
    @discardableResult
    public func update(_ db: Database) throws -> Bool { try update(db, onlyIf: nil) }

    @discardableResult
    func update(_ db: Database, onlyIf condition: String?) throws -> Bool {
        let cols = columns
        guard let key = cols.first(where: { $0.0 == Self.primaryKey }) else { return false }
        let set = cols.filter { $0.0 != Self.primaryKey }
        var sql = "UPDATE \(Self.table) SET \(set.map { "\($0.0) = ?" }.joined(separator: ", ")) WHERE \(Self.primaryKey) = ?"
        if let c = condition { sql += " AND (\(c))" }
        try db.execute(sql: sql, arguments: set.map(\.1) + [key.1])
        return db.changes > 0
    }
}

extension SQLRecord {
    /// Rows matching an optional SQL condition, in an optional order.
    static func fetchAll(_ db: Database, where condition: String? = nil, arguments: [any SQLArgument] = [],
                                order: String? = nil, limit: Int? = nil) throws -> [Self] {
        var sql = "SELECT * FROM \(table)"
        if let c = condition { sql += " WHERE \(c)" }
        if let o = order { sql += " ORDER BY \(o)" }
        if let l = limit { sql += " LIMIT \(l)" }
        return try db.rows(sql: sql, arguments: arguments).map { try Self(row: $0) }
    }

    static func fetchCount(_ db: Database, where condition: String, arguments: [any SQLArgument] = []) throws -> Int {
        try db.int(sql: "SELECT COUNT(*) FROM \(table) WHERE \(condition)", arguments: arguments) ?? 0
    }

    public func insert(_ db: Database) throws {
        let cols = columns
        let sql = "INSERT INTO \(Self.table) (\(cols.map(\.0).joined(separator: ", "))) VALUES (\(cols.map { _ in "?" }.joined(separator: ", ")))"
        try db.execute(sql: sql, arguments: cols.map(\.1))
    }
}
