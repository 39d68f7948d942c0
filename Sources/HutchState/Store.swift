import HutchModel
import HutchOS
import CSQLite
#if canImport(Glibc)
import Glibc
#endif

extension ContainerRecord: SQLKeyedRecord {
    public static let table = "containers"
    public static let primaryKey = "id"
    public init(row r: Row) throws {
        self.init(id: r.string("id"), name: r.string("name"), command: r.strings("command"), hostname: r.string("hostname"),
                  env: r.strings("env"), workdir: r.string("workdir"), networkMode: r.string("networkMode"),
                  network: r.text("network"), ipAddress: try r.ipv4("ipAddress"), macAddress: r.text("macAddress"),
                  hostVeth: r.text("hostVeth"), joinedId: r.text("joinedId"), autoRemove: r.bool("autoRemove"),
                  detached: r.bool("detached"), useInit: r.bool("useInit"), capMask: r.text("capMask"),
                  noNewPrivs: r.bool("noNewPrivs"), status: ContainerStatus(rawValue: r.string("status")) ?? .exited,
                  shimPid: r.int32("shimPid"), shimStart: r.uint64("shimStart"), pid: r.int32("pid"),
                  pidStart: r.uint64("pidStart"), exitCode: r.integer("exitCode").map { Int32(truncatingIfNeeded: $0) },
                  createdAt: r.string("createdAt"), startedAt: r.text("startedAt"), finishedAt: r.text("finishedAt"),
                  bootId: r.string("bootId"), pod: r.text("pod"), isInfra: r.bool("isInfra"), aliases: r.strings("aliases"))
        labels = Labels(stored: r.strings("labels"))
        extraHosts = r.strings("extraHosts")
        dns = r.strings("dns")
        sandbox = Sandbox(stored: r.text("sandbox") ?? "{}")
        restartPolicy = (try? RestartPolicy(parsing: r.text("restartPolicy") ?? "no")) ?? .no
        restartCount = Int(r.integer("restartCount") ?? 0)
        restarting = r.bool("restarting")
        tty = r.bool("tty")
        openStdin = r.bool("openStdin")
        published = r.strings("published").compactMap { PortMapping(stored: $0) }
        connected = r.strings("connected")
    }
    public var columns: [(String, any SQLArgument)] {
        [("id", id), ("name", name), ("command", JSON.strings(command).render()), ("hostname", hostname),
         ("env", JSON.strings(env).render()), ("workdir", workdir), ("networkMode", networkMode), ("network", network),
         ("ipAddress", ipAddress), ("macAddress", macAddress), ("hostVeth", hostVeth), ("joinedId", joinedId),
         ("autoRemove", autoRemove), ("detached", detached), ("useInit", useInit), ("capMask", capMask),
         ("noNewPrivs", noNewPrivs), ("status", status.rawValue), ("shimPid", shimPid), ("shimStart", shimStart),
         ("pid", pid), ("pidStart", pidStart), ("exitCode", exitCode), ("createdAt", createdAt), ("startedAt", startedAt),
         ("finishedAt", finishedAt), ("bootId", bootId), ("pod", pod), ("isInfra", isInfra),
         ("aliases", JSON.strings(aliases).render())] + [("labels", JSON.strings(labels.entries).render()),
         ("extraHosts", JSON.strings(extraHosts).render()), ("dns", JSON.strings(dns).render()),
         ("sandbox", sandbox.stored)] + [("restartPolicy", restartPolicy.description), ("restartCount", restartCount),
         ("restarting", restarting), ("tty", tty), ("openStdin", openStdin),
         ("published", JSON.strings(published.map(\.stored)).render()), ("connected", JSON.strings(connected).render())]
    }
}

extension PodRecord: SQLKeyedRecord {
    public static let table = "pods"
    public static let primaryKey = "id"
    public init(row r: Row) throws {
        self.init(id: r.string("id"), name: r.string("name"), hostname: r.string("hostname"), infraId: r.string("infraId"),
                  createdAt: r.string("createdAt"), ownerPid: r.int32("ownerPid"), ownerStart: r.uint64("ownerStart"))
        labels = Labels(stored: r.strings("labels"))
        limits = Sandbox.Limits(stored: r.string("limits"))
    }
    public var columns: [(String, any SQLArgument)] {
        [("id", id), ("name", name), ("hostname", hostname), ("infraId", infraId), ("createdAt", createdAt),
         ("ownerPid", ownerPid), ("ownerStart", ownerStart), ("labels", JSON.strings(labels.entries).render()),
         ("limits", limits.stored)]
    }
}

extension NetworkRecord: SQLKeyedRecord {
    public static let table = "networks"
    public static let primaryKey = "name"
    public init(row r: Row) throws {
        self.init(name: r.string("name"), id: r.string("id"), bridge: r.string("bridge"), subnet: try r.cidr("subnet"),
                  gateway: try r.address("gateway"), isInternal: r.bool("isInternal"), lastIP: try r.ipv4("lastIP"),
                  createdAt: r.string("createdAt"), mtu: r.integer("mtu").map { Int($0) } ?? 0)
    }
    public var columns: [(String, any SQLArgument)] {
        [("name", name), ("id", id), ("bridge", bridge), ("subnet", subnet), ("gateway", gateway),
         ("isInternal", isInternal), ("lastIP", lastIP), ("createdAt", createdAt), ("mtu", mtu)]
    }
}

/// An address lease: one IP of one network held by one container (or pod). Keyed by
/// (network, ip); rows go by owner (`IPAM.release`).
public struct LeaseRecord: Sendable, Equatable, SQLRecord {
    public static let table = "leases"
    public var network: String
    public var ip: IPv4Address
    public var owner: String
    public init(network: String, ip: IPv4Address, owner: String) { self.network = network; self.ip = ip; self.owner = owner }
    public init(row r: Row) throws { self.init(network: r.string("network"), ip: try r.address("ip"), owner: r.string("owner")) }
    public var columns: [(String, any SQLArgument)] { [("network", network), ("ip", ip), ("owner", owner)] }
}

/// A network a running container joined with `network connect`: its interface there (eth1...),
/// address (leased to the container) and host-side veth. Gone with the container's exit.
public struct AttachmentRecord: Sendable, Equatable, SQLRecord {
    public static let table = "attachments"
    public var container: String
    public var network: String
    public var iface: String
    public var ipAddress: IPv4Address
    public var hostVeth: String
    public var aliases: [String]
    public init(container: String, network: String, iface: String, ipAddress: IPv4Address, hostVeth: String, aliases: [String]) {
        self.container = container; self.network = network; self.iface = iface; self.ipAddress = ipAddress
        self.hostVeth = hostVeth; self.aliases = aliases
    }
    public init(row r: Row) throws {
        self.init(container: r.string("container"), network: r.string("network"), iface: r.string("iface"),
                  ipAddress: try r.address("ipAddress"), hostVeth: r.string("hostVeth"), aliases: r.strings("aliases"))
    }
    public var columns: [(String, any SQLArgument)] {
        [("container", container), ("network", network), ("iface", iface), ("ipAddress", ipAddress),
         ("hostVeth", hostVeth), ("aliases", JSON.strings(aliases).render())]
    }
}

/// The state store: one SQLite database under the state root. Every change that hands something
/// out (a name, an address) happens in one IMMEDIATE transaction, so concurrent hutch processes
/// serialise on SQLite's write lock and can never both win.
public final class Store: @unchecked Sendable {
    public let root: String
    let db: Database
    /// One connection, used by one thread at a time.
    private let lock = StoreLock()

    public static let defaultNetwork = NetworkRecord(
        name: "bridge", id: String(repeating: "0", count: 64), bridge: "hutch0",
        subnet: CIDRv4("10.87.0.0/16")!, gateway: IPv4Address("10.87.0.1")!, isInternal: false, lastIP: nil, createdAt: "")

    public init(root: String) throws {
        self.root = root
        // The common case: a store that exists at this schema version needs no lock, no folders
        // and no switch to WAL (WAL is recorded in the file, set before the schema is created).
        if let existing = try? Database(path: root + "/hutch.db", busyTimeoutMs: 30_000, create: false),
           (try? existing.int(sql: "PRAGMA user_version")) == Self.schemaVersion,
           (try? existing.strings(sql: "PRAGMA journal_mode"))?.first == "wal" {
            db = existing
            return
        }
        try Sys.mkdirs(root + "/containers", mode: 0o711)
        // The store holds every container's configuration, `-e` values (passwords) included:
        // owner-only, and SQLite gives its -wal and -shm files the database file's mode. Stores
        // made before this was so are fixed here (their schema upgrade brings them this way).
        for f in ["/hutch.db", "/hutch.db-wal", "/hutch.db-shm"] {
            let fd = open(root + f, O_RDONLY | O_CLOEXEC | (f == "/hutch.db" ? O_CREAT : 0), 0o600)
            if fd >= 0 { _ = fchmod(fd, 0o600); close(fd) }
        }
        // Opening (the switch to WAL) and creating the schema of a fresh store are not covered by
        // SQLite's busy timeout: serialise them between hutch processes with a file lock.
        let lock = Sys.lockFile(root + "/hutch.lock")
        defer { Sys.unlockFile(lock) }
        do {
            // WAL + synchronous=NORMAL: commits are atomic and survive a crash of hutch; only a
            // power loss can drop the last commits. Saves an fsync per command on the hot path.
            db = try Database(path: root + "/hutch.db", busyTimeoutMs: 30_000)
            let version = try db.int(sql: "PRAGMA user_version") ?? 0
            if version != Self.schemaVersion { try Self.migrate(db, from: version) }
        } catch let e as SQLiteError {
            throw HutchError("cannot open the state store in \(root): \(e.message)")
        }
    }

    /// The number of migration steps below (each step is one version).
    static let schemaVersion = migrations.count

    /// Brings a store at `version` (0: new) to `schemaVersion`, in one transaction. Each step is
    /// the SQL of one schema version; add a step (never edit one) to change the schema.
    static func migrate(_ db: Database, from version: Int) throws {
        try db.transaction("IMMEDIATE") { db in
            // Another process may have migrated while this one waited for the lock.
            let current = try db.int(sql: "PRAGMA user_version") ?? 0
            if current > schemaVersion {
                throw HutchError("the state store has schema version \(current), newer than this hutch knows (\(schemaVersion)): use a newer hutch")
            }
            guard current < schemaVersion else { return }
            for step in migrations.dropFirst(current) { try db.execute(sql: step) }
            try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// Version 1: the same tables the GRDB-based store created. 2: labels (issue 14). 3: see there.
    static let migrations = [
        """
        CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE,
          command TEXT NOT NULL, hostname TEXT NOT NULL, env TEXT NOT NULL, workdir TEXT NOT NULL,
          networkMode TEXT NOT NULL, network TEXT, ipAddress TEXT, macAddress TEXT, hostVeth TEXT, joinedId TEXT,
          autoRemove BOOLEAN NOT NULL, detached BOOLEAN NOT NULL, useInit BOOLEAN NOT NULL, capMask TEXT,
          noNewPrivs BOOLEAN NOT NULL, status TEXT NOT NULL, shimPid INTEGER NOT NULL, shimStart INTEGER NOT NULL,
          pid INTEGER NOT NULL, pidStart INTEGER NOT NULL, exitCode INTEGER, createdAt TEXT NOT NULL, startedAt TEXT,
          finishedAt TEXT, bootId TEXT NOT NULL, pod TEXT, isInfra BOOLEAN NOT NULL DEFAULT 0,
          aliases TEXT NOT NULL DEFAULT '[]');
        CREATE TABLE IF NOT EXISTS pods (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE, hostname TEXT NOT NULL,
          infraId TEXT NOT NULL, createdAt TEXT NOT NULL, ownerPid INTEGER NOT NULL DEFAULT 0,
          ownerStart INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS networks (name TEXT PRIMARY KEY NOT NULL, id TEXT NOT NULL UNIQUE,
          bridge TEXT NOT NULL UNIQUE, subnet TEXT NOT NULL, gateway TEXT NOT NULL, isInternal BOOLEAN NOT NULL,
          lastIP TEXT, createdAt TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS leases (network TEXT NOT NULL, ip TEXT NOT NULL, owner TEXT NOT NULL,
          PRIMARY KEY (network, ip));
        CREATE INDEX IF NOT EXISTS leases_owner ON leases(owner);
        CREATE TABLE IF NOT EXISTS ports (proto TEXT NOT NULL, hostIP TEXT NOT NULL, hostPort INTEGER NOT NULL,
          containerPort INTEGER NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (proto, hostIP, hostPort));
        CREATE INDEX IF NOT EXISTS ports_owner ON ports(owner);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
        """,
        """
        ALTER TABLE containers ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE pods ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
        """,
        // 3 (issue 14): --add-host, --dns; exit records kept after a record goes (wait);
        // networks joined with `network connect`.
        """
        ALTER TABLE containers ADD COLUMN extraHosts TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE containers ADD COLUMN dns TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE IF NOT EXISTS exits (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
          exitCode INTEGER NOT NULL, at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS exits_at ON exits(at);
        CREATE INDEX IF NOT EXISTS exits_name ON exits(name);
        CREATE TABLE IF NOT EXISTS attachments (container TEXT NOT NULL, network TEXT NOT NULL,
          iface TEXT NOT NULL, ipAddress TEXT NOT NULL, hostVeth TEXT NOT NULL, aliases TEXT NOT NULL DEFAULT '[]',
          PRIMARY KEY (container, network));
        CREATE INDEX IF NOT EXISTS attachments_network ON attachments(network);
        """,
        // 4 (issue 18): the sandbox: one JSON object per container.
        """
        ALTER TABLE containers ADD COLUMN sandbox TEXT NOT NULL DEFAULT '{}';
        """,
        // 5 (issue 14 §3): start, restart policies; the published ports, connected networks and
        // stdio kept for `start`.
        """
        ALTER TABLE containers ADD COLUMN restartPolicy TEXT NOT NULL DEFAULT 'no';
        ALTER TABLE containers ADD COLUMN restartCount INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN restarting BOOLEAN NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN tty BOOLEAN NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN openStdin BOOLEAN NOT NULL DEFAULT 0;
        ALTER TABLE containers ADD COLUMN published TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE containers ADD COLUMN connected TEXT NOT NULL DEFAULT '[]';
        """,
        // 6 (issue 15): services, their selector index and endpoints (node ports are `ports`
        // rows owned by `service:NAME`).
        """
        CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY NOT NULL, id TEXT NOT NULL UNIQUE,
          type TEXT NOT NULL, clusterIP TEXT NOT NULL UNIQUE, selector TEXT NOT NULL, ports TEXT NOT NULL,
          sessionAffinity TEXT NOT NULL, affinityTimeout INTEGER NOT NULL, externalTrafficPolicy TEXT NOT NULL,
          labels TEXT NOT NULL DEFAULT '[]', createdAt TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS service_selectors (service TEXT NOT NULL, pair TEXT NOT NULL,
          PRIMARY KEY (service, pair));
        CREATE INDEX IF NOT EXISTS service_selectors_pair ON service_selectors(pair);
        CREATE TABLE IF NOT EXISTS service_endpoints (service TEXT NOT NULL, ip TEXT NOT NULL,
          container TEXT NOT NULL, containerId TEXT NOT NULL, node TEXT NOT NULL DEFAULT '',
          PRIMARY KEY (service, ip, node));
        CREATE INDEX IF NOT EXISTS service_endpoints_container ON service_endpoints(containerId);
        """,
        // 7 (issue 17): ingresses; the nginx container is an ordinary container record.
        """
        CREATE TABLE IF NOT EXISTS ingresses (name TEXT PRIMARY KEY NOT NULL, id TEXT NOT NULL UNIQUE,
          container TEXT NOT NULL, rules TEXT NOT NULL, defaultBackend TEXT, tls BOOLEAN NOT NULL,
          createdAt TEXT NOT NULL, ownerPid INTEGER NOT NULL DEFAULT 0, ownerStart INTEGER NOT NULL DEFAULT 0,
          tlsHosts TEXT NOT NULL DEFAULT '[]');
        """,
        // 8 (issue 16): the MTU of a network's container interfaces (a cluster node's vxlan: 1450).
        """
        ALTER TABLE networks ADD COLUMN mtu INTEGER NOT NULL DEFAULT 0;
        """,
        // 9 (issue 18): a pod's cgroup limits, for `pod inspect`.
        """
        ALTER TABLE pods ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
        """,
        // 10 (issue 15): the services' version, raised by the store itself on every change to the
        // services table (whoever makes it: a command, a node agent's copy), so that files
        // rendered from the services can be cached under it (Runtime.serviceFiles).
        """
        INSERT OR IGNORE INTO meta(key, value) VALUES ('servicesVersion', '0');
        CREATE TRIGGER services_version_insert AFTER INSERT ON services BEGIN
          UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'servicesVersion'; END;
        CREATE TRIGGER services_version_delete AFTER DELETE ON services BEGIN
          UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'servicesVersion'; END;
        CREATE TRIGGER services_version_update AFTER UPDATE ON services BEGIN
          UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'servicesVersion'; END;
        """,
        // 11 (issue 17): the generation of an ingress's TLS files (ingress update --tls-cert);
        // ingress create --service-upstream.
        """
        ALTER TABLE ingresses ADD COLUMN tlsGeneration INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ingresses ADD COLUMN serviceUpstream BOOLEAN NOT NULL DEFAULT 0;
        """,
    ]

    /// Runs `body` in one IMMEDIATE transaction; database errors become one-line hutch errors.
    @discardableResult
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        do { return try db.transaction("IMMEDIATE", body) } catch let e as SQLiteError {
            throw HutchError("state store: \(e.message)")
        }
    }

    /// Runs `body` in one read transaction (a consistent snapshot).
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        do { return try db.transaction("DEFERRED", body) } catch let e as SQLiteError {
            throw HutchError("state store: \(e.message)")
        }
    }

    // MARK: containers

    public func containers() throws -> [ContainerRecord] {
        try read { try ContainerRecord.fetchAll($0, order: "createdAt DESC") }
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
    static func find<T: SQLKeyedRecord>(_ type: T.Type, _ ref: String, kind: String, in db: Database) throws -> T? {
        if let r = try T.fetchAll(db, where: "name = ?", arguments: [ref]).first { return r }
        guard !ref.isEmpty, ref.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        let matches = try T.fetchAll(db, where: "id LIKE ?", arguments: [ref + "%"], limit: 2)
        if matches.count > 1 { throw HutchError("\(kind) id prefix \(ref) is ambiguous: give more characters") }
        return matches.first
    }

    public func container(_ ref: String) throws -> ContainerRecord {
        guard let c = try findContainer(ref) else {
            throw HutchError("no such container: \(ref)")
        }
        return c
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
        try read { try ContainerRecord.fetchAll($0, where: "pod = ? AND isInfra = 0", arguments: [id], order: "createdAt") }
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
            if let r = c.specialPurposeOverlap {
                throw HutchError("invalid HUTCH_DEFAULT_SUBNET \"\(custom)\": it overlaps the special-purpose range \(r); use a private range such as 10.87.0.0/16")
            }
            n.subnet = c.subnet
            n.gateway = c.subnet.firstHost
        }
        if let e = existing {
            if e == n { return e }
            let inUse = try db.int(sql: "SELECT COUNT(*) FROM leases WHERE network = ?", arguments: [name]) ?? 0
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

    public static func setMeta(_ key: String, _ value: String, in db: Database) throws {
        try db.execute(sql: "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       arguments: [key, value])
    }
}
