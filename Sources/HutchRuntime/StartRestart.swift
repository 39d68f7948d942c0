#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

/// `hutch start`, `hutch restart`, restart policies (issue 14 §3), and the steps `run` shares
/// with `start`: the shim's options from a record, and launching it.
extension Runtime {
    // MARK: the one place a container becomes running or stops

    /// A container's process has just started (run, start, or its monitor restarted it). The
    /// place for whatever tracks running containers (names today; services) to hook in.
    func didStart(_ c: ContainerRecord) {
        refreshNames(network: c.network)
    }

    /// A container's process has stopped: for good (cleanup; `networks`: the extra ones it had
    /// joined), or until its monitor restarts it (`restarting`).
    func didStop(_ c: ContainerRecord, networks: [String] = []) {
        refreshNames(network: c.network)
        for n in networks { refreshNames(network: n) }
    }

    // MARK: shared by run and start

    /// The shim's options for a container as its record describes it.
    func shimSpec(_ r: ContainerRecord, joined: ContainerRecord?, binds: [String], sandbox: ShimSandbox) -> ShimRunSpec {
        var spec = ShimRunSpec()
        if let j = joined {
            spec.net = .join("/proc/\(j.pid)/ns/net")
            spec.uts = .join("/proc/\(j.pid)/ns/uts")
            if r.pod != nil { spec.ipc = .join("/proc/\(j.pid)/ns/ipc") }
        } else {
            if r.networkMode == NetworkMode.host.description { spec.net = .host }
            spec.hostname = r.hostname
        }
        spec.binds = binds
        spec.workdir = r.workdir
        spec.env = r.env
        spec.envFile = serviceEnvironmentFile(r.id)
        spec.pid1 = r.isInfra ? .pause : r.useInit ? .initProcess : .command
        spec.tty = r.tty
        spec.openStdin = r.openStdin
        spec.caps = r.capMask
        spec.noNewPrivs = r.noNewPrivs
        let dir = containerDir(r.id)
        spec.exitFile = dir + "/exit"
        if r.detached { spec.log = logPath(r.id); spec.detach = true }
        // No --firewall: the exit and restart commands use the backend recorded when they run.
        let hutch = [ShimLocator.hutchPath, "--root", store.root]
        spec.exitCommand = hutch + ["cleanup", r.id]
        if r.restartPolicy.name != .no {
            spec.restart = r.restartPolicy.description
            spec.stopFile = stopFile(r.id)
            spec.restartCommand = hutch + ["shim-event", r.id]
        }
        if !r.isInfra { spec.command = r.command }
        spec.sandbox = sandbox
        return spec
    }

    /// The last steps of `run` and `start`: the bridge (made on first use), the shim, the
    /// network wired while the container's first process waits, the record made running by
    /// `claim` (a compare-and-swap that throws when the record changed meanwhile), the process
    /// released. Each step that leaves something behind adds its undo step.
    func launch(_ record: ContainerRecord, spec: ShimRunSpec, network net: NetworkRecord?, ports: [PortMapping],
                stdin: Bool, terminal: Bool, undo: inout Undo,
                claim: (ContainerRecord, Database) throws -> Void) throws -> (any RunningShim, ContainerRecord) {
        var bridge: BridgeNetwork?
        if let n = net {
            let s = BridgeNetwork(n)
            bridge = s
            try host.ensureBridge(s)
            Fault.point("run.after-bridge")
            Timeline.mark("bridge")
        }

        let shim = try shims.start(spec, detached: spec.detach, stdin: stdin, terminal: terminal)
        undo.add("stop the shim") { shim.abort() }
        Timeline.mark("shim-spawned")
        let pid = try shim.readContainerPid()
        Timeline.mark("child-pid")
        guard let shimStart = Sys.processStartTime(shim.pid), let pidStart = Sys.processStartTime(pid) else {
            throw HutchError("the container's process exited during setup")
        }
        Fault.point("run.after-spawn")

        if let s = bridge, let a = record.ipAddress, let veth = record.hostVeth {
            try host.attach(s, containerPid: pid, hostVeth: veth, address: a)
            undo.add("delete veth \(veth)") { [host] in try host.detach(hostVeth: veth) }
            Fault.point("run.after-attach")
            if !ports.isEmpty {
                let forwards = ports.map { PortForward(owner: record.id, mapping: $0, containerIP: a, network: s) }
                try host.publish(forwards)
                undo.add("remove the published ports' rules") { [host] in try host.unpublish(forwards) }
                Fault.point("run.after-ports")
            }
        }
        Timeline.mark("wired")

        var running = record
        running.status = .running
        running.shimPid = shim.pid; running.shimStart = shimStart
        running.pid = pid; running.pidStart = pidStart
        running.startedAt = Sys.now()
        running.restarting = false
        try store.write { try claim(running, $0) }
        Fault.point("run.after-running")
        didStart(running)
        try syncEndpoints([record.id])
        undo.add("take it out of the services it serves") { [self] in try syncEndpoints([record.id], leaving: true) }
        Timeline.mark("recorded")

        do {
            try shim.release()
        } catch {
            // The shim has reported the failure and exits on its own; reap it before unwinding.
            // With a restart policy it would start the command again: a command that cannot
            // start is an error of this command instead (Docker), so the shim goes now.
            if spec.restart != nil { Glibc.kill(shim.pid, SIGKILL) }
            _ = shim.waitExit()
            throw error
        }
        return (shim, running)
    }

    // MARK: start, restart

    /// `hutch start`: an exited container runs its command again, detached, with the same name,
    /// id, address, published ports and sandbox. A running one is left as it is (Docker's no-op).
    /// Any failure undoes every step and leaves the container exited.
    public func start(_ ref: String) throws -> ContainerRecord {
        let c = try reconcile(try store.container(ref))
        switch c.status {
        case .running: return c
        case .created: throw HutchError("cannot start container \(c.name): it is still being created")
        case .exited: break
        }
        if c.isInfra {
            throw HutchError("cannot start container \(c.name): it is the infra container of a pod whose namespaces are gone; remove the pod and create it again")
        }
        var undo = Undo()
        do {
            return try start(c, undo: &undo)
        } catch {
            throw undo.unwind(after: error)
        }
    }

    private func start(_ c: ContainerRecord, undo: inout Undo) throws -> ContainerRecord {
        // 1. What it joins must be running; its network must still exist.
        var joined: ContainerRecord?
        if let j = c.joinedId {
            guard let t = try store.read({ try ContainerRecord.fetchOne($0, key: j) }), try reconcile(t).status == .running,
                  let cur = try store.read({ try ContainerRecord.fetchOne($0, key: j) }), !cur.restarting else {
                throw HutchError("cannot start container \(c.name): the container whose namespaces it joins (\(j.prefix(12))) is not running")
            }
            joined = cur
        }
        var net: NetworkRecord?
        if let name = c.network {
            guard let n = try store.network(name) else {
                throw HutchError("cannot start container \(c.name): its network \(name) was removed; remove the container and run it again")
            }
            net = n
        }

        // 2. Claim it (exited -> running under this process, as a run's record is "created"
        //    under its CLI: if this process dies half-way, reconcile cleans up), its address and
        //    host ports reserved again.
        let me = getpid()
        let (claimed, ports) = try store.write { db -> (ContainerRecord, [PortMapping]) in
            guard var r = try ContainerRecord.fetchOne(db, key: c.id), r.status == .exited else {
                throw HutchError("cannot start container \(c.name): it was started or removed meanwhile")
            }
            if let n = net, let ip = r.ipAddress {
                if let owner = try IPAM.holder(in: db, network: n.name, ip: ip), owner != r.id {
                    let who = try ContainerRecord.fetchOne(db, key: owner).map { "container \($0.name)" } ?? String(owner.prefix(12))
                    throw HutchError("cannot start container \(c.name): its address \(ip) on network \(n.name) is now used by \(who); stop that one, or remove \(c.name) and run it again")
                }
                _ = try IPAM.allocate(in: db, network: n, owner: r.id, requested: ip)
            }
            let ports: [PortMapping]
            do {
                ports = try PortReservations.reserve(in: db, owner: r.id, specs: r.published.map { PublishSpec.Parsed(mappings: [$0]) },
                                                     isFreeOnHost: host.isPortFree)
            } catch let e as HutchError {
                throw HutchError("cannot start container \(c.name): \(e.message)")
            }
            r.status = .running
            r.shimPid = me; r.shimStart = Self.selfStart
            r.pid = 0; r.pidStart = 0
            r.exitCode = nil
            r.restartCount = 0; r.restarting = false
            r.bootId = Sys.bootID
            // Its output goes to its log from now on (a foreground container's went to a terminal).
            r.detached = true
            try r.update(db)
            return (r, ports)
        }
        undo.add("give the address and ports back") { [store] in
            try store.write { db in
                try Self.release(c.id, in: db)
                guard var r = try ContainerRecord.fetchOne(db, key: c.id), r.shimPid == me else { return }
                r.status = .exited; r.exitCode = c.exitCode; r.finishedAt = c.finishedAt; r.detached = c.detached
                try r.update(db)
            }
        }
        Fault.point("start.after-reserve")
        unlink(stopFile(c.id))

        // 3. The sandbox again: its cgroup (limits written); the compiled seccomp profile and the
        //    generated /etc files are still in its folder.
        let dir = containerDir(c.id)
        guard Self.isDirectory(dir) else {
            throw HutchError("cannot start container \(c.name): its folder \(dir) is gone; remove the container and run it again")
        }
        var sandbox = claimed.sandbox
        sandbox.oomKilled = false
        var shimSandbox = try startSandbox(&sandbox, seccomp: nil, id: c.id, dir: dir, undo: &undo)
        if access(dir + "/seccomp", R_OK) == 0 { shimSandbox.seccomp = dir + "/seccomp" }
        var launching = claimed
        launching.sandbox = sandbox

        // 4. The shim, the network, running, released.
        let spec = shimSpec(launching, joined: joined, binds: etcBinds(launching, joined: joined), sandbox: shimSandbox)
        let (_, running) = try launch(launching, spec: spec, network: net, ports: ports, stdin: false, terminal: false,
                                      undo: &undo) { r, db in
            guard try r.updateIfMonitored(by: me, db) else {
                throw HutchError("container \(c.name) was removed while it was being started")
            }
        }
        undo.cancel()

        // 5. The networks it had joined with `network connect`, in their order (eth1, eth2...).
        //    One that cannot be joined again stops it: started only half-way is not started.
        for entry in running.connected {
            let f = entry.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3 else { continue }
            do {
                _ = try connect(network: f[0], container: c.id, ip: IPv4Address(f[1]),
                                aliases: f[2].split(separator: ",").map(String.init))
            } catch let e as HutchError {
                _ = try? stopAll([try store.container(c.id)], timeout: 0)
                // Its list stays whole for the next start (its cleanup saw only those joined).
                try store.write { db in
                    guard var r = try ContainerRecord.fetchOne(db, key: c.id) else { return }
                    r.connected = running.connected
                    try r.update(db)
                }
                throw HutchError("cannot start container \(c.name): joining network \(f[0]) again failed: \(e.message)")
            }
        }
        return running
    }

    /// `start -a`: while attached, SIGINT, SIGTERM and SIGHUP sent to this process go to the
    /// container (through its monitor, which forwards them to its first process), as Docker's
    /// sig-proxy does; the container runs in a session of its own, so the terminal's ^C reaches
    /// only this process.
    public func proxySignals(to c: ContainerRecord) {
        AttachedSignals.target = c.shimPid
        let handler: @convention(c) (Int32) -> Void = { sig in
            if AttachedSignals.target > 0 { _ = Glibc.kill(AttachedSignals.target, sig) }
        }
        for s in [SIGINT, SIGTERM, SIGHUP] { signal(s, handler) }
    }

    /// The generated /etc files a container's mount namespace gets (those of the container whose
    /// namespaces it joins, if any).
    func etcBinds(_ c: ContainerRecord, joined: ContainerRecord?) -> [String] {
        if let j = joined { return ["hosts", "hostname", "resolv.conf"].map { "\(containerDir(j.id))/\($0):/etc/\($0)" } }
        let dir = containerDir(c.id)
        if c.networkMode == NetworkMode.host.description { return ["\(dir)/hostname:/etc/hostname"] }
        return ["hosts", "hostname", "resolv.conf"].map { "\(dir)/\($0):/etc/\($0)" }
    }

    /// `hutch restart`: stop (SIGTERM, SIGKILL after `timeout` seconds) if running, then start.
    public func restart(_ ref: String, timeout: Int) throws -> ContainerRecord {
        let c = try store.container(ref)
        _ = try stopAll([c], timeout: timeout)
        return try start(c.id)
    }

    // MARK: restart policies

    /// The file whose existence tells a container's monitor to restart it no more.
    func stopFile(_ id: String) -> String { containerDir(id) + "/stopped" }

    /// A user's stop or kill: the monitor restarts the container no more (Docker's "manually
    /// stopped"; a `start` clears it).
    func markStopped(_ c: ContainerRecord) {
        guard c.restartPolicy.name != .no else { return }
        let fd = open(stopFile(c.id), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
    }

    /// Stops containers with a restart policy: marked stopped first; one waiting to restart has
    /// no process, so its monitor is told (SIGTERM ends its wait); then SIGTERM to the process
    /// that runs, SIGKILL after `timeout` seconds, also to one its monitor started meanwhile.
    func stopRestartable(_ list: [ContainerRecord], timeout: Int) throws -> [ContainerRecord] {
        for c in list { markStopped(c) }
        var signaled: [String: Int32] = [:]
        for c in list {
            if Sys.isAlive(pid: c.pid, start: c.pidStart) { Glibc.kill(c.pid, SIGTERM); signaled[c.id] = c.pid }
            else if Sys.isAlive(pid: c.shimPid, start: c.shimStart) { Glibc.kill(c.shimPid, SIGTERM) }
        }
        var waited = 0
        var out: [ContainerRecord] = []
        for c in list {
            while true {
                guard let cur = try store.read({ try ContainerRecord.fetchOne($0, key: c.id) }), cur.status == .running,
                      Sys.isAlive(pid: cur.shimPid, start: cur.shimStart) else { break }
                if Sys.isAlive(pid: cur.pid, start: cur.pidStart) {
                    if waited >= timeout * 1000 { Glibc.kill(cur.pid, SIGKILL) }
                    else if signaled[c.id] != cur.pid { Glibc.kill(cur.pid, SIGTERM); signaled[c.id] = cur.pid }
                }
                waited += Self.pollPause(waited)
            }
            out.append(try waitExited(c))
        }
        return out
    }

    /// `hutch shim-event ID restarting CODE | started PID`: what a container's monitor reports
    /// around a restart. Only the monitor that runs the container (this process's parent) is
    /// listened to: a record removed or taken over meanwhile is left alone.
    public func shimEvent(_ id: String, event: String, value: Int32) throws {
        let monitor = getppid()
        let changed = try store.write { db -> ContainerRecord? in
            guard var r = try ContainerRecord.fetchOne(db, key: id), r.status == .running, r.shimPid == monitor else { return nil }
            switch event {
            case "restarting":
                r.restarting = true
                r.exitCode = value
                r.restartCount += 1
                r.finishedAt = Sys.now()
            case "started":
                r.restarting = false
                r.pid = value
                r.pidStart = Sys.processStartTime(value) ?? 0
                r.startedAt = Sys.now()
            default:
                throw HutchError("unknown shim event \"\(event)\": use restarting or started")
            }
            try r.update(db)
            return r
        }
        guard let r = changed else { return }
        // Out of its services while it waits to restart, back in once it runs again.
        syncEndpointsReporting([r.id], leaving: r.restarting)
        if r.restarting { didStop(r) } else { didStart(r) }
    }
}

/// The monitor that `start -a` passes signals to.
enum AttachedSignals {
    nonisolated(unsafe) static var target: pid_t = 0
}
