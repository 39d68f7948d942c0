import HutchModel
import HutchOS
import CHutchNet
#if canImport(Glibc)
import Glibc
#endif

/// The services feature of `table ip hutch`: fixed-shape rules created once, and exact-match
/// hash maps whose elements are the only per-change writes (over libnftnl, no cache, no read),
/// so a change costs the same with 1 or 1,000 services. No verdict maps, no interval maps, no
/// chain per service or endpoint.
///
/// ```
/// set svc-ips       { ipv4_addr }                                    # every ClusterIP
/// map svc-backends  { VIP . proto . port . slot : EP . targetport }  # slots 0..59 per port
/// map svc-np-backends { proto . nodeport . slot : EP . targetport }  # NodePorts, same slots
/// set svc-nodeports { proto . nodeport }    set svc-np-masq { proto . nodeport }  # Cluster policy
/// set svc-hairpin   { EP . EP }                                      # endpoint -> own service
/// set svc-aff-ips { VIP }  map svc-tports { VIP . proto . port : targetport }
/// map svc-aff { client . VIP : EP; timeout }                         # filled by the packet path
/// set svc-np-aff-ports { proto . nodeport }  map svc-np-tports { proto . nodeport : targetport }
/// map svc-np-aff { client . proto . nodeport : EP; timeout }         # NodePort affinity, likewise
///
/// chain services-dnat (prerouting, output):
///   ip daddr @svc-aff-ips meta l4proto {tcp, udp} dnat to ip saddr . ip daddr map @svc-aff : … map @svc-tports
///   ip daddr @svc-ips dnat to ip daddr . meta l4proto . th dport . numgen random mod 60 map @svc-backends
/// chain services-nodeports (prerouting, output; fib daddr type local):
///   ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-masq meta mark set meta mark | 0x4000
///   ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-aff-ports
///       dnat to ip saddr . meta l4proto . th dport map @svc-np-aff : meta l4proto . th dport map @svc-np-tports
///   ip daddr != 127.0.0.0/8 dnat to meta l4proto . th dport . numgen random mod 60 map @svc-np-backends
/// chain services-postrouting:
///   ct status dnat ct original ip daddr @svc-aff-ips update @svc-aff { ip saddr . ct original ip daddr timeout T : ip daddr }
///   ct status dnat ct original ip daddr != @svc-ips meta l4proto . ct original proto-dst @svc-np-aff-ports
///       update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout T : ip daddr }
///   ct status dnat ip saddr . ip daddr @svc-hairpin masquerade
///   meta mark & 0x4000 == 0x4000 meta mark set meta mark & ~0x4000 masquerade
/// chain services-reject (filter input/forward/output, before the networks' accept):
///   ct state new ct status & dnat == 0 ip daddr @svc-ips  -> tcp reset / icmp port unreachable
///   ct state new ct status & dnat == 0 fib daddr type local meta l4proto . th dport @svc-nodeports -> same
/// ```
/// NodePort affinity is keyed by the node port, not the ClusterIP: with the Local policy a node
/// port is served by other endpoints than its ClusterIP, and a client pinned through one must not
/// be sent through the other to an endpoint it does not serve. (`ct original proto-dst` needs a
/// protocol in the rule to be typed, so its rules come once per protocol, tcp and udp.)
/// A lookup that misses (no endpoint in that slot map) leaves the packet un-NATed, and the
/// reject chain answers at once: a service without endpoints is refused, never a timeout.
/// Slots: each service port owns 60 slots spread round-robin over its (sorted) endpoints, so
/// 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 endpoints get exactly equal shares; otherwise the
/// shares differ by one slot in 60 at most.
/// (nft 1.0.6 cannot add a rule using a `typeof … : ip daddr . th dport` map that it read from
/// the kernel ("conflicting protocols specified: ip vs. th"), and declaring the data `tcp dport`
/// makes the rule match TCP only. So installing the feature recreates those two maps (their
/// rules flushed first, in the same transaction); every caller that installs it rewrites the
/// elements afterwards (`replaceServices`), or finds them gone anyway (a wiped table).)
extension NftablesFirewall {
    public static let serviceSlots = 60
    /// The packet mark bit for "masquerade this NodePort connection" (kube-proxy's 0x4000).
    public static let masqueradeMark = "0x4000"

    static let serviceSets = [
        "svc-ips", "svc-backends", "svc-np-backends", "svc-nodeports", "svc-np-masq", "svc-hairpin",
        "svc-aff-ips", "svc-tports", "svc-aff", "svc-np-aff-ports", "svc-np-tports", "svc-np-aff",
    ]

    /// The affinity maps the packet path fills: kept across a rewrite of the other sets.
    static let packetPathMaps: Set<String> = ["svc-aff", "svc-np-aff"]

    static let backendMaps = [
        "svc-backends { typeof ip daddr . meta l4proto . th dport . numgen random mod \(serviceSlots) : ip daddr . th dport; }",
        "svc-np-backends { typeof meta l4proto . th dport . numgen random mod \(serviceSlots) : ip daddr . th dport; }",
    ].map { m in
        let name = m.prefix(while: { $0 != " " })
        return "add map \(table) \(m)\ndelete map \(table) \(name)\nadd map \(table) \(m)"
    }.joined(separator: "\n")

    /// One affinity timeout class: the ClusterIPs whose clients are remembered for `t` seconds.
    /// The timeout of a packet-path update is a constant of its rule, so each timeout in use has
    /// its set and rule (created the first time a service asks for it; 10800 s, Kubernetes'
    /// default, always exists).
    /// A class has two halves: the ClusterIPs (`svc-aff-tT`) and the node ports (`svc-np-aff-tT`).
    static func affinityClass(_ t: Int) -> String { vipAffinityClass(t) + "\n" + nodePortAffinityClass(t) }

    static func vipAffinityClass(_ t: Int) -> String {
        """
        add set \(table) svc-aff-t\(t) { type ipv4_addr; }
        add rule \(table) services-affinity ct original ip daddr @svc-aff-t\(t) update @svc-aff { ip saddr . ct original ip daddr timeout \(t)s : ip daddr }
        """
    }

    static func nodePortAffinityClass(_ t: Int) -> String {
        """
        add set \(table) svc-np-aff-t\(t) { type inet_proto . inet_service; }
        """ + ["tcp", "udp"].map { pr in
            "\nadd rule \(table) services-np-affinity meta l4proto \(pr) meta l4proto . ct original proto-dst @svc-np-aff-t\(t)"
            + " update @svc-np-aff { ip saddr . meta l4proto . ct original proto-dst timeout \(t)s : ip daddr }"
        }.joined()
    }

    static let services = Feature(
        name: "services",
        objects: """
            add set \(table) svc-ips { type ipv4_addr; }
            add chain \(table) services-dnat
            flush chain \(table) services-dnat
            add chain \(table) services-nodeports
            flush chain \(table) services-nodeports
            \(backendMaps)
            add set \(table) svc-nodeports { type inet_proto . inet_service; }
            add set \(table) svc-np-masq { type inet_proto . inet_service; }
            add set \(table) svc-hairpin { type ipv4_addr . ipv4_addr; }
            add set \(table) svc-aff-ips { type ipv4_addr; }
            add map \(table) svc-tports { type ipv4_addr . inet_proto . inet_service : inet_service; }
            add map \(table) svc-aff { type ipv4_addr . ipv4_addr : ipv4_addr; flags timeout; }
            add set \(table) svc-np-aff-ports { type inet_proto . inet_service; }
            add map \(table) svc-np-tports { type inet_proto . inet_service : inet_service; }
            add map \(table) svc-np-aff { type ipv4_addr . inet_proto . inet_service : ipv4_addr; flags timeout; }
            add rule \(table) services-dnat ip daddr @svc-aff-ips meta l4proto { tcp, udp } dnat ip to ip saddr . ip daddr map @svc-aff : ip daddr . meta l4proto . th dport map @svc-tports
            add rule \(table) services-dnat ip daddr @svc-ips dnat ip to ip daddr . meta l4proto . th dport . numgen random mod \(serviceSlots) map @svc-backends
            add rule \(table) services-nodeports ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-masq meta mark set meta mark | \(masqueradeMark)
            add rule \(table) services-nodeports ip daddr != 127.0.0.0/8 meta l4proto . th dport @svc-np-aff-ports dnat ip to ip saddr . meta l4proto . th dport map @svc-np-aff : meta l4proto . th dport map @svc-np-tports
            add rule \(table) services-nodeports ip daddr != 127.0.0.0/8 dnat ip to meta l4proto . th dport . numgen random mod \(serviceSlots) map @svc-np-backends
            add chain \(table) services-postrouting
            flush chain \(table) services-postrouting
            add chain \(table) services-affinity
            flush chain \(table) services-affinity
            add chain \(table) services-np-affinity
            flush chain \(table) services-np-affinity
            \(affinityClass(ServiceOptions.defaultAffinityTimeout))
            add rule \(table) services-postrouting ct status dnat ct original ip daddr @svc-aff-ips jump services-affinity
            add rule \(table) services-postrouting ct status dnat ct original ip daddr != @svc-ips meta l4proto tcp meta l4proto . ct original proto-dst @svc-np-aff-ports jump services-np-affinity
            add rule \(table) services-postrouting ct status dnat ct original ip daddr != @svc-ips meta l4proto udp meta l4proto . ct original proto-dst @svc-np-aff-ports jump services-np-affinity
            add rule \(table) services-postrouting ct status dnat ip saddr . ip daddr @svc-hairpin masquerade comment "hutch: service hairpin"
            add rule \(table) services-postrouting meta mark & \(masqueradeMark) == \(masqueradeMark) meta mark set meta mark & 0xffffbfff masquerade comment "hutch: nodeport"
            add chain \(table) services-reject
            flush chain \(table) services-reject
            add rule \(table) services-reject ct state new ct status & dnat == 0 ip daddr @svc-ips meta l4proto tcp reject with tcp reset comment "hutch: service without endpoints"
            add rule \(table) services-reject ct state new ct status & dnat == 0 ip daddr @svc-ips reject comment "hutch: service without endpoints"
            add rule \(table) services-reject ct state new ct status & dnat == 0 fib daddr type local meta l4proto . th dport @svc-nodeports meta l4proto tcp reject with tcp reset comment "hutch: nodeport without endpoints"
            add rule \(table) services-reject ct state new ct status & dnat == 0 fib daddr type local meta l4proto . th dport @svc-nodeports reject comment "hutch: nodeport without endpoints"

            """,
        jumps: [Jump(from: "prerouting", match: "", to: "services-dnat"),
                Jump(from: "output", match: "", to: "services-dnat"),
                Jump(from: "prerouting", match: "fib daddr type local", to: "services-nodeports"),
                Jump(from: "output", match: "fib daddr type local", to: "services-nodeports"),
                Jump(from: "postrouting", match: "", to: "services-postrouting"),
                Jump(from: "filter-input", match: "", to: "services-reject"),
                Jump(from: "filter-forward", match: "", to: "services-reject"),
                Jump(from: "filter-output", match: "", to: "services-reject")])

    // MARK: elements

    static func proto(_ p: PortMapping.Proto) -> [UInt8] { [p == .tcp ? 6 : 17, 0, 0, 0] }
    /// numgen writes its result in host byte order.
    static func slot(_ i: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(i)) { Array($0) } }

    /// Every element one service holds, grouped by set in `serviceSets` order. The comment names
    /// the owner (`hutch:service:NAME`); hairpin elements are shared and not included (see
    /// `hairpinElements`).
    public static func serviceElements(_ st: ServiceState) -> [NftElement] {
        let s = st.service, c = String(("hutch:" + s.owner).utf8.prefix(128))!
        let vip = ipv4(s.clusterIP)
        var bySet: [String: [NftElement]] = [:]
        func put(_ set: String, _ key: [UInt8], _ data: [UInt8] = []) {
            bySet[set, default: []].append(NftElement(set: set, key: key, data: data, comment: c))
        }
        put("svc-ips", vip)
        let eps = st.endpoints
        let local = eps.filter(\.isLocal)
        let affinity = s.sessionAffinity == .clientIP
        if affinity { put("svc-aff-ips", vip); put("svc-aff-t\(s.affinityTimeout)", vip) }
        for p in s.ports {
            let pr = proto(p.proto)
            if !eps.isEmpty {
                for i in 0..<serviceSlots {
                    let e = eps[i % eps.count]
                    put("svc-backends", vip + pr + port(p.port) + slot(i), ipv4(e.ip) + port(p.targetPort))
                }
            }
            if affinity { put("svc-tports", vip + pr + port(p.port), Array(port(p.targetPort).prefix(2))) }
            guard s.type == .nodePort, p.nodePort != 0 else { continue }
            put("svc-nodeports", pr + port(p.nodePort))
            if affinity {
                put("svc-np-aff-ports", pr + port(p.nodePort))
                put("svc-np-tports", pr + port(p.nodePort), Array(port(p.targetPort).prefix(2)))
                put("svc-np-aff-t\(s.affinityTimeout)", pr + port(p.nodePort))
            }
            if s.externalTrafficPolicy == .cluster { put("svc-np-masq", pr + port(p.nodePort)) }
            let targets = s.externalTrafficPolicy == .local ? local : eps
            if !targets.isEmpty {
                for i in 0..<serviceSlots {
                    let e = targets[i % targets.count]
                    put("svc-np-backends", pr + port(p.nodePort) + slot(i), ipv4(e.ip) + port(p.targetPort))
                }
            }
        }
        return serviceSets.flatMap { bySet[$0] ?? [] } + bySet.keys.filter { !serviceSets.contains($0) }.sorted().flatMap { bySet[$0]! }
    }

    public static func hairpinElements(_ ips: [IPv4Address]) -> [NftElement] {
        ips.sorted().map { NftElement(set: "svc-hairpin", key: ipv4($0) + ipv4($0), data: [], comment: "hutch:service endpoint") }
    }

    /// What turns `old` into `new`: elements to delete (with the data they hold now) and to add.
    /// An element whose key stays with other data is deleted and added in the same transaction.
    public static func serviceDiff(_ change: ServiceChange) -> (delete: [NftElement], add: [NftElement]) {
        let old = change.old.map(serviceElements) ?? []
        let new = change.new.map(serviceElements) ?? []
        func key(_ e: NftElement) -> [UInt8] { Array(e.set.utf8) + [0] + e.key }
        let newByKey = Dictionary(new.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        let oldByKey = Dictionary(old.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        let delete = old.filter { o in newByKey[key(o)].map { $0.data != o.data || $0.comment != o.comment } ?? true }
        let add = new.filter { n in oldByKey[key(n)].map { $0.data != n.data || $0.comment != n.comment } ?? true }
        return (delete, add)
    }

    // MARK: ServiceFirewall

    public func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws {
        var dels: [NftElement] = [], adds: [NftElement] = []
        for c in changes {
            let d = Self.serviceDiff(c)
            dels += d.delete; adds += d.add
        }
        dels += Self.hairpinElements(hairpinRemove)
        adds += Self.hairpinElements(hairpinAdd)
        dels += Self.staleAffinity(changes)
        guard !dels.isEmpty || !adds.isEmpty else { return }
        var r = Self.transaction(flush: [], delete: Self.grouped(dels), add: Self.grouped(adds))
        if r == -ENOENT {
            // The table, a map or an affinity class is missing (first service ever, a new
            // affinity timeout, or someone flushed the ruleset): create them, then retry.
            try ensureSkeleton()
            try ensureAffinityClasses(changes.compactMap(\.new))
            r = Self.transaction(flush: [], delete: Self.grouped(dels), add: Self.grouped(adds))
        }
        if r < 0 {
            let names = changes.prefix(3).map(\.name).joined(separator: ", ") + (changes.count > 3 ? " and \(changes.count - 3) more" : "")
            throw HutchError("nft: update the rules of service(s) \(names) failed: \(errnoString(-r))"
                             + (r == -EBUSY ? " (the table holds other data than hutch's records: hutch network reload rewrites it)" : "")
                             + (r == -ENOENT ? " (a set of the table is missing, e.g. a table made by an older hutch: hutch network reload rewrites it)" : ""))
        }
        flushServiceUDPConntrack(changes)
    }

    /// The affinity entries (`svc-aff` and `svc-np-aff`, written by the packet path) that point
    /// at endpoints a change removes: read with one dump of a map, only when an affinity service
    /// lost an endpoint of that kind of traffic.
    static func staleAffinity(_ changes: [ServiceChange]) -> [NftElement] {
        var gone: [IPv4Address: Set<IPv4Address>] = [:]  // VIP -> removed endpoint addresses
        var npGone: [[UInt8]: Set<IPv4Address>] = [:]   // proto . nodeport -> removed endpoints
        for c in changes {
            guard let old = c.old, old.service.sessionAffinity == .clientIP else { continue }
            let kept = Set((c.new?.service.sessionAffinity == .clientIP ? c.new?.endpoints : nil)?.map(\.ip) ?? [])
            let removed = Set(old.endpoints.map(\.ip)).subtracting(kept)
            if !removed.isEmpty { gone[old.service.clusterIP, default: []].formUnion(removed) }
            let newTargets = c.new.map(nodePortAffinityTargets) ?? [:]
            for (k, eps) in nodePortAffinityTargets(old) {
                let removed = eps.subtracting(newTargets[k] ?? [])
                if !removed.isEmpty { npGone[k, default: []].formUnion(removed) }
            }
        }
        var out: [NftElement] = []
        if !gone.isEmpty { out += affinityEntries { vip, ep in gone[vip]?.contains(ep) == true } }
        if !npGone.isEmpty { out += nodePortAffinityEntries { np, ep in npGone[np]?.contains(ep) == true } }
        return out
    }

    /// The endpoints each node port (`proto . nodeport`, as in `svc-np-aff-ports`) of a ClientIP
    /// service sends to: all of them, or the local ones with the Local policy. Empty without
    /// affinity.
    static func nodePortAffinityTargets(_ st: ServiceState) -> [[UInt8]: Set<IPv4Address>] {
        let s = st.service
        guard s.sessionAffinity == .clientIP, s.type == .nodePort else { return [:] }
        let targets = Set((s.externalTrafficPolicy == .local ? st.endpoints.filter(\.isLocal) : st.endpoints).map(\.ip))
        var out: [[UInt8]: Set<IPv4Address>] = [:]
        for p in s.ports where p.nodePort != 0 { out[proto(p.proto) + port(p.nodePort)] = targets }
        return out
    }

    /// The entries of `svc-aff` (client . VIP : endpoint) for which `stale` says so: one dump.
    static func affinityEntries(_ stale: (IPv4Address, IPv4Address) -> Bool) -> [NftElement] {
        dumpAffinity("svc-aff", keyLength: 8) { key, ep in stale(address(key[4..<8]), ep) }
    }

    /// The entries of `svc-np-aff` (client . proto . nodeport : endpoint) for which `stale` says
    /// so, given the `proto . nodeport` key (padding as hutch writes it) and the endpoint: one dump.
    static func nodePortAffinityEntries(_ stale: ([UInt8], IPv4Address) -> Bool) -> [NftElement] {
        dumpAffinity("svc-np-aff", keyLength: 12) { key, ep in stale([key[4], 0, 0, 0, key[8], key[9], 0, 0], ep) }
    }

    static func address(_ b: ArraySlice<UInt8>) -> IPv4Address { IPv4Address(b.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }

    /// The elements of an affinity map (key of `keyLength` bytes, an address as data) that
    /// `stale` picks, as they are (to delete them by their exact key).
    static func dumpAffinity(_ map: String, keyLength k: Int, _ stale: ([UInt8], IPv4Address) -> Bool) -> [NftElement] {
        let rec = k + 4
        var buf = [UInt8](repeating: 0, count: rec * 65536)
        let n = hn_nft_set_elems_dump("hutch", map, &buf, buf.count, k, 4)
        guard n > 0 else { return [] }
        var out: [NftElement] = []
        for i in 0..<Int(n) {
            let key = Array(buf[(i * rec)..<(i * rec + k)])
            let data = Array(buf[(i * rec + k)..<(i * rec + rec)])
            if stale(key, address(data[0..<4])) { out.append(NftElement(set: map, key: key, data: data, comment: "")) }
        }
        return out
    }

    /// Creates the affinity timeout classes these services use when missing (one libnftables
    /// batch, only for a timeout not seen before).
    func ensureAffinityClasses(_ states: [ServiceState]) throws {
        let timeouts = Set(states.filter { $0.service.sessionAffinity == .clientIP }.map(\.service.affinityTimeout))
            .subtracting([ServiceOptions.defaultAffinityTimeout]).sorted()
        guard !timeouts.isEmpty else { return }
        let fd = hn_lock_file(lockPath)
        defer { if fd >= 0 { hn_unlock_file(fd) } }
        let present = try Self.affinityClassSets()
        let batch = timeouts.map { t in
            (present.contains("svc-aff-t\(t)") ? "" : Self.vipAffinityClass(t) + "\n")
                + (present.contains("svc-np-aff-t\(t)") ? "" : Self.nodePortAffinityClass(t) + "\n")
        }.joined()
        if !batch.isEmpty { try Self.run(batch, step: "nft: create affinity timeout classes") }
    }

    /// The names of the affinity class sets in the table (a libnftables listing of the sets:
    /// only on the paths that create a class, reload and gc).
    static func affinityClassSets() throws -> Set<String> {
        let text = (try? run("list sets \(table)\n", step: "nft: list sets")) ?? ""
        return Set(text.split(separator: "\n").compactMap { line -> String? in
            let w = line.split(separator: " ")
            return w.count >= 2 && w[0].hasSuffix("set") && (w[1].hasPrefix("svc-aff-t") || w[1].hasPrefix("svc-np-aff-t")) ? String(w[1]) : nil
        })
    }

    public func replaceServices(_ all: [ServiceState]) throws {
        if all.isEmpty {
            // Empty the sets if they are there; no table or set: nothing to empty.
            let r = Self.transaction(flush: Self.serviceSets + (try Self.affinityClassSets()).sorted(), delete: [], add: [])
            if r < 0 && r != -ENOENT { throw HutchError("nft: empty the services' sets failed: \(errnoString(-r))") }
            return
        }
        try ensureSkeleton(reinstalling: ["services"])
        // The reinstall emptied services-affinity of every class rule but the default one.
        let classes = try Self.affinityClassSets()
        let used = Set(all.filter { $0.service.sessionAffinity == .clientIP }.map(\.service.affinityTimeout))
            .subtracting([ServiceOptions.defaultAffinityTimeout]).sorted()
        let batch = used.map { Self.affinityClass($0) + "\n" }.joined()
        if !batch.isEmpty { try Self.run(batch, step: "nft: create affinity timeout classes") }
        var adds = all.flatMap(Self.serviceElements)
        var hairpin = Set<IPv4Address>()
        for st in all { hairpin.formUnion(st.hairpinIPs) }
        adds += Self.hairpinElements(Array(hairpin))
        // the affinity maps are the packet path's: they are kept
        let flush = Self.serviceSets.filter { !Self.packetPathMaps.contains($0) } + classes.sorted()
        // Remembered clients stay with endpoints that still serve their service (or node port).
        var valid: [IPv4Address: Set<IPv4Address>] = [:]
        var npValid: [[UInt8]: Set<IPv4Address>] = [:]
        for st in all where st.service.sessionAffinity == .clientIP {
            valid[st.service.clusterIP] = Set(st.endpoints.map(\.ip))
            npValid.merge(Self.nodePortAffinityTargets(st)) { a, _ in a }
        }
        let stale = Self.affinityEntries { vip, ep in valid[vip]?.contains(ep) != true }
            + Self.nodePortAffinityEntries { np, ep in npValid[np]?.contains(ep) != true }
        let r = Self.transaction(flush: flush, delete: stale, add: Self.grouped(adds))
        if r < 0 { throw HutchError("nft: rewrite the services' rules failed: \(errnoString(-r))") }
    }

    /// Elements ordered by set (one message per run of a set).
    static func grouped(_ els: [NftElement]) -> [NftElement] {
        let order = Dictionary(uniqueKeysWithValues: serviceSets.enumerated().map { ($1, $0) })
        return els.enumerated().sorted { a, b in
            let x = order[a.element.set] ?? 99, y = order[b.element.set] ?? 99
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)
    }

    /// One transaction (libnftnl): flush sets, delete elements, add elements. 0 or -errno.
    static func transaction(flush: [String], delete: [NftElement], add: [NftElement]) -> Int32 {
        var keep: [UnsafeMutablePointer<CChar>] = []
        var bufs: [UnsafeMutablePointer<UInt8>] = []
        defer { for p in keep { free(p) }; for b in bufs { b.deallocate() } }
        func cstr(_ s: String) -> UnsafeMutablePointer<CChar> { let p = strdup(s)!; keep.append(p); return p }
        func copy(_ a: [UInt8]) -> UnsafeMutablePointer<UInt8> {
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(a.count, 1))
            p.initialize(from: a, count: a.count); bufs.append(p); return p
        }
        func c(_ e: NftElement) -> hn_nft_elem {
            hn_nft_elem(set: cstr(e.set), key: copy(e.key), key_len: UInt32(e.key.count),
                        data: e.data.isEmpty ? nil : copy(e.data), data_len: UInt32(e.data.count), comment: cstr(e.comment))
        }
        let flushes: [UnsafePointer<CChar>?] = flush.map { UnsafePointer(cstr($0)) }
        let dels = delete.map(c), adds = add.map(c)
        return flushes.withUnsafeBufferPointer { f in
            dels.withUnsafeBufferPointer { d in
                adds.withUnsafeBufferPointer { a in
                    hn_nft_elems_txn("hutch", f.baseAddress, f.count, d.baseAddress, d.count, a.baseAddress, a.count,
                                     ShimLocator.lingerHelper)
                }
            }
        }
    }
}
