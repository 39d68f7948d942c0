#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

extension Runtime {
    /// Creates a pod: records it (reserving the name), then starts its infra container — a pause
    /// process in new net/uts/ipc/pid namespaces, wired and published exactly like a container.
    public func createPod(_ checked: Validated<PodOptions>) throws -> PodRecord {
        let o = checked.options
        let id = Sys.randomID()
        if let n = o.name, let stale = try store.findPod(n) { try reconcilePod(stale) }
        var replaced: PodRecord?
        let pod = try store.write { db -> PodRecord in
            let name = try o.name ?? Names.generate(in: db)
            if o.replace { replaced = try Self.retirePodName(name, in: db) }
            if try PodRecord.exists(named: name, in: db) {
                throw HutchError("the pod name \"\(name)\" is already in use: remove it (hutch pod rm -f \(name)) or pick another --name")
            }
            var hostname = o.hostname ?? name
            if !Validate.isHostname(hostname) { hostname = String(id.prefix(12)) }
            var p = PodRecord(id: id, name: name, hostname: hostname, infraId: "", createdAt: Sys.now(),
                              ownerPid: getpid(), ownerStart: Self.selfStart)
            p.labels = o.labels
            try p.insert(db)
            return p
        }
        Fault.point("pod.after-record")
        var ro = RunOptions()
        ro.name = String(id.prefix(12)) + "-infra"
        ro.network = o.network
        ro.publish = o.publish
        ro.detach = true
        ro.useInit = false
        ro.infraOf = pod
        // The pod's volumes: the infra container holds them (checked there, like a run's), its
        // members get them at run.
        ro.sandbox.volumes = o.volumes
        var infraId = ""
        var podCgroup: [String] = []
        do {
            if let old = replaced { _ = try removePod(old.id, force: true) }
            // The pod's cgroup: its limits hold for all its containers together, whose cgroups
            // are made inside it (Kubernetes' pod cgroups, Podman's pod cgroup parent). Without
            // limits it only serves accounting: a host where hutch cannot make one still runs pods.
            let l = o.limits
            do {
                podCgroup = try Cgroups.create(id: id, limits: l, isParent: true)
                ro.sandbox.cgroupParent = id
            } catch {
                if !l.isEmpty { throw error }
            }
            Fault.point("pod.after-cgroup")
            _ = try run(try ro.validated()) { infraId = $0.id }
            if case .host = o.network {
                // A host-mode infra container only gets /etc/hostname, but members bind the
                // infra's hosts and resolv.conf too: give them an /etc/hosts naming the pod and
                // the host's own resolver configuration (same netns, so loopback servers work).
                let dir = containerDir(infraId)
                try Sys.writeFile(dir + "/hosts", HostsFile(hostname: pod.hostname, name: pod.name, address: nil, gateway: nil).rendered)
                try Sys.writeFile(dir + "/resolv.conf", Sys.readFile("/etc/resolv.conf") ?? "")
            }
            Fault.point("pod.after-infra")
            var done = pod
            done.infraId = infraId
            done.ownerPid = 0
            done.ownerStart = 0
            try store.write { try done.update($0) }
            return done
        } catch {
            // The infra container may already run (a later step failed): it goes with the pod.
            var undo = ErrorList()
            if !infraId.isEmpty { undo.attempt("remove the infra container") { _ = try remove(infraId, force: true, podRemoval: true) } }
            let dirs = podCgroup
            undo.attempt("remove the pod's cgroup") { try Self.removePodCgroup(dirs) }
            undo.attempt("remove the pod's record") { try store.write { _ = try PodRecord.deleteOne($0, key: id) } }
            if undo.isEmpty { throw error }
            throw HutchError("\(error); undoing it also failed (hutch gc retries): " + undo.lines.joined(separator: "; "),
                             exitCode: (error as? HutchError)?.exitCode ?? 125)
        }
    }

    /// Stops a pod: its members first, then the pause process.
    public func stopPod(_ ref: String, timeout: Int) throws -> PodRecord {
        let p = try store.pod(ref)
        _ = try stopAll(store.members(ofPod: p.id), timeout: timeout)
        if try store.findContainer(p.infraId) != nil { _ = try stop(p.infraId, timeout: timeout) }
        return p
    }

    /// Removes a pod: refuses while members run unless `force`; then members, the infra
    /// container (with its rules, lease and veth) and the record.
    public func removePod(_ ref: String, force: Bool) throws -> PodRecord {
        let p = try store.pod(ref)
        let members = try store.members(ofPod: p.id).map { try reconcile($0) }
        let running = members.filter { $0.status == .running }
        if !running.isEmpty && !force {
            throw HutchError("cannot remove pod \(p.name): containers \(running.map(\.name).joined(separator: ", ")) are running; stop them or use pod rm -f")
        }
        for m in members { try removeMember(m) }
        if try store.findContainer(p.infraId) != nil { _ = try remove(p.infraId, force: true, podRemoval: true) }
        // A `run --pod` racing with this removal may have joined after the first sweep; the pause
        // process is gone now (nothing new can join), so one more sweep catches every member.
        for m in try store.members(ofPod: p.id) { try removeMember(m) }
        try Self.removePodCgroup(Cgroups.paths(for: p.id, version: Cgroups.detect()).values.sorted())
        try store.write { _ = try PodRecord.deleteOne($0, key: p.id) }
        return p
    }

    /// The pod's cgroup, once its containers' are gone (a missing one is fine).
    static func removePodCgroup(_ dirs: [String]) throws {
        let left = Cgroups.remove(dirs)
        if !left.isEmpty { throw HutchError("cannot remove the pod's cgroup \(left.joined(separator: ", ")): it still holds containers") }
    }

    /// Removes a pod member; one whose `run --pod` undid itself meanwhile (the pod is going) is
    /// gone already, which is fine; anything else is an error.
    private func removeMember(_ m: ContainerRecord) throws {
        do { _ = try remove(m.id, force: true) } catch {
            if try store.findContainer(m.id) != nil { throw error }
        }
    }

    /// The pod's state as Podman words it: Running while its infra process runs, else Exited.
    public func podStatus(_ p: PodRecord) throws -> (infra: ContainerRecord?, status: String) {
        guard let infra = try store.findContainer(p.infraId) else { return (nil, "Exited") }
        let r = try reconcile(infra)
        return (r, r.status == .running ? "Running" : "Exited")
    }

    public func pods() throws -> [PodRecord] {
        try store.read { try PodRecord.all(in: $0) }.compactMap { try reconcilePod($0) }
    }

    /// A pod whose `pod create` died half-way (its creator is gone before it finished).
    func podCreationInterrupted(_ p: PodRecord) -> Bool {
        p.ownerPid != 0 && !(Sys.isAlive(pid: p.ownerPid, start: p.ownerStart))
    }

    /// Undoes an interrupted `pod create`: its infra container (rules, lease, veth, process) and
    /// its record. Returns nil when the pod was removed.
    @discardableResult
    func reconcilePod(_ p: PodRecord) throws -> PodRecord? {
        guard podCreationInterrupted(p) else { return p }
        let infras = try store.read { try ContainerRecord.all(inPod: p.id, in: $0) }
        for c in infras { _ = try? remove(c.id, force: true, podRemoval: true) }
        try Self.removePodCgroup(Cgroups.paths(for: p.id, version: Cgroups.detect()).values.sorted())
        try store.write { _ = try PodRecord.deleteOne($0, key: p.id) }
        return nil
    }
}
