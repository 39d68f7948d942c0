#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

// `--replace` (run, pod create) and the look-ups behind `exists` and `--ignore`.
extension Runtime {
    /// Removes `old` (force) inside the caller's write transaction — the one that gives its name
    /// to the new container — so that no other hutch command ever sees the name free, nor both
    /// containers holding it. Its processes are killed and its rules and veth removed while the
    /// store's write lock is held; if the transaction then fails, it rolls back to a record whose
    /// processes are gone, which the next command's reconcile cleans up as an exited container.
    /// Its folder goes after the commit (`run`).
    func retire(_ old: ContainerRecord, in db: Database) throws -> ContainerRecord {
        if old.isInfra {
            throw HutchError("cannot replace container \(old.name): it is the infra container of a pod (remove the pod instead)")
        }
        let forwards = try Self.forwards(old, in: db)
        if old.status == .running {
            // As `rm -f`: the monitor first, so that it starts no cleanup of its own.
            if Sys.isAlive(pid: old.shimPid, start: old.shimStart) { Glibc.kill(old.shimPid, SIGKILL) }
            if Sys.isAlive(pid: old.pid, start: old.pidStart) { Glibc.kill(old.pid, SIGKILL) }
            guard waitGone(pid: old.pid, start: old.pidStart, timeoutMS: 10_000) else {
                throw HutchError("cannot replace container \(old.name): its process (pid \(old.pid)) did not exit after SIGKILL")
            }
        }
        // A `created` record whose `hutch run` is still under way: that run finds its record gone
        // and undoes itself (as with `rm -f`).
        var failures = ErrorList()
        if !forwards.isEmpty { failures.attempt("remove published ports") { try host.unpublish(forwards) } }
        if let v = old.hostVeth { failures.attempt("delete veth \(v)") { try host.detachLater(hostVeth: v) } }
        for j in try AttachmentRecord.of(old.id, in: db) {
            failures.attempt("delete veth \(j.hostVeth)") { try host.detachLater(hostVeth: j.hostVeth) }
        }
        if old.status != .created { failures.attempt("remove the cgroup") { _ = try stopSandbox(old) } }
        try failures.check("cannot replace container \(old.name)", hint: " (hutch gc retries its cleanup)")
        try Self.forget(old.id, in: db)
        return old
    }

    /// A container's published ports as firewall forwards, read inside a transaction.
    static func forwards(_ c: ContainerRecord, in db: Database) throws -> [PortForward] {
        guard let ip = c.ipAddress, let netName = c.network else { return [] }
        let mappings = try PortReservations.mappings(in: db, owner: c.id)
        guard !mappings.isEmpty, let n = try NetworkRecord.fetchOne(db, key: netName) else { return [] }
        let spec = BridgeNetwork(n)
        return mappings.map { PortForward(owner: c.id, mapping: $0, containerIP: ip, network: spec) }
    }

    /// `pod create --replace`: inside the transaction that reserves the name, the old pod takes a
    /// name no user can give (`NAME~replaced~ID`), so the name passes straight to the new pod;
    /// the old one is then removed (`removePod`, force) before the new infra container starts.
    /// A crash in between leaves the old pod visible under that name, removable with `pod rm`.
    static func retirePodName(_ name: String, in db: Database) throws -> PodRecord? {
        guard var old = try PodRecord.named(name, in: db) else { return nil }
        old.name = "\(name)~replaced~\(old.shortId)"
        try old.update(db)
        return old
    }

    /// A pod by name, id or unique id prefix (an interrupted `pod create` counts as none).
    public func findPod(_ ref: String) throws -> PodRecord? {
        guard let p = try store.findPod(ref) else { return nil }
        return try reconcilePod(p)
    }

    /// A network by name or id prefix; nil if there is none.
    public func findNetworkRef(_ ref: String) throws -> NetworkRecord? {
        if let n = try store.network(ref) { return n }
        return try networks().first { $0.id.hasPrefix(ref) && ref.count >= 3 }
    }

    /// A container by name, id or unique id prefix, brought in line with reality; nil if there is
    /// none (a `--rm` container that has exited is gone).
    /// If the record found vanishes while it is being reconciled (a `--replace` retired it, or it
    /// was an exited `--rm` container), the name is looked up again: a replacement may hold it.
    public func existingContainer(_ ref: String) throws -> ContainerRecord? {
        var seen = Set<String>()
        while let c = try store.findContainer(ref), seen.insert(c.id).inserted {
            let r = try reconcile(c)
            if try store.findContainer(r.id) != nil { return r }
        }
        return nil
    }
}
