#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

/// The container lifecycle: run, stop, kill, wait, rm, cleanup. The CLI is a thin layer over this.
public final class Runtime {
    let store: Store
    public let firewall: FirewallKind
    /// The machine's network as Runtime uses it (the real one, or a test's recording fake).
    let host: any HostNetwork
    /// Makes the host for a firewall backend (the switch needs the old one's too).
    let hostFor: @Sendable (FirewallKind) -> any HostNetwork
    let shims: any ShimLauncher
    /// A cluster node's agent as recorded ("PID STARTTIME"; nil: not a cluster node). See
    /// `reviveNodeAgent` (Cluster.swift).
    let nodeAgent: String?

    /// `firewall`: the backend the caller asked for (--firewall / HUTCH_FIREWALL). The choice is
    /// per host and recorded in the store; asking for the other one switches the host over.
    /// `host` and `shims`: the machine (the defaults) or a test's fakes.
    public init(root: String, firewall: FirewallKind? = nil,
                host: @escaping @Sendable (FirewallKind) -> any HostNetwork = { LinuxHost(firewall: $0) },
                shims: any ShimLauncher = SpawnedShims()) throws {
        Timeline.mark("runtime")
        store = try Store(root: root)
        Timeline.mark("store-open")
        // One read for both: the recorded firewall backend and the boot the records belong to.
        let meta = try store.read { db in
            try Store.meta(["firewall", "bootId", Store.nodeAgentKey], in: db)
        }
        nodeAgent = meta[Store.nodeAgentKey]
        let recorded = meta["firewall"].flatMap { FirewallKind(rawValue: $0) }
        self.firewall = firewall ?? recorded ?? .nftables
        hostFor = host
        self.host = host(self.firewall)
        self.shims = shims
        try checkBoot(recorded: meta["bootId"])
        if let f = firewall, f != recorded {
            // A store with no recorded backend has been using the default one if it set up any
            // network: its rules move like any other switch's (nothing may stay stranded there).
            let inUse = try recorded ?? (store.read { try NetworkRecord.all(in: $0) }.isEmpty ? nil : .nftables)
            if let old = inUse, old != f { try switchFirewall(from: old, to: f) }
            else { try store.write { try Store.setMeta("firewall", f.rawValue, in: $0) } }
        }
        Timeline.mark("runtime-ready")
    }

    public func containerDir(_ id: String) -> String { store.root + "/containers/" + id }
    public func logPath(_ id: String) -> String { containerDir(id) + "/ctr.log" }

    static let selfStart: UInt64 = Sys.processStartTime(getpid()) ?? 0

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    // MARK: run

    /// Creates and starts a container. Foreground: returns the command's exit status.
    /// Detached: prints nothing itself, returns 0 and the record (the shim monitors from now on).
    /// Any failure undoes every step already taken, in reverse order.
    public func run(_ checked: Validated<RunOptions>, onStarted: (ContainerRecord) -> Void = { _ in }) throws -> Int32 {
        let o = checked.options
        let env = try Self.environment(o.env)

        let id = Sys.randomID()
        var undo = Undo()
        do {
            return try run(o, env: env, id: id, undo: &undo, onStarted: onStarted)
        } catch {
            throw undo.unwind(after: error)
        }
    }

    /// `run`'s steps; each one that leaves something behind adds its undo step.
    private func run(_ o: RunOptions, env: [String], id: String, undo: inout Undo,
                     onStarted: (ContainerRecord) -> Void) throws -> Int32 {
        let shortId = String(id.prefix(12))

        // 1. Resolve the network mode; check the sandbox's paths, user and seccomp profile.
        let (net, joined, pod) = try resolveNetwork(o)
        let checkedSandbox = try checkSandbox(o, id: id, pod: o.pod != nil ? joined : nil)
        var sandbox = checkedSandbox.0
        let seccomp = checkedSandbox.1

        var hostname = o.hostname ?? shortId
        if case .host = o.network, o.hostname == nil { hostname = Self.hostHostname() }
        if let j = joined { hostname = j.hostname }
        if let p = o.infraOf { hostname = p.hostname }
        Timeline.mark("checked")

        // 2. Reserve the name and the address in one transaction.
        let now = Sys.now()
        var replaced: ContainerRecord?
        let (record, address, ports) = try store.write { db -> (ContainerRecord, IPv4Address?, [PortMapping]) in
            // A generated name is free by construction (checked in this transaction).
            let name = try o.name ?? Names.generate(in: db)
            // --replace: the old container goes in this same transaction, so the name passes
            // from it to the new one without ever being free (see retire).
            if o.replace, let old = try ContainerRecord.named(name, in: db) { replaced = try retire(old, in: db) }
            if o.name != nil, let other = try ContainerRecord.named(name, in: db) {
                throw HutchError("the container name \"\(name)\" is already in use by container \(other.shortId): remove it (hutch rm -f \(name)) or pick another --name")
            }
            var ip: IPv4Address?
            if let n = net { ip = try IPAM.allocate(in: db, network: n, owner: id, requested: o.ip) }
            let ports = try PortReservations.reserve(in: db, owner: id, specs: o.publish,
                                                     isFreeOnHost: host.isPortFree)
            var r = ContainerRecord(
                id: id, name: name, command: o.command, hostname: hostname,
                env: env + ["HOSTNAME=\(hostname)"], workdir: o.workdir ?? "/",
                networkMode: o.pod != nil ? "container:\(joined!.id)" : o.network.description, network: net?.name,
                ipAddress: ip, macAddress: ip?.derivedMAC,
                hostVeth: net == nil ? nil : "hv" + String(id.prefix(11)),
                joinedId: joined?.id, autoRemove: o.autoRemove, detached: o.detach, useInit: o.useInit,
                capMask: o.capMask, noNewPrivs: o.noNewPrivs, status: .created,
                // Until the shim takes over, the creating CLI is the record's owner: if it dies
                // half-way, reconcile sees a "created" record whose owner is gone and undoes it.
                shimPid: getpid(), shimStart: Self.selfStart, pid: 0, pidStart: 0, exitCode: nil,
                createdAt: now, startedAt: nil, finishedAt: nil, bootId: Sys.bootID,
                pod: pod?.id, isInfra: o.infraOf != nil, aliases: o.aliases)
            r.labels = o.labels
            r.extraHosts = o.extraHosts.map(\.description); r.dns = o.dns.map(\.description)
            r.sandbox = sandbox
            r.restartPolicy = o.restart; r.tty = o.tty; r.openStdin = !o.tty && o.interactive && o.detach
            r.published = ports
            try r.insert(db)
            return (r, ip, ports)
        }
        undo.add("release the name and address") { [store] in _ = try store.write { try Self.forget(id, in: $0) } }
        if let old = replaced {
            Sys.removeTree(containerDir(old.id))
            refreshNames(network: old.network)
        }
        Fault.point("run.after-reserve")
        Timeline.mark("reserved")

        // 3. The container's folder and generated /etc files.
        let dir = containerDir(id)
        try Sys.mkdirs(dir, mode: 0o710)
        undo.add("remove \(dir)") { Sys.removeTree(dir) }
        var binds: [String] = []
        // The services' variables (a snapshot of the version current now) and, with a hosts file
        // of its own, their names (see ServiceFiles).
        let ownHosts = joined == nil && o.network != .host
        if !ownHosts { try withServiceFiles { try linkServiceEnvironment($0, into: dir) } }
        if let j = joined {
            for f in ["hosts", "hostname", "resolv.conf"] { binds.append("\(containerDir(j.id))/\(f):/etc/\(f)") }
        } else if case .host = o.network {
            try Sys.writeFile(dir + "/hostname", hostname + "\n", atomic: false)
            binds.append("\(dir)/hostname:/etc/hostname")
        } else {
            let gw = net?.gateway
            let hostsName = o.infraOf?.name ?? record.name
            var hosts = HostsFile(hostname: hostname, name: hostsName, address: address, gateway: gw)
            hosts.aliases = o.aliases
            hosts.extraHosts = Self.extraHostLines(record.extraHosts, gateway: gw)
            // A new folder nobody reads yet: no temporary files and renames. Under the hosts lock
            // so a service created meanwhile is in this text or appended after it.
            try withHostsLock {
                hosts.services = try withServiceFiles { f in
                    try linkServiceEnvironment(f, into: dir)
                    return try serviceHostsLines(f)
                }
                Timeline.mark("hosts-rendered")
                try Sys.writeFile(dir + "/hosts", hosts.rendered, atomic: false)
            }
            try Sys.writeFile(dir + "/hostname", hostname + "\n", atomic: false)
            try Sys.writeFile(dir + "/resolv.conf", ResolvConf.forContainer(host: Sys.readFile("/etc/resolv.conf") ?? "", dns: o.dns), atomic: false)
            for f in ["hosts", "hostname", "resolv.conf"] { binds.append("\(dir)/\(f):/etc/\(f)") }
        }

        Fault.point("run.after-files")
        Timeline.mark("files")

        // 3b. The sandbox: cgroup (limits written) and compiled seccomp profile.
        let shimSandbox = try startSandbox(&sandbox, seccomp: seccomp, id: id, dir: dir, undo: &undo)
        Fault.point("run.after-sandbox")
        Timeline.mark("sandbox")

        // 4–7. The bridge, the shim, the network wired while the child waits, the record made
        // running (only a record still being created: a concurrent `rm -f` or `pod rm -f` may
        // have removed it meanwhile, and then this run undoes itself), the child released.
        let spec = shimSpec(record, joined: joined, binds: binds, sandbox: shimSandbox)
        // Foreground: the shim gets our stdin only with -i (Docker gives an empty one without);
        // with -it it puts the terminal into raw mode, and ShimProcess puts it back in any case.
        var launching = record
        launching.sandbox = sandbox
        let (shim, running) = try launch(launching, spec: spec, network: net, ports: ports, stdin: o.interactive,
                                         terminal: o.interactive && o.tty && !o.detach, undo: &undo) { r, db in
            guard try r.updateIfStillCreated(db) else {
                throw HutchError("container \(record.name) was removed while it was being created")
            }
        }
        undo.cancel()
        Fault.point("run.after-release")
        Timeline.mark("released")
        onStarted(running)
        if o.detach { return 0 }

        // 8. Foreground: forward termination signals to the shim, wait, clean up.
        ForegroundSignals.forward(to: shim.pid)
        let status = shim.waitExit()
        ForegroundSignals.restore()
        Timeline.mark("exited")
        try cleanup(id, exitCode: status)
        Timeline.mark("cleaned")
        return status
    }

    /// What a run's network mode points at: the bridge network, or the container (a pod's infra
    /// container) whose namespaces it joins, and the pod it belongs to.
    func resolveNetwork(_ o: RunOptions) throws -> (NetworkRecord?, ContainerRecord?, PodRecord?) {
        if let ref = o.pod {
            guard let p = try store.findPod(ref) else { throw HutchError("no such pod: \(ref) (create it with 'hutch pod create --name \(ref)')") }
            guard let infra = try store.findContainer(p.infraId), try reconcile(infra).status == .running else {
                throw HutchError("pod \(p.name) is not running (its infra process is gone): remove it with 'hutch pod rm -f \(p.name)'")
            }
            return (nil, infra, p)
        }
        switch o.network {
        case .bridge(let name):
            guard let n = try store.network(name) else {
                throw HutchError("network \(name) not found: create it with 'hutch network create \(name)' or use --network bridge")
            }
            return (n, nil, o.infraOf)
        case .container(let ref):
            guard let t = try store.findContainer(ref) else { throw HutchError("no such container: \(ref) (in --network container:\(ref))") }
            guard try reconcile(t).status == .running else {
                throw HutchError("cannot join the network of container \(t.name): it is not running")
            }
            return (nil, t, nil)
        case .host, .none:
            return (nil, nil, o.infraOf)
        }
    }

    /// `-e KEY=VALUE` or `-e KEY` (taken from the caller's environment, as Docker does), on top
    /// of `base` (a container's environment, for exec) or of a default PATH, HOME and TERM.
    static func environment(_ entries: [String], base: [String]? = nil) throws -> [String] {
        var env: [(String, String)]
        if let b = base {
            env = b.map { e in
                let kv = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(kv[0]), kv.count == 2 ? String(kv[1]) : "")
            }
        } else {
            env = [("PATH", defaultPath), ("HOME", "/root")]
            if let t = getenv("TERM") { env.append(("TERM", String(cString: t))) }
        }
        for e in entries {
            try Validate.envEntry(e)
            let parts = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value: String
            if parts.count == 2 { value = String(parts[1]) } else {
                guard let v = getenv(key) else { continue }
                value = String(cString: v)
            }
            env.removeAll { $0.0 == key }
            env.append((key, value))
        }
        return env.map { "\($0.0)=\($0.1)" }
    }

    static func hostHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: exit and cleanup

    /// Tears down what a container held once its process is gone: veth, lease, and with --rm the
    /// record and folder. Idempotent and tolerant of things already gone; run by the foreground
    /// CLI, by the shim's exit command for detached containers, and by reconcile after a crash.
    public func cleanup(_ id: String, exitCode: Int32? = nil) throws {
        guard let c = try store.read({ try ContainerRecord.fetchOne($0, key: id) }) else { return }
        Fault.point("cleanup.start")
        if c.isInfra, let pod = c.pod {
            // The pod's namespaces are going: its members go with them (their shims clean up).
            for m in try store.members(ofPod: pod) where m.status == .running && Sys.isAlive(pid: m.pid, start: m.pidStart) {
                markStopped(m)
                Glibc.kill(m.pid, SIGKILL)
            }
        }
        // It stops serving first: a service refuses rather than send to an address going away.
        syncEndpointsReporting([id], leaving: true)
        let joined = try tearDownNetwork(c)
        let oom = try stopSandbox(c)
        Timeline.mark("teardown")
        Fault.point("cleanup.after-detach")
        let code = exitCode ?? Sys.readFile(containerDir(id) + "/exit").flatMap { Int32($0.trimmingSpaces()) } ?? 137
        defer { didStop(c, networks: joined) }
        if c.autoRemove {
            try store.write { try Self.forget(id, in: $0, exitCode: code) }
            Sys.removeTree(containerDir(id))
            return
        }
        try store.write { db in
            // The networks it had joined, for `start` to join again (only at its first cleanup:
            // a repeated one finds them released).
            let attached = try AttachmentRecord.of(id, in: db)
            try Self.release(id, in: db)
            guard var r = try ContainerRecord.fetchOne(db, key: id), r.status != .exited else { return }
            r.connected = attached.map { "\($0.network)/\($0.ipAddress)/\($0.aliases.joined(separator: ","))" }
            r.status = .exited
            r.restarting = false
            r.exitCode = code
            r.finishedAt = Sys.now()
            r.sandbox.oomKilled = oom
            try r.update(db)
        }
    }

    /// Brings a record in line with reality: a "running" container whose shim is gone (crashed,
    /// killed, or from an earlier boot) is cleaned up as exited.
    @discardableResult
    public func reconcile(_ c: ContainerRecord) throws -> ContainerRecord {
        if c.status == .created {
            // A run that crashed half-way: undo whatever it did (rules, veth, lease, record).
            if c.bootId == Sys.bootID && Sys.isAlive(pid: c.shimPid, start: c.shimStart) { return c }
            try tearDownNetwork(c)
            _ = try stopSandbox(c)
            try store.write { try Self.forget(c.id, in: $0) }
            Sys.removeTree(containerDir(c.id))
            var gone = c; gone.status = .exited; gone.exitCode = 125
            return gone
        }
        guard c.status == .running else { return c }
        let sameBoot = c.bootId == Sys.bootID
        if sameBoot && Sys.isAlive(pid: c.shimPid, start: c.shimStart) { return c }
        // The monitor is gone. A container process still alive has nobody to record its exit:
        // stop it rather than leave an unmanaged process holding an address.
        if sameBoot && Sys.isAlive(pid: c.pid, start: c.pidStart) {
            Glibc.kill(c.pid, SIGKILL)
            _ = waitGone(pid: c.pid, start: c.pidStart, timeoutMS: 5000)
        }
        try cleanup(c.id)
        return try store.read { try ContainerRecord.fetchOne($0, key: c.id) } ?? {
            var g = c; g.status = .exited; return g
        }()
    }

    public func containers(all: Bool) throws -> [ContainerRecord] {
        try store.containers().compactMap { c in
            let r = try reconcile(c)
            // A repaired record may be gone altogether (--rm, or an interrupted creation).
            if r.status != c.status, try store.read({ try ContainerRecord.fetchOne($0, key: r.id) }) == nil { return nil }
            return all || r.status == .running ? r : nil
        }
    }

    // MARK: stop, kill, wait, rm

    /// SIGTERM (or the given signal), then SIGKILL after `timeout` seconds; returns once the
    /// container's network and state are cleaned up.
    public func stop(_ ref: String, timeout: Int) throws -> ContainerRecord {
        try stopAll([store.container(ref)], timeout: timeout)[0]
    }

    /// Stops several containers with one grace period: SIGTERM to all, wait up to `timeout`
    /// seconds for all, SIGKILL to what is left (so N containers that ignore SIGTERM cost one
    /// timeout, not N).
    public func stopAll(_ list: [ContainerRecord], timeout: Int) throws -> [ContainerRecord] {
        let all = try list.map { try reconcile($0) }
        // Those with a restart policy are marked stopped and followed across restarts.
        let restartable = all.filter { $0.status == .running && $0.restartPolicy.name != .no }
        let stopped = try stopRestartable(restartable, timeout: timeout)
        let cs = all.filter { !($0.status == .running && $0.restartPolicy.name != .no) }
        let live = cs.filter { $0.status == .running && Sys.isAlive(pid: $0.pid, start: $0.pidStart) }
        // Out of the services (and ingresses) before the signal: nothing new is sent its way.
        if !live.isEmpty { syncEndpointsReporting(live.map(\.id), leaving: true) }
        for c in live { Glibc.kill(c.pid, SIGTERM) }
        var waited = 0
        while live.contains(where: { Sys.isAlive(pid: $0.pid, start: $0.pidStart) }) && waited < timeout * 1000 {
            waited += Self.pollPause(waited)
        }
        for c in live where Sys.isAlive(pid: c.pid, start: c.pidStart) {
            Glibc.kill(c.pid, SIGKILL)
            _ = waitGone(pid: c.pid, start: c.pidStart, timeoutMS: 10_000)
        }
        let done = try cs.map { $0.status == .running ? try waitExited($0) : $0 } + stopped
        return all.map { c in done.first { $0.id == c.id } ?? c }
    }

    public func kill(_ ref: String, signal: Int32) throws {
        let c = try reconcile(try store.container(ref))
        // Docker: the stop signal or SIGKILL from the user ends the restart policy's restarts.
        let stopping = signal == SIGKILL || signal == SIGTERM
        if c.status == .running, stopping { markStopped(c) }
        if c.status == .running, c.restarting || !Sys.isAlive(pid: c.pid, start: c.pidStart),
           stopping, Sys.isAlive(pid: c.shimPid, start: c.shimStart) {
            // Waiting to restart: no process to signal; its monitor ends the wait and exits.
            Glibc.kill(c.shimPid, SIGTERM)
            return
        }
        guard c.status == .running, Sys.isAlive(pid: c.pid, start: c.pidStart) else {
            throw HutchError("cannot kill container \(c.name): it is not running")
        }
        guard Glibc.kill(c.pid, signal) == 0 else { throw HutchError.sys("kill \(c.name)", errno) }
    }

    /// Blocks until the container has exited and been cleaned up; returns its final record.
    public func wait(_ ref: String) throws -> ContainerRecord {
        let c = try store.container(ref)
        return try waitExited(c)
    }

    /// `hutch wait`: the container's exit status once it has exited. A container already removed
    /// (`--rm`) within the last minutes still has its status (ExitRecords), so a script's
    /// `run -d --rm` then `wait` gets it even when the container was quicker than the script.
    public func waitStatus(_ ref: String) throws -> Int32 {
        guard let c = try store.findContainer(ref) else {
            if let kept = try store.read({ try ExitRecords.latest(named: ref, in: $0) }) { return kept.exitCode }
            throw HutchError("no such container: \(ref)")
        }
        return try waitExited(c).exitCode ?? 0
    }

    /// Sleeps between two polls for something that usually happens within milliseconds (an exit,
    /// a cleanup): 1 ms for the first 200 ms, then 5 ms. Returns the milliseconds slept.
    static func pollPause(_ waited: Int) -> Int {
        let ms = waited < 200 ? 1 : 5
        Sys.sleepMS(ms)
        return ms
    }

    func waitExited(_ c: ContainerRecord) throws -> ContainerRecord {
        // The shim exits after its exit command (the cleanup) finished; a foreground CLI cleans up
        // right after its shim exits. Poll the record, repairing it if its monitor vanished.
        var waited = 0
        while true {
            let (record, kept) = try store.read { db in
                (try ContainerRecord.fetchOne(db, key: c.id), try ExitRecords.exitCode(id: c.id, in: db))
            }
            guard let cur = record else {
                // Removed (--rm, rm -f): its status was kept when the record went.
                var gone = c; gone.status = .exited; gone.exitCode = kept ?? c.exitCode; return gone
            }
            if cur.status != .running { return cur }
            if !Sys.isAlive(pid: cur.shimPid, start: cur.shimStart) {
                // Give a foreground CLI a moment to record the exit itself before repairing.
                Sys.sleepMS(50)
                if let again = try store.read({ try ContainerRecord.fetchOne($0, key: c.id) }), again.status == .running {
                    return try reconcile(again)
                }
                continue
            }
            waited += Self.pollPause(waited)
        }
    }

    func waitGone(pid: Int32, start: UInt64, timeoutMS: Int) -> Bool {
        var waited = 0
        while Sys.isAlive(pid: pid, start: start) {
            if waited >= timeoutMS { return false }
            waited += Self.pollPause(waited)
        }
        return true
    }

    public func remove(_ ref: String, force: Bool, podRemoval: Bool = false) throws -> ContainerRecord {
        let c = try reconcile(try store.container(ref))
        if c.isInfra, !podRemoval, let pod = c.pod, let p = try store.read({ try PodRecord.fetchOne($0, key: pod) }) {
            throw HutchError("container \(c.name) is the infra container of pod \(p.name): remove the pod (hutch pod rm -f \(p.name))")
        }
        // `created`: its `hutch run` is still under way (reconcile undoes those whose run died).
        if c.status == .created && !force {
            throw HutchError("cannot remove container \(c.name): it is being created; wait for it, or use rm -f")
        }
        if c.status == .running {
            guard force else {
                throw HutchError("cannot remove container \(c.name): it is running; stop it first or use rm -f")
            }
            // The monitor goes with the container and the cleanup happens here: otherwise the
            // monitor would start a second hutch process (its exit command) to do the same
            // cleanup while this one waits for it. The container dies with its monitor anyway
            // (PR_SET_PDEATHSIG); a cleanup already under way elsewhere is harmless (idempotent).
            syncEndpointsReporting([c.id], leaving: true)  // out of the services before it dies
            if Sys.isAlive(pid: c.shimPid, start: c.shimStart) { Glibc.kill(c.shimPid, SIGKILL) }
            if Sys.isAlive(pid: c.pid, start: c.pidStart) { Glibc.kill(c.pid, SIGKILL) }
            _ = waitGone(pid: c.pid, start: c.pidStart, timeoutMS: 10_000)
            try cleanup(c.id, exitCode: 128 + SIGKILL)
            Fault.point("rm.after-kill")
        } else {
            Fault.point("rm.after-kill")
            // Its cleanup ran when it exited; again, idempotently, in case that was cut short.
            try tearDownNetwork(c)
            // A record still being created: its cgroup holds the held first process, and the
            // run that made it removes it when it finds its record gone (its undo kills the shim first).
            if c.status != .created { _ = try stopSandbox(c) }
        }
        Fault.point("rm.after-detach")
        // A record still being created (its `hutch run` is alive: reconcile kept it) goes only
        // if it is still "created"; if that run has made it "running" meanwhile, it is removed
        // as a running container. The run, in turn, undoes itself if its record is gone.
        let gone = try store.write { try Self.forget(c.id, in: $0, onlyIfCreated: c.status == .created) }
        if !gone { return try remove(c.id, force: force, podRemoval: podRemoval) }
        Sys.removeTree(containerDir(c.id))
        return c
    }

    /// Deletes a container's record with everything it holds in the store (lease, ports).
    /// `onlyIfCreated`: only while the record is still `created`; if it is not, nothing is deleted
    /// or released and the result is false.
    /// The exit status (`exitCode`, else the record's) is kept a while for `hutch wait`
    /// (ExitRecords), except for a container whose creation is undone.
    @discardableResult
    static func forget(_ id: String, in db: Database, onlyIfCreated: Bool = false, exitCode: Int32? = nil) throws -> Bool {
        let r = try ContainerRecord.fetchOne(db, key: id)
        let deleted = try ContainerRecord.delete(id, onlyIfCreated: onlyIfCreated, in: db)
        if onlyIfCreated && !deleted { return false }
        if deleted, let r, r.status != .created, let code = exitCode ?? r.exitCode {
            try ExitRecords.add(id: id, name: r.name, exitCode: code, in: db)
        }
        try release(id, in: db)
        return true
    }

    /// Gives back what a container (or pod) holds in the store: its address lease and host ports.
    static func release(_ owner: String, in db: Database) throws {
        try IPAM.release(in: db, owner: owner)
        try PortReservations.release(in: db, owner: owner)
        try AttachmentRecord.removeAll(container: owner, in: db)
    }

    /// The firewall's view of a container's published ports, derived from the store.
    func forwards(_ c: ContainerRecord) throws -> [PortForward] {
        try store.read { try Self.forwards(c, in: $0) }
    }

    /// Removes a container's DNAT rules (acknowledged by the kernel before this returns) and its
    /// veth. The veth's RTM_DELLINK, like the close of the nftables socket after a delete, makes
    /// the caller wait for the kernel (an RCU grace period; bench/README.md); both are left to a helper that outlives this
    /// process (`hutch-shim linger`, spawned once at exit), so a command returns without that
    /// wait. Usually the kernel has already removed the pair with the container's network
    /// namespace by then. Veth names are unique per container (`hv` + id), so a pair being
    /// removed cannot collide with a new one.
    /// Every step is tried; failures are reported together (and the records stay, so the next
    /// command or `hutch gc` tries again: a stale DNAT rule must never outlive its address lease).
    /// Returns the networks the container had joined with `network connect` (whose names change).
    @discardableResult
    func tearDownNetwork(_ c: ContainerRecord) throws -> [String] {
        var failures = ErrorList()
        let (forwards, joined) = try store.read { db in
            (try Self.forwards(c, in: db), try AttachmentRecord.of(c.id, in: db))
        }
        if !forwards.isEmpty { failures.attempt("remove published ports") { try host.unpublish(forwards) } }
        if let v = c.hostVeth { failures.attempt("delete veth \(v)") { try host.detachLater(hostVeth: v) } }
        for j in joined { failures.attempt("delete veth \(j.hostVeth)") { try host.detachLater(hostVeth: j.hostVeth) } }
        try failures.check("cleanup of container \(c.name) failed", hint: " (hutch gc retries)")
        return joined.map(\.network)
    }

    /// The host ports a container publishes, from the store (the source of truth for rules too).
    public func ports(_ c: ContainerRecord) throws -> [PortMapping] {
        try store.read { try PortReservations.mappings(in: $0, owner: c.id) }
    }

    // MARK: exec

    /// Replaces this process with the shim in exec mode (it joins the container's namespaces and
    /// runs the command), so nothing waits in between. Returns only on failure.
    /// `interactive`: the command gets our stdin (else /dev/null); `tty`: a pseudo-terminal.
    public func exec(_ ref: String, command: [String], env extra: [String], workdir: String?,
                     interactive: Bool = false, tty: Bool = false) throws -> Never {
        let c = try reconcile(try store.container(ref))
        guard c.status == .running, Sys.isAlive(pid: c.pid, start: c.pidStart) else {
            throw HutchError("container \(c.name) is not running")
        }
        if let w = workdir { try Validate.workdir(w) }
        let env = try Self.environment(extra, base: c.env)
        var spec = ShimExecSpec(pid: c.pid, workdir: workdir ?? c.workdir, command: command)
        spec.env = env
        spec.envFile = serviceEnvironmentFile(c.id)
        spec.caps = c.capMask
        spec.noNewPrivs = c.noNewPrivs
        spec.tty = tty
        spec.sandbox = execSandbox(c)
        let args = [ShimLocator.path] + spec.arguments
        if !interactive { try ShimProcess.nullStdin() }
        for (k, v) in spec.environment { setenv(k, v, 1) }
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        execv(ShimLocator.path, &cargs)
        throw HutchError("cannot run \(ShimLocator.path): \(errnoString(errno))")
    }
}

/// A stack of undo steps: on a failed `run` every step already taken is reversed, newest first.
/// Every step is tried; the ones that fail are reported together with the error that made the
/// command undo itself.
struct Undo {
    private var steps: [(String, () throws -> Void)] = []
    mutating func add(_ step: String, _ f: @escaping () throws -> Void) { steps.append((step, f)) }
    mutating func cancel() { steps.removeAll() }

    /// Runs the steps, then returns `error` with the undo failures (if any) added to its line.
    mutating func unwind(after error: any Error) -> any Error {
        var failures = ErrorList()
        while let (step, f) = steps.popLast() { failures.attempt(step, f) }
        if failures.isEmpty { return error }
        let first = error as? HutchError ?? HutchError("\(error)")
        return HutchError(first.message + "; undoing it also failed (hutch gc retries): " + failures.lines.joined(separator: "; "),
                          exitCode: first.exitCode, cause: first)
    }
}

/// While a foreground container runs, the CLI must outlive it to clean up: keyboard signals
/// (which the terminal also delivers to the container directly) are ignored, and SIGTERM/SIGHUP
/// are passed on to the shim, which forwards them to the container.
enum ForegroundSignals {
    nonisolated(unsafe) static var target: pid_t = 0

    static func forward(to pid: pid_t) {
        target = pid
        signal(SIGINT, SIG_IGN)
        signal(SIGQUIT, SIG_IGN)
        let handler: @convention(c) (Int32) -> Void = { sig in
            if ForegroundSignals.target > 0 { _ = Glibc.kill(ForegroundSignals.target, sig) }
        }
        signal(SIGTERM, handler)
        signal(SIGHUP, handler)
    }

    static func restore() {
        target = 0
        for s in [SIGINT, SIGQUIT, SIGTERM, SIGHUP] { signal(s, SIG_DFL) }
    }
}

// MARK: lookups for the CLI (the store stays behind Runtime)

extension Runtime {
    /// A container by name, id or unique id prefix; nil if there is none.
    public func findContainer(_ ref: String) throws -> ContainerRecord? { try store.findContainer(ref) }
    /// A container by name, id or unique id prefix; "no such container" otherwise.
    public func container(_ ref: String) throws -> ContainerRecord { try store.container(ref) }
    /// A pod by name, id or unique id prefix; "no such pod" otherwise.
    public func pod(_ ref: String) throws -> PodRecord { try store.pod(ref) }
    /// A pod's member containers (its infra container not included), oldest first.
    public func members(ofPod id: String) throws -> [ContainerRecord] { try store.members(ofPod: id) }
    /// A network by exact name; nil if there is none.
    public func findNetwork(_ name: String) throws -> NetworkRecord? { try store.network(name) }
}
