import HutchModel
import HutchOS

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
    /// Deletes the record; `onlyIfCreated`: only while it is still `created`. False if nothing went.
    @discardableResult
    public static func delete(_ id: String, onlyIfCreated: Bool, in db: Database) throws -> Bool {
        try deleteOne(db, key: id, onlyIf: onlyIfCreated ? "status = 'created'" : nil)
    }
    /// Every container id in the store.
    public static func allIDs(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT id FROM containers"))
    }
    /// Host-side veth names of containers that are not `exited` (whose veths may exist).
    public static func liveHostVeths(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT hostVeth FROM containers WHERE hostVeth IS NOT NULL AND status != 'exited'"))
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
    /// Everyone who holds an address lease or a host port.
    public static func resourceOwners(in db: Database) throws -> Set<String> {
        Set(try db.strings(sql: "SELECT DISTINCT owner FROM leases") + db.strings(sql: "SELECT DISTINCT owner FROM ports"))
    }
}
