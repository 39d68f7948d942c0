import HutchModel
import HutchOS
import HutchNet
import HutchState
import HutchRuntime
#if canImport(Glibc)
import Glibc
#endif

/// The node agent: one long-lived detached process per node (like the container shims: no init
/// system). It keeps the node's lease alive and keeps the overlay in step with etcd: list at
/// revision R, program every other node, watch from R+1 (no event falls between), program or
/// remove nodes as their subnet records come and go. When etcd cannot be reached, what is
/// programmed stays (the data plane never depends on etcd) and the agent retries with backoff,
/// then lists again. A second agent for the same state root exits at once (a file lock).
public final class Agent {
    let rt: Runtime
    var s: NodeSettings
    let overlay: Overlay
    /// What is programmed, by etcd key.
    var programmed: [String: SubnetRecord] = [:]
    var firstSync = true
    /// Services and endpoints (issue 16): what this node wrote to etcd (key → value), and the
    /// other nodes' services and endpoints as etcd holds them (by key).
    var published: [String: String] = [:]
    var remoteServices: [String: ServiceRecord] = [:]
    var remoteEndpoints: [String: [ServiceEndpoint]] = [:]
    /// The other nodes' services changed since they were last applied here.
    var servicesDirty = true
    var reported = Set<String>()

    public static func logPath(_ root: String) -> String { root + "/node-agent.log" }

    public init(_ rt: Runtime) throws {
        self.rt = rt
        s = try ClusterNode(rt).requireSettings()
        overlay = Overlay(s)
    }

    static func stamp() -> String { Sys.now() }

    func log(_ line: String) {
        Out.err("\(Self.stamp()) \(line)")
    }

    /// Runs until killed (SIGTERM from `node leave`). Returns only if another agent holds the lock.
    public func run() throws {
        let lockPath = rt.root + "/node-agent.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HutchError.sys("open \(lockPath)", errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 { close(fd); return }
        // stderr (the log) to a file under the state root; stdin/stdout are /dev/null already.
        // Past 1 MiB at start, the log becomes node-agent.log.1 (one old generation kept).
        let path = Self.logPath(rt.root)
        var st = stat()
        if stat(path, &st) == 0, st.st_size > 1 << 20 { rename(path, path + ".1") }
        let logFD = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        if logFD >= 0 { dup2(logFD, 2); close(logFD) }
        try Self.installWake()
        try rt.setNodeAgent(pid: getpid(), start: Sys.processStartTime(getpid()) ?? 0)
        log("agent of node \(s.name) (\(s.subnet), \(s.backend.rawValue)) started, etcd \(s.etcdList)\(s.tls.logSuffix)")
        // The local half may be gone (a reboot): set it up again, idempotently.
        try overlay.setUpLocal()
        try makeFirewall(rt.firewall).setupCluster(s.rules)

        var backoff = 100
        while true {
            do {
                try session()
            } catch {
                log("etcd: \(error); retrying in \(backoff) ms")
            }
            // A session that got as far as a list resets the backoff.
            if lastSyncOK { backoff = 100; lastSyncOK = false }
            Sys.sleepMS(backoff)
            backoff = min(backoff * 2, 5000)
        }
    }

    var lastSyncOK = false
    /// The endpoint the next session starts with (of `s.endpoints`): the one that last answered,
    /// or the one after it when the watch there broke.
    var preferred = 0

    /// One connection's life: lease, list, watch until something breaks. With several etcd
    /// endpoints, the requests move on from one that does not answer (EtcdClient); a watch that
    /// breaks, or requests that moved away from the watched endpoint, end the session: the next
    /// one lists again and watches at the endpoint that answers.
    func session() throws {
        let etcd = try EtcdClient(endpoints: s.endpoints, tls: s.tls, timeoutMS: 1000, from: preferred)
        // The watch at the endpoint in use broke: the next session starts at the next one.
        var watchBroke = false
        defer { preferred = watchBroke ? (etcd.current + 1) % s.endpoints.count : etcd.current }
        try ensureLease(etcd)
        let (rev, kvs) = try etcd.list(s.keys.prefix)
        try reconcile(kvs)
        listServices(kvs)
        try syncServices(etcd)
        lastSyncOK = true
        let watching = etcd.current
        let watch: EtcdWatch
        do {
            watch = try EtcdWatch(endpoint: etcd.endpoint, tls: s.tls, prefix: s.keys.prefix, from: rev + 1, connectTimeoutMS: 1000)
        } catch { watchBroke = true; throw error }
        if s.endpoints.count > 1 { log("watching etcd at \(etcd.endpoint)") }
        var lastRenew = Self.monotonicMS(), lastPublish = Self.monotonicMS()
        let every = max(s.leaseTTL * 1000 / 3, 300)
        while true {
            let (msgs, ended, woken): ([String], Bool, Bool)
            do { (msgs, ended, woken) = try watch.poll(timeoutMS: 200, wakeFD: Self.wakeRead) } catch { watchBroke = true; throw error }
            for m in msgs {
                guard let w = EtcdRequest.parseWatch(m) else { log("etcd watch: unreadable message \(m.prefix(200))"); continue }
                if w.compacted || w.canceled { log("etcd watch ended (compacted or canceled): listing again"); return }
                for e in w.events { apply(e) }
            }
            if ended { log("etcd closed the watch: listing again"); return }
            if etcd.current != watching {
                log("etcd at \(s.endpoints[watching]) stopped answering, \(etcd.endpoint) answers: listing and watching there")
                return
            }
            // This node's services and endpoints out (at most once a second), the others' in.
            // (`woken`: a hutch command changed a service or an endpoint here: SIGUSR1.)
            if woken || servicesDirty || Self.monotonicMS() - lastPublish >= 1000 {
                try syncServices(etcd)
                lastPublish = Self.monotonicMS()
            }
            if Self.monotonicMS() - lastRenew >= every {
                if try etcd.keepAlive(s.lease) <= 0 {
                    log("the lease \(s.lease) expired: taking the subnet again")
                    try ensureLease(etcd)
                }
                lastRenew = Self.monotonicMS()
            }
        }
    }

    /// Keeps this node's subnet record under a live lease: renews it, or (expired while etcd was
    /// away or the agent was down) takes a new lease and the same subnet back, if it is still free.
    func ensureLease(_ etcd: EtcdClient) throws {
        if s.lease != 0, try etcd.keepAlive(s.lease) > 0 { return }
        let lease = try etcd.grant(ttl: s.leaseTTL)
        let key = s.keys.subnet(s.subnet)
        let r = try etcd.createIfAbsent(key, s.record.json, lease: lease)
        if !r.created {
            let holder = r.existing.flatMap { SubnetRecord(subnet: s.subnet, json: $0.value) }
            if holder?.node == s.name, let kv = r.existing, kv.lease != 0, try etcd.keepAlive(kv.lease) > 0 {
                try etcd.revoke(lease)
                s.lease = kv.lease
            } else {
                try etcd.revoke(lease)
                throw HutchError("subnet \(s.subnet) is now held by node \(holder?.node ?? "?"): this node must leave and join again")
            }
        } else {
            s.lease = lease
        }
        published = [:]  // everything this node publishes goes under the new lease
        try rt.setNodeRecord(s.json)
        log("lease \(s.lease) holds \(key)")
    }

    func record(_ kv: KeyValue) -> SubnetRecord? {
        guard let sn = s.keys.subnet(ofKey: kv.key), sn != s.subnet else { return nil }
        return SubnetRecord(subnet: sn, json: kv.value)
    }

    /// Programs every node listed, removes what is programmed but no longer listed (and, on the
    /// first sync, routes left from nodes that went while no agent watched).
    func reconcile(_ kvs: [KeyValue]) throws {
        var want: [String: SubnetRecord] = [:]
        for kv in kvs { if let r = record(kv) { want[kv.key] = r } }
        for (k, r) in programmed where want[k] == nil { remove(k, r) }
        for (k, r) in want.sorted(by: { $0.key < $1.key }) where programmed[k] != r { add(k, r) }
        if firstSync {
            for st in try overlay.staleRoutes(known: Set(want.values.map(\.subnet))) {
                do { try overlay.unprogramStale(st); log("removed stale route to \(st)") } catch { log("remove stale route to \(st): \(error)") }
            }
            firstSync = false
        }
    }

    func apply(_ e: WatchEvent) {
        switch e {
        case .put(let kv):
            if serviceEvent(kv.key, kv) { return }
            guard let r = record(kv) else { return }
            if programmed[kv.key] != r { add(kv.key, r) }
        case .delete(let key, _):
            if serviceEvent(key, nil) { return }
            if let r = programmed[key] { remove(key, r) }
        }
    }

    // MARK: services across nodes

    /// A put (kv) or delete (nil) of a services or endpoints key of another node; true if the
    /// key was one of those (handled).
    func serviceEvent(_ key: String, _ kv: KeyValue?) -> Bool {
        let k = s.keys
        if key.hasPrefix(k.services) {
            if let v = kv, let (r, node) = ServiceWire.service(json: v.value), node != s.name {
                if remoteServices[key] != r { remoteServices[key] = r; servicesDirty = true }
            } else if kv == nil, remoteServices.removeValue(forKey: key) != nil {
                servicesDirty = true
            }
            return true
        }
        if let (_, node) = k.endpointsKey(key) {
            guard node != s.name else { return true }
            if let v = kv {
                let eps = ServiceWire.endpoints(json: v.value, node: node)
                if remoteEndpoints[key] != eps { remoteEndpoints[key] = eps; servicesDirty = true }
            } else if remoteEndpoints.removeValue(forKey: key) != nil {
                servicesDirty = true
            }
            return true
        }
        return false
    }

    /// After a list: the other nodes' services and endpoints as listed; this node's own keys
    /// (an earlier agent's, under the same lease) count as published.
    func listServices(_ kvs: [KeyValue]) {
        remoteServices = [:]; remoteEndpoints = [:]
        for kv in kvs {
            let mine = kv.lease == s.lease && kv.lease != 0
            if kv.key.hasPrefix(s.keys.services) || s.keys.endpointsKey(kv.key) != nil {
                if mine { published[kv.key] = kv.value } else { _ = serviceEvent(kv.key, kv) }
            }
        }
        servicesDirty = true
    }

    /// Publishes what changed of this node's services and endpoints, then applies the other
    /// nodes' if they changed.
    func syncServices(_ etcd: EtcdClient) throws {
        let k = s.keys
        let (own, eps) = try rt.clusterLocalView()
        var desired: [String: String] = [:]
        for svc in own { desired[k.service(svc.name)] = ServiceWire.service(svc, node: s.name) }
        for (name, list) in eps where !list.isEmpty { desired[k.endpoints(name, node: s.name)] = ServiceWire.endpoints(list) }
        for (key, value) in desired.sorted(by: { $0.key < $1.key }) where published[key] != value {
            if key.hasPrefix(k.services) {
                // A service name is the cluster's: the first node to publish it owns it.
                let r = try etcd.createIfAbsent(key, value, lease: s.lease)
                if !r.created {
                    guard r.existing?.lease == s.lease, try etcd.putIfLease(key, value, lease: s.lease) else {
                        note("service \(key.dropFirst(k.services.count)) is another node's: this node's service of that name is not published")
                        continue
                    }
                }
            } else {
                try etcd.put(key, value, lease: s.lease)
            }
            published[key] = value
        }
        for key in published.keys.sorted() where desired[key] == nil {
            try etcd.delete(key)
            published[key] = nil
        }
        if servicesDirty {
            var byService: [String: [ServiceEndpoint]] = [:]
            for (key, list) in remoteEndpoints { if let (svc, _) = k.endpointsKey(key) { byService[svc, default: []] += list } }
            for p in try rt.applyClusterServices(Array(remoteServices.values), remoteEndpoints: byService) { note(p) }
            servicesDirty = false
        }
    }

    /// Logs a line once.
    func note(_ line: String) {
        if reported.insert(line).inserted { log(line) }
    }

    func add(_ key: String, _ r: SubnetRecord) {
        if let old = programmed[key], old.vtepMAC != r.vtepMAC || old.publicIP != r.publicIP { try? overlay.unprogram(old) }
        do {
            try overlay.program(r)
            programmed[key] = r
            log("programmed node \(r.node) \(r.subnet) via \(r.publicIP)")
        } catch {
            programmed[key] = nil
            log("node \(r.node) \(r.subnet): \(error)")
        }
    }

    func remove(_ key: String, _ r: SubnetRecord) {
        do { try overlay.unprogram(r); log("removed node \(r.node) \(r.subnet)") } catch { log("remove node \(r.node) \(r.subnet): \(error)") }
        programmed[key] = nil
    }

    /// SIGUSR1 (sent by hutch commands that changed services or endpoints on this node) writes a
    /// byte to a pipe the watch's poll also waits on, so the change is published at once.
    nonisolated(unsafe) static var wakeRead: Int32 = -1
    nonisolated(unsafe) static var wakeWrite: Int32 = -1

    static func installWake() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw HutchError.sys("pipe", errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = fds[0]; wakeWrite = fds[1]
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in
            var b: UInt8 = 1
            _ = write(Agent.wakeWrite, &b, 1)
        }
        sa.sa_flags = SA_RESTART
        sigemptyset(&sa.sa_mask)
        guard sigaction(SIGUSR1, &sa, nil) == 0 else { throw HutchError.sys("sigaction SIGUSR1", errno) }
    }

    static func monotonicMS() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}
