import HutchModel
import HutchOS
#if canImport(Glibc)
import Glibc
#endif

// Every query the layers above ask of the store, typed: no SQL text leaves HutchState.

extension ContainerRecord {
    /// The container with exactly this name.
    public static func named(_ name: String, in db: Database) throws -> ContainerRecord? {
        try fetchAll(db, where: "name = ?", arguments: [name]).first
    }
    /// Containers running on a network (pods appear through their infra container).
    public static func running(onNetwork network: String, in db: Database) throws -> [ContainerRecord] {
        try fetchAll(db, where: "network = ? AND status = 'running'", arguments: [network])
    }
    /// Every container of a pod, its infra container included.
    public static func all(inPod pod: String, in db: Database) throws -> [ContainerRecord] {
        try fetchAll(db, where: "pod = ?", arguments: [pod])
    }
    /// Writes the record only if the stored one is still `created` (a compare-and-swap: a
    /// concurrent `rm -f` may have removed it). False if nothing was written.
    public func updateIfStillCreated(_ db: Database) throws -> Bool {
        try update(db, onlyIf: "status = 'created'")
    }
    /// Writes the record only if the stored one is `running` under the monitor `shimPid` (the
    /// `hutch start` or shim event that owns it): false if it was removed or taken over meanwhile.
    public func updateIfMonitored(by shimPid: Int32, _ db: Database) throws -> Bool {
        try update(db, onlyIf: "status = 'running' AND shimPid = \(shimPid)")
    }
    /// Writes the record only if the stored one is `exited` (`hutch start`'s claim).
    public func updateIfExited(_ db: Database) throws -> Bool {
        try update(db, onlyIf: "status = 'exited'")
    }
    /// Deletes the record; `onlyIfCreated`: only while it is still `created`. False if nothing went.
    @discardableResult
    public static func delete(_ id: String, onlyIfCreated: Bool, in db: Database) throws -> Bool {
        try deleteOne(db, key: id, onlyIf: onlyIfCreated ? "status = 'created'" : nil)
    }
    /// Every container id in the store.
    public static func allIDs(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT id FROM containers"))
    }
    /// Host-side veth names of containers that are not `exited` (whose veths may exist), those
    /// of `network connect` included.
    public static func liveHostVeths(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT hostVeth FROM containers WHERE hostVeth IS NOT NULL AND status != 'exited'"
                                + " UNION SELECT hostVeth FROM attachments"))
    }
    /// Gives the container a new name (the caller checked that it is free).
    public static func rename(_ id: String, to name: String, in db: Database) throws {
        try db.execute(sql: "UPDATE containers SET name = ? WHERE id = ?", arguments: [name, id])
    }
}

/// Exit statuses kept for a while after a container's record went (`--rm`, `rm -f`), so that
/// every `hutch wait` gets the status even when the record is gone before it looks again.
/// Written in the transaction that deletes the record; each write also drops the expired ones
/// (an index on `at`), so the table never holds more than the last few minutes' exits.
public enum ExitRecords {
    /// How long an exit status is kept (seconds).
    public static let keep = 300

    public static func add(id: String, name: String, exitCode: Int32, in db: Database) throws {
        let now = Int(time(nil))
        try db.execute(sql: "DELETE FROM exits WHERE at < ?", arguments: [now - keep])
        try db.execute(sql: "INSERT OR REPLACE INTO exits(id, name, exitCode, at) VALUES(?, ?, ?, ?)",
                       arguments: [id, name, Int(exitCode), now])
    }
    /// The kept exit status of the container with this id.
    public static func exitCode(id: String, in db: Database) throws -> Int32? {
        try db.int(sql: "SELECT exitCode FROM exits WHERE id = ?", arguments: [id]).map { Int32(truncatingIfNeeded: $0) }
    }
    /// The newest kept exit of a container of this name (not expired): its id and status.
    public static func latest(named name: String, in db: Database) throws -> (id: String, exitCode: Int32)? {
        try db.rows(sql: "SELECT id, exitCode FROM exits WHERE name = ? AND at >= ? ORDER BY at DESC LIMIT 1",
                    arguments: [name, Int(time(nil)) - keep])
            .first.map { ($0.string("id"), $0.int32("exitCode")) }
    }
    /// Drops the expired ones (gc).
    public static func prune(in db: Database) throws -> Int {
        let n = try db.int(sql: "SELECT COUNT(*) FROM exits WHERE at < ?", arguments: [Int(time(nil)) - keep]) ?? 0
        try db.execute(sql: "DELETE FROM exits WHERE at < ?", arguments: [Int(time(nil)) - keep])
        return n
    }
}

extension AttachmentRecord {
    /// The networks a container joined with `network connect`, in the order it joined them.
    public static func of(_ container: String, in db: Database) throws -> [AttachmentRecord] {
        try fetchAll(db, where: "container = ?", arguments: [container], order: "iface")
    }
    /// The containers joined to a network with `network connect`.
    public static func on(_ network: String, in db: Database) throws -> [AttachmentRecord] {
        try fetchAll(db, where: "network = ?", arguments: [network])
    }
    /// Every attachment (a small table: only `network connect` adds rows).
    public static func all(in db: Database) throws -> [AttachmentRecord] {
        try fetchAll(db)
    }
    /// Removes one attachment and gives back its address lease.
    public static func remove(container: String, network: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM attachments WHERE container = ? AND network = ?", arguments: [container, network])
        try db.execute(sql: "DELETE FROM leases WHERE owner = ? AND network = ?", arguments: [container, network])
    }
    /// Removes every attachment of a container (its leases go with the container's own).
    public static func removeAll(container: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM attachments WHERE container = ?", arguments: [container])
    }
}

extension PodRecord {
    /// The pod with exactly this name.
    public static func named(_ name: String, in db: Database) throws -> PodRecord? {
        try fetchAll(db, where: "name = ?", arguments: [name]).first
    }
    public static func exists(named name: String, in db: Database) throws -> Bool {
        try fetchCount(db, where: "name = ?", arguments: [name]) > 0
    }
    /// Every pod, newest first.
    public static func all(in db: Database) throws -> [PodRecord] {
        try fetchAll(db, order: "createdAt DESC")
    }
}

extension NetworkRecord {
    /// Every network, oldest first.
    public static func all(in db: Database) throws -> [NetworkRecord] {
        try fetchAll(db, order: "createdAt")
    }
    /// Removes a network's record with its leases; exited containers keep their record without it.
    public static func delete(_ name: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM leases WHERE network = ?", arguments: [name])
        try db.execute(sql: "UPDATE containers SET network = NULL WHERE network = ? AND status != 'running'", arguments: [name])
        _ = try NetworkRecord.deleteOne(db, key: name)
    }
}

extension Store {
    /// The meta table's values for `keys`.
    public static func meta(_ keys: [String], in db: Database) throws -> [String: String] {
        let marks = keys.map { _ in "?" }.joined(separator: ", ")
        return Dictionary(try db.rows(sql: "SELECT key, value FROM meta WHERE key IN (\(marks))", arguments: keys)
            .map { ($0.string("key"), $0.string("value")) }, uniquingKeysWith: { a, _ in a })
    }
    /// Every container (or pod) that holds an address lease or a host port (services' node
    /// ports, owned by `service:NAME`, are not theirs).
    public static func resourceOwners(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT DISTINCT owner FROM leases")
            + db.strings(sql: "SELECT DISTINCT owner FROM ports WHERE owner NOT LIKE 'service:%'"))
    }
}
