#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState
import HutchNet

extension Runtime {
    /// After a reboot every record from the earlier boot is stale: containers are marked exited
    /// (with --rm, removed) and their leases and ports released before anything new is handed out
    /// (Docker handed out duplicate addresses after restarts; host-local leaked leases).
    /// `recorded`: the boot id in the store (read by the caller with the rest of its meta).
    func checkBoot(recorded: String?) throws {
        let boot = Sys.bootID
        if recorded == boot { return }
        for c in try store.containers() where c.bootId != boot && c.status == .running {
            try reconcile(c)
        }
        try store.write { try Store.setMeta("bootId", boot, in: $0) }
    }

    /// What `gc` did: one line per thing cleaned, and one per thing it could not remove.
    public struct GCReport: Sendable {
        public var cleaned: [String] = []
        public var failures = ErrorList()
    }

    /// Finds and repairs what crashes left behind. Every repair is tried; what fails is reported
    /// (and left for the next run) rather than stopping the others.
    /// Touches only hutch's own objects: its records, its folders under the state root, and
    /// leases/ports in its store.
    public func gc() throws -> GCReport {
        var out = GCReport()
        for c in try store.containers() where c.status != .exited {
            out.failures.attempt("container \(c.name) (\(c.shortId))") {
                let r = try reconcile(c)
                if c.status == .created && r.status != .created {
                    out.cleaned.append("container \(c.name) (\(c.shortId)): its creation was interrupted; undone")
                } else if c.status == .running && r.status != .running {
                    out.cleaned.append("container \(c.name) (\(c.shortId)): its monitor was gone; cleaned up")
                }
            }
        }
        var report: [String] = []
        // Pods whose `pod create` was interrupted.
        for p in try store.read({ try PodRecord.all(in: $0) }) where podCreationInterrupted(p) {
            try reconcilePod(p)
            report.append("pod \(p.name) (\(p.shortId)): its creation was interrupted; undone")
        }
        report += try gcIngresses(&out.failures)
        // What exists is listed before the records are read, and orphan leases are picked in the
        // transaction that releases them: a `run` committing meanwhile is never taken for an orphan.
        let folders = (Sys.directoryEntries(store.root + "/containers") ?? []).map(\.name).filter { $0.count == 64 }
        report += try store.write { db -> [String] in
            let ids = try ContainerRecord.allIDs(in: db)
            var out: [String] = []
            for o in try Store.resourceOwners(in: db) where !ids.contains(o) {
                try Self.release(o, in: db)
                out.append("address lease / ports of vanished container \(o.prefix(12)) released")
            }
            return out
        }
        report += try sweepVeths(&out.failures)
        out.failures.attempt("services") { _ = try resyncServices() }
        report += sweepServiceFiles()
        let expired = try store.write { try ExitRecords.prune(in: $0) }
        if expired > 0 { report.append("\(expired) expired exit status(es) of removed containers dropped") }
        let ids = try store.read { try ContainerRecord.allIDs(in: $0) }
        let podIds = try store.read { try PodRecord.all(in: $0) }.map(\.id)
        report += sweepCgroups(ids: Set(ids + podIds))
        for s in folders where !ids.contains(s) {
            Sys.removeTree(containerDir(s))
            report.append("folder of vanished container \(s.prefix(12)) removed")
        }
        out.cleaned += report
        return out
    }

    /// Host-side veths (`hv` + 11 hex) on one of this store's bridges that no live record owns:
    /// left by a CLI that died between releasing a container and exiting (which is when the linger
    /// helper deletes its veth), or kept by a network namespace that something outside hutch
    /// holds. Links are listed before the records are read, so a veth created meanwhile by a
    /// `run` is never taken for an orphan; a veth still there 100 ms later is deleted (one the
    /// kernel is already removing with its namespace is left to it, and not reported).
    func sweepVeths(_ failures: inout ErrorList) throws -> [String] {
        let hex = Set("0123456789abcdef")
        func candidates() throws -> [String] {
            let links = try host.links()
            let bridges = Set(try store.read { try NetworkRecord.all(in: $0) }.compactMap { host.linkIndex($0.bridge) })
            let live = try store.read { try ContainerRecord.liveHostVeths(in: $0) }
            return links.filter { l in
                l.name.count == 13 && l.name.hasPrefix("hv") && l.name.dropFirst(2).allSatisfy(hex.contains)
                    && bridges.contains(l.master) && !live.contains(l.name)
            }.map(\.name)
        }
        let first = try candidates()
        if first.isEmpty { return [] }
        Sys.sleepMS(100)
        let again = Set(try candidates())
        var report: [String] = []
        for name in first where again.contains(name) {
            failures.attempt("delete veth \(name) of a vanished container") {
                if try host.deleteLink(name) { report.append("veth \(name) of a vanished container deleted") }
            }
        }
        return report
    }
}
