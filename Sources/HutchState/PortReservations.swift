#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS

/// One published host port held by one container (or pod), stored in the same transaction as the
/// address lease so two concurrent `run -p 8080:…` can never both win.
public struct PortRecord: Sendable, Equatable, SQLRecord {
    public static let table = "ports"
    public var proto: String
    /// "0.0.0.0" for every address.
    public var hostIP: String
    public var hostPort: Int
    public var containerPort: Int
    public var owner: String

    public init(proto: String, hostIP: String, hostPort: Int, containerPort: Int, owner: String) {
        self.proto = proto; self.hostIP = hostIP; self.hostPort = hostPort; self.containerPort = containerPort; self.owner = owner
    }
    public init(row r: Row) throws {
        self.init(proto: r.string("proto"), hostIP: r.string("hostIP"), hostPort: Int(r.integer("hostPort") ?? 0),
                  containerPort: Int(r.integer("containerPort") ?? 0), owner: r.string("owner"))
    }
    public var columns: [(String, any SQLArgument)] {
        [("proto", proto), ("hostIP", hostIP), ("hostPort", hostPort), ("containerPort", containerPort), ("owner", owner)]
    }

    public var mapping: PortMapping {
        PortMapping(hostIP: hostIP == "0.0.0.0" ? nil : IPv4Address(hostIP), hostPort: UInt16(hostPort),
                    containerPort: UInt16(containerPort), proto: PortMapping.Proto(rawValue: proto) ?? .tcp)
    }
}

public enum PortReservations {
    /// The range Docker and the kernel use for ephemeral ports.
    public static let ephemeral: ClosedRange<UInt16> = 32768...60999

    /// Reserves every mapping for `owner`, picking free host ports where the spec left them open.
    /// `isFreeOnHost` checks that no host process holds the port (a bind test in the host netns).
    /// Throws a one-line error naming the holder when a port is taken.
    public static func reserve(in db: Database, owner: String, specs: [PublishSpec.Parsed],
                               isFreeOnHost: (PortMapping) -> Bool) throws -> [PortMapping] {
        var result: [PortMapping] = []
        for spec in specs {
            for var m in spec.mappings {
                if m.hostPort == 0 {
                    let range = spec.hostRange ?? ephemeral
                    let span = Int(range.upperBound - range.lowerBound) + 1
                    let start = spec.hostRange == nil ? Int.random(in: 0..<span) : 0
                    var found = false
                    for i in 0..<span {
                        m.hostPort = UInt16(Int(range.lowerBound) + (start + i) % span)
                        if try holder(in: db, m) == nil, !result.contains(where: { clash($0, m) }), isFreeOnHost(m) {
                            found = true; break
                        }
                    }
                    guard found else {
                        throw HutchError("no free host port for \(m.containerPort)/\(m.proto.rawValue) in \(range.lowerBound)-\(range.upperBound)")
                    }
                } else {
                    if result.contains(where: { clash($0, m) }) {
                        throw HutchError("port \(m.hostPort)/\(m.proto.rawValue) is published twice in this command")
                    }
                    if let h = try holder(in: db, m) {
                        throw HutchError("port \(m.hostPort)/\(m.proto.rawValue) is already published by \(h): pick another host port")
                    }
                    guard isFreeOnHost(m) else {
                        throw HutchError("port \(m.hostIPString):\(m.hostPort)/\(m.proto.rawValue) is already in use by a process on the host\(hostProcessHint(m))")
                    }
                }
                result.append(m)
            }
        }
        for m in result {
            try PortRecord(proto: m.proto.rawValue, hostIP: m.hostIPString, hostPort: Int(m.hostPort),
                           containerPort: Int(m.containerPort), owner: owner).insert(db)
        }
        return result
    }

    /// Two mappings clash when they share protocol and port and either listens on every address
    /// or both name the same address.
    static func clash(_ a: PortMapping, _ b: PortMapping) -> Bool {
        a.proto == b.proto && a.hostPort == b.hostPort && (a.hostIP == nil || b.hostIP == nil || a.hostIP == b.hostIP)
    }

    /// "container web (3f2a…)" for the container or pod holding a clashing reservation, if any.
    static func holder(in db: Database, _ m: PortMapping) throws -> String? {
        let rows = try PortRecord.fetchAll(db, where: "proto = ? AND hostPort = ?", arguments: [m.proto.rawValue, Int(m.hostPort)])
        guard let r = rows.first(where: { clash($0.mapping, m) }) else { return nil }
        if r.owner.hasPrefix(ServiceRecord.ownerPrefix) { return "the node port of service \(r.owner.dropFirst(ServiceRecord.ownerPrefix.count))" }
        if let c = try ContainerRecord.fetchOne(db, key: r.owner) {
            return "container \(c.name) (\(c.id.prefix(12)))"
        }
        return "\(r.owner.prefix(12))"
    }

    public static func release(in db: Database, owner: String) throws {
        try db.execute(sql: "DELETE FROM ports WHERE owner = ?", arguments: [owner])
    }

    public static func mappings(in db: Database, owner: String) throws -> [PortMapping] {
        try PortRecord.fetchAll(db, where: "owner = ?", arguments: [owner], order: "proto, hostPort").map(\.mapping)
    }

    /// Whether a host process already holds the port: try to bind it (TCP: SO_REUSEADDR, as a
    /// listener would; UDP: plain bind) on the mapping's address in the caller's netns.
    public static func isFreeOnHost(_ m: PortMapping) -> Bool {
        let type = m.proto == .tcp ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = m.hostPort.bigEndian
        sa.sin_addr.s_addr = (m.hostIP?.value ?? 0).bigEndian
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // EADDRNOTAVAIL: the host address is not local; the rule is still valid (Docker allows it).
        return rc == 0 || errno == EADDRNOTAVAIL
    }

    /// " (pid 123, nginx)" for the process listening on the port, found in /proc only on this
    /// error path.
    static func hostProcessHint(_ m: PortMapping) -> String {
        let table = m.proto == .tcp ? "/proc/net/tcp" : "/proc/net/udp"
        guard let text = Sys.readFile(table) else { return "" }
        let portHex = String(m.hostPort, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: 4 - portHex.count) + portHex
        var inode: String?
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ")
            guard f.count > 9, f[1].hasSuffix(":" + padded) else { continue }
            if m.proto == .udp || f[3] == "0A" { inode = String(f[9]); break }
        }
        guard let ino = inode, ino != "0", let procs = Sys.directoryEntries("/proc") else { return "" }
        let target = "socket:[\(ino)]"
        for p in procs {
            let pid = p.name
            guard Int(pid) != nil, let fds = Sys.directoryEntries("/proc/\(pid)/fd") else { continue }
            for fd in fds {
                let fdName = fd.name
                var buf = [CChar](repeating: 0, count: 64)
                let n = readlink("/proc/\(pid)/fd/\(fdName)", &buf, 63)
                if n > 0, String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == target {
                    let comm = (Sys.readFile("/proc/\(pid)/comm") ?? "?").trimmingSpaces()
                    return " (pid \(pid), \(comm))"
                }
            }
        }
        return ""
    }
}
