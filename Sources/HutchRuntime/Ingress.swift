#if canImport(Glibc)
import Glibc
#endif
import HutchModel
import HutchOS
import HutchState

/// Ingresses (issue 17): ingress-nginx's idea without its controller daemon. hutch renders
/// nginx.conf from the rules and the services' endpoints (`NginxConfig`), checks it with
/// `nginx -t`, renames it into place and sends SIGHUP to the nginx master, which starts workers
/// on the new configuration while the old ones finish their requests.
///
/// nginx runs as an ordinary detached hutch container, `ingress-NAME`, on the default bridge (or
/// `--network`'s) with
/// the ingress's `-p` ports: nginx is its first process (it reaps its own workers), the root is
/// read-only, the ingress's folder (STATE/ingress/ID: nginx.conf, TLS files, temp folders, pid)
/// is bind-mounted on /etc/nginx, and it keeps only NET_BIND_SERVICE, SETUID and SETGID (the
/// master binds port 80/443 and starts its workers as nobody; the temp folders are made theirs
/// beforehand, so nginx needs no CHOWN).
extension Runtime {
    /// The nginx binary (Debian's nginx-light) and where the ingress folder appears in the container.
    static let nginxBinary = "/usr/sbin/nginx"
    static let nginxPrefix = "/etc/nginx"
    static let unshareBinary = "/usr/bin/unshare"
    static let ingressCaps: [String] = ["NET_BIND_SERVICE", "SETUID", "SETGID"]
    static let ingressLabel = "hutch.ingress"
    /// nginx comes back if it dies (its shim restarts it in the same network namespace, so the
    /// published ports stay); `hutch stop ingress-NAME` stops it for good, as for any container.
    static let ingressRestart = RestartPolicy(.always)

    public func ingressDir(_ id: String) -> String { store.root + "/ingress/" + id }

    // MARK: create

    /// Creates an ingress: records it (reserving the name), makes its folder, renders and checks
    /// its configuration, then starts the nginx container. Any failure undoes every step.
    public func createIngress(_ checked: Validated<IngressOptions>) throws -> IngressRecord {
        let o = checked.options
        guard access(Self.nginxBinary, X_OK) == 0 else {
            throw HutchError("nginx is not installed (\(Self.nginxBinary)): install it (apt-get install nginx-light) to run an ingress")
        }
        guard Self.isDirectory(Self.nginxPrefix) else {
            throw HutchError("\(Self.nginxPrefix) does not exist: reinstall nginx-light (hutch mounts the ingress's folder there)")
        }
        // Certificates and keys: the default one, then one per --tls host (read before anything is made).
        var pems: [(file: String, text: String)] = []
        if let c = o.tlsCert, let k = o.tlsKey {
            pems += [(NginxConfig.certFile(), try Self.readPEM(c, flag: "--tls-cert")),
                     (NginxConfig.keyFile(), try Self.readPEM(k, flag: "--tls-key"))]
        }
        for (i, t) in o.tlsHosts.enumerated() {
            pems += [(NginxConfig.hostCertFile(i), try Self.readPEM(t.cert, flag: "--tls \(t.host)=")),
                     (NginxConfig.hostKeyFile(i), try Self.readPEM(t.key, flag: "--tls \(t.host)="))]
        }
        let worker = try Self.workerUser()
        if let stale = try store.read({ try IngressRecord.fetchOne($0, key: o.name) }) { try reconcileIngress(stale) }

        let id = Sys.randomID()
        let containerName = IngressRecord.containerName(o.name)
        var undo = Undo()
        do {
            try store.write { db in
                if try IngressRecord.fetchOne(db, key: o.name) != nil {
                    throw HutchError("the ingress name \"\(o.name)\" is already in use: remove it (hutch ingress rm \(o.name)) or pick another name")
                }
                if let c = try ContainerRecord.named(containerName, in: db) {
                    throw HutchError("the container name \"\(containerName)\" (the ingress's nginx) is already in use by container \(c.shortId): remove it or pick another ingress name")
                }
                var record = IngressRecord(name: o.name, id: id, container: "", rules: o.rules, defaultBackend: o.defaultBackend,
                                           tls: o.tlsCert != nil, createdAt: Sys.now(), ownerPid: getpid(), ownerStart: Self.selfStart)
                record.tlsHosts = o.tlsHosts.map(\.host)
                record.serviceUpstream = o.serviceUpstream
                _ = try self.resolveIngressBackends(record.backends, in: db)
                try record.insert(db)
            }
            undo.add("remove the ingress's record") { [store] in _ = try store.write { try IngressRecord.deleteOne($0, key: o.name) } }
            Fault.point("ingress.after-record")

            // The folder: configuration and TLS files (root's), temp folders (the workers').
            let dir = ingressDir(id)
            try Sys.mkdirs(dir, mode: 0o711)
            undo.add("remove \(dir)") { Sys.removeTree(dir) }
            for t in NginxConfig.tempDirs {
                try Sys.mkdirs(dir + "/" + t, mode: 0o700)
                guard chown(dir + "/" + t, worker.uid, worker.gid) == 0 else { throw HutchError.sys("chown \(dir)/\(t)", errno) }
            }
            for p in pems { try Sys.writeFile(dir + "/" + p.file, p.text, mode: 0o600, atomic: false) }
            _ = try applyIngressConfig(name: o.name, signal: false)
            Fault.point("ingress.after-config")

            // The nginx container.
            var ro = RunOptions()
            ro.name = containerName
            ro.publish = o.publish
            ro.network = .bridge(o.network)
            ro.detach = true
            ro.restart = Self.ingressRestart
            ro.useInit = false
            ro.capMask = Capabilities.hex(try Capabilities.mask(add: Self.ingressCaps, drop: ["ALL"]))
            ro.sandbox.readOnly = true
            ro.sandbox.volumes = [Sandbox.Volume(source: dir, target: Self.nginxPrefix, readOnly: false)]
            ro.labels = Labels(stored: ["\(Self.ingressLabel)=\(o.name)"])
            ro.command = [Self.nginxBinary, "-p", Self.nginxPrefix + "/", "-c", "nginx.conf", "-e", "stderr"]
            var started: ContainerRecord?
            _ = try run(try ro.validated()) { started = $0 }
            guard let c = started else { throw HutchError("the ingress's nginx container did not start") }
            undo.add("remove the nginx container") { [self] in _ = try remove(c.id, force: true) }
            Fault.point("ingress.after-container")
            // Until nginx catches SIGHUP a reload would be lost: wait for its start-up (or its exit).
            try waitForNginx(c)
            try Self.markApplied(dir)

            let done = try store.write { db -> IngressRecord in
                guard var r = try IngressRecord.fetchOne(db, key: o.name) else {
                    throw HutchError("ingress \(o.name) was removed while it was being created")
                }
                r.container = c.id
                r.ownerPid = 0
                r.ownerStart = 0
                try r.update(db)
                return r
            }
            undo.cancel()
            // Endpoints that changed while nginx started: one more render (a no-op when unchanged;
            // if it fails, nginx keeps the configuration it started with and the next change retries).
            refreshIngressesReporting(only: o.name)
            return done
        } catch {
            throw undo.unwind(after: error)
        }
    }

    /// The worker processes' user: nobody, with its primary group (its name for nginx's `user`).
    static func workerUser() throws -> (name: String, group: String, uid: uid_t, gid: gid_t) {
        guard let pw = getpwnam("nobody") else { throw HutchError("there is no user nobody for nginx's worker processes") }
        let uid = pw.pointee.pw_uid, gid = pw.pointee.pw_gid
        guard let gr = getgrgid(gid) else { throw HutchError("user nobody's group \(gid) has no name in /etc/group") }
        return ("nobody", String(cString: gr.pointee.gr_name), uid, gid)
    }

    static func readPEM(_ path: String, flag: String) throws -> String {
        guard let text = Sys.readFile(path, limit: 1 << 20) else {
            throw HutchError("cannot read \(flag) \(path): \(errnoString(errno))")
        }
        guard text.contains("-----BEGIN ") else { throw HutchError("invalid \(flag) \(path): not a PEM file (no -----BEGIN line)") }
        return text
    }

    /// Waits until nginx's master handles SIGHUP (it has read its configuration and set up its
    /// signals), or fails with its last log line if it exited.
    func waitForNginx(_ c: ContainerRecord) throws {
        var waited = 0
        while waited < 10_000 {
            if Self.catchesHangup(c.pid) { return }
            if !Sys.isAlive(pid: c.pid, start: c.pidStart) { break }
            waited += Self.pollPause(waited)
        }
        let log = (Sys.readFile(logPath(c.id)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
        throw HutchError("nginx did not start" + (log.isEmpty ? "" : ": \(log)"))
    }

    /// Whether process `pid` has a handler for SIGHUP (SigCgt in /proc/PID/status).
    static func catchesHangup(_ pid: Int32) -> Bool {
        guard let status = Sys.readFile("/proc/\(pid)/status", limit: 8192),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(String(line.dropFirst(7)).trimmingSpaces(), radix: 16) else { return false }
        return mask & (UInt64(1) << UInt64(SIGHUP - 1)) != 0
    }

    // MARK: configuration

    /// Renders the ingress's configuration from the store as it is now, and when it differs from
    /// the one in place: checks it with `nginx -t`, renames it into place, and (`signal`) makes
    /// the running nginx reload it. Serialised per ingress by a lock on its folder, so the last
    /// writer renders the newest state. Returns whether the configuration changed.
    /// `change`: a change of the record to check and record (ingress update) in the same step.
    /// `certificates`: new TLS files (ingress update), written as a new generation under the
    /// lock; removed again if nginx rejects them, the older generations once they are replaced.
    @discardableResult
    func applyIngressConfig(name: String, signal: Bool = true,
                            change: ((inout IngressRecord) -> Void)? = nil,
                            certificates: IngressCertificates? = nil) throws -> Bool {
        guard let first = try store.read({ try IngressRecord.fetchOne($0, key: name) }) else { return false }
        let dir = ingressDir(first.id)
        guard Self.isDirectory(dir) else { return false }
        let lock = Sys.lockFile(dir + "/lock")
        defer { Sys.unlockFile(lock) }
        // Read again under the lock: the newest rules and endpoints.
        let (record, upstreams) = try store.read { db -> (IngressRecord?, [IngressBackend: [UpstreamEndpoint]]) in
            guard var r = try IngressRecord.fetchOne(db, key: name), r.id == first.id else { return (nil, [:]) }
            change?(&r)
            return (r, try self.resolveIngressBackends(r.backends, in: db, strict: false, serviceUpstream: r.serviceUpstream))
        }
        guard var r = record else { return false }
        var written: [(name: String, origin: String)] = []
        func removeWritten() { for f in written { unlink(dir + "/" + f.name) } }
        if let certs = certificates {
            do { try writeCertificates(certs, dir: dir, record: &r, written: &written) } catch {
                removeWritten()
                throw error
            }
        }
        let worker = try Self.workerUser()
        var config = NginxConfig(ingress: r.name, rules: r.rules, defaultBackend: r.defaultBackend, upstreams: upstreams,
                                 tls: r.tls, tlsHosts: r.tlsHosts, user: worker.name, group: worker.group)
        config.tlsGeneration = r.tlsGeneration
        config.serviceUpstream = r.serviceUpstream
        let text = config.rendered
        let path = dir + "/nginx.conf"
        let changed = Sys.readFile(path) != text
        // A configuration put in place that the running nginx never got (a crash between the
        // rename and the reload) is newer than the mark of the last reload.
        let pending = !changed && Self.mtime(path) > Self.mtime(dir + "/" + Self.appliedMark)
        if changed {
            do {
                try Sys.writeFile(path + ".new", text, mode: 0o644, atomic: false)
                try Self.testNginxConfig(dir: dir, file: "nginx.conf.new")
            } catch {
                unlink(path + ".new")
                removeWritten()
                // nginx names the folder's copy of a file: say which file the user gave.
                guard !written.isEmpty else { throw error }
                var why = "\(error)"
                for f in written { why = why.replacing("\"\(dir)/\(f.name)\"", with: f.origin) }
                throw HutchError(why)
            }
        }
        if change != nil || certificates != nil {
            do {
                try store.write { db in
                    guard var cur = try IngressRecord.fetchOne(db, key: name), cur.id == r.id else {
                        throw HutchError("ingress \(name) was removed meanwhile")
                    }
                    cur.rules = r.rules; cur.defaultBackend = r.defaultBackend
                    cur.tls = r.tls; cur.tlsHosts = r.tlsHosts; cur.tlsGeneration = r.tlsGeneration
                    try cur.update(db)
                }
            } catch {
                unlink(path + ".new")
                removeWritten()
                throw error
            }
        }
        guard changed || pending else { return false }
        if changed {
            guard Glibc.rename(path + ".new", path) == 0 else { throw HutchError.sys("rename \(path).new", errno) }
            Fault.point("ingress.after-rename")
        }
        // The configuration in place names this generation's TLS files only: the older ones go
        // (the running workers hold their certificates in memory), also those a change cut
        // short left behind.
        if changed {
            Self.removeTLSFiles(dir: dir, keeping: Set(NginxConfig.tlsFiles(tls: r.tls, hosts: r.tlsHosts.count, generation: r.tlsGeneration)))
        }
        if signal, !r.container.isEmpty, let c = try store.findContainer(r.container) {
            if try reloadNginx(c) { try Self.markApplied(dir) }
        }
        return changed
    }

    /// Writes the TLS files of a certificate change as the next generation: the new default
    /// certificate and key, or (else) the current ones copied; likewise the per-host ones.
    /// Changes the record to match; `written`: each file written, with where its text came from.
    func writeCertificates(_ certs: IngressCertificates, dir: String, record r: inout IngressRecord,
                           written: inout [(name: String, origin: String)]) throws {
        typealias PEM = IngressCertificates.PEM
        let old = r.tlsGeneration, gen = old + 1
        func current(_ file: String) throws -> PEM {
            guard let text = Sys.readFile(dir + "/" + file, limit: 1 << 20) else {
                throw HutchError("cannot read the ingress's \(dir)/\(file): \(errnoString(errno)); give its certificate and key again")
            }
            return PEM(text: text, origin: "the certificate in use (\(file))")
        }
        var files: [(name: String, pem: PEM)] = []
        if let d = certs.defaultPair {
            files += [(NginxConfig.certFile(gen), d.cert), (NginxConfig.keyFile(gen), d.key)]
        } else if r.tls {
            files += [(NginxConfig.certFile(gen), try current(NginxConfig.certFile(old))),
                      (NginxConfig.keyFile(gen), try current(NginxConfig.keyFile(old)))]
        }
        var hosts = r.tlsHosts
        if let given = certs.hosts {
            hosts = given.map(\.host)
            for (i, h) in given.enumerated() {
                files += [(NginxConfig.hostCertFile(i, gen), h.cert), (NginxConfig.hostKeyFile(i, gen), h.key)]
            }
        } else {
            for i in hosts.indices {
                files += [(NginxConfig.hostCertFile(i, gen), try current(NginxConfig.hostCertFile(i, old))),
                          (NginxConfig.hostKeyFile(i, gen), try current(NginxConfig.hostKeyFile(i, old)))]
            }
        }
        for f in files {
            written.append((f.name, f.pem.origin))
            try Sys.writeFile(dir + "/" + f.name, f.pem.text, mode: 0o600, atomic: false)
        }
        r.tls = r.tls || certs.defaultPair != nil
        r.tlsHosts = hosts
        r.tlsGeneration = gen
    }

    /// Removes the folder's TLS files but `keeping`.
    static func removeTLSFiles(dir: String, keeping: Set<String>) {
        for e in Sys.directoryEntries(dir) ?? [] where !e.isDirectory && NginxConfig.isTLSFile(e.name) && !keeping.contains(e.name) {
            unlink(dir + "/" + e.name)
        }
    }

    /// Written once the running nginx has the configuration in place (started or reloaded).
    static let appliedMark = "applied"

    static func markApplied(_ dir: String) throws {
        try Sys.writeFile(dir + "/" + appliedMark, "", mode: 0o644, atomic: false)
    }

    /// A file's modification time in nanoseconds (0 if it does not exist).
    static func mtime(_ path: String) -> Int64 {
        var st = stat()
        guard stat(path, &st) == 0 else { return 0 }
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// `nginx -t` on a configuration file of the folder, in a network namespace of its own
    /// (nginx binds the ports it would listen on, even to test). Its complaint becomes the error.
    static func testNginxConfig(dir: String, file: String) throws {
        let r = try Command.run([unshareBinary, "--net", "--", nginxBinary, "-t", "-q", "-p", dir + "/", "-c", file, "-e", "stderr"])
        guard r.status != 0 else { return }
        let lines = r.output.split(separator: "\n").map(String.init)
        var why = lines.first(where: { $0.contains("[emerg]") }) ?? lines.first ?? "exit status \(r.status)"
        // "2026/12/07 16:26:30 [emerg] 2430#2430: unknown directive ..." -> "unknown directive ..."
        if let r = why.firstRange(of: "[emerg] "), let colon = why[r.upperBound...].firstRange(of: ": ") { why = String(why[colon.upperBound...]) }
        throw HutchError("nginx rejected the configuration: " + why)
    }

    /// SIGHUP to the nginx master, then waits until it has started workers on the new
    /// configuration (new connections go to them from then on; the old workers finish theirs),
    /// so that a command returns once its change is in effect.
    /// Returns false when nginx is not running (nothing to reload).
    @discardableResult
    func reloadNginx(_ given: ContainerRecord) throws -> Bool {
        // No reconcile here: this runs under the ingress's lock, and a cleanup it could start
        // comes back to the ingresses.
        guard let r = try restartedNginx(given), r.status == .running, Sys.isAlive(pid: r.pid, start: r.pidStart) else {
            return false
        }
        var waited = 0
        while !Self.catchesHangup(r.pid) && waited < 5_000 { waited += Self.pollPause(waited) }
        let old = Self.children(r.pid)
        guard Glibc.kill(r.pid, SIGHUP) == 0 else { throw HutchError.sys("reload nginx (kill -HUP \(r.pid))", errno) }
        // Done when workers on the new configuration run and every old one has stopped
        // accepting (it says so in its process title) or is gone.
        func applied() -> Bool {
            let now = Self.children(r.pid)
            guard !now.isSubset(of: old) else { return false }
            return now.intersection(old).allSatisfy { p in
                (Sys.readFile("/proc/\(p)/cmdline", limit: 512) ?? "shutting down").contains("shutting down")
            }
        }
        waited = 0
        while !applied() {
            guard waited < 10_000, Sys.isAlive(pid: r.pid, start: r.pidStart) else {
                throw HutchError("nginx of container \(r.name) did not start workers on the new configuration: see hutch logs \(r.name)")
            }
            waited += Self.pollPause(waited)
        }
        return true
    }

    /// The nginx container as it is once its restart policy has brought back a master that died:
    /// the record with the new pid (the shim reports it), so that a reload reaches the process
    /// that runs; nil when it waits to restart for longer than 10 s (its backoff has grown: the
    /// configuration in place is what it will start with).
    func restartedNginx(_ c: ContainerRecord) throws -> ContainerRecord? {
        var cur = c
        var waited = 0
        while cur.status == .running, cur.restartPolicy.name != .no,
              cur.restarting || !Sys.isAlive(pid: cur.pid, start: cur.pidStart) {
            guard waited < 10_000, Sys.isAlive(pid: cur.shimPid, start: cur.shimStart) else { return nil }
            waited += Self.pollPause(waited)
            guard let next = try store.read({ try ContainerRecord.fetchOne($0, key: c.id) }) else { return nil }
            cur = next
        }
        return cur
    }

    /// The child processes of `pid` (nginx's workers).
    static func children(_ pid: Int32) -> Set<Int32> {
        Set((Sys.readFile("/proc/\(pid)/task/\(pid)/children") ?? "").split(separator: " ").compactMap { Int32($0) })
    }

    /// Re-renders and reloads every ingress that routes to one of `services` (all of them when
    /// nil), after their endpoints or the services themselves changed. Failures are reported
    /// together; an ingress whose nginx rejects the new configuration keeps the old one.
    public func refreshIngresses(services: Set<String>? = nil) throws {
        let all = try store.read { try IngressRecord.all(in: $0) }
        var failures = ErrorList()
        for r in all where services == nil || r.backends.contains(where: { services!.contains($0.service) }) {
            failures.attempt("ingress \(r.name)") { try applyIngressConfig(name: r.name) }
        }
        try failures.check("updating ingresses failed")
    }

    // MARK: update, rm

    /// Replaces the rules (and/or default backend) of an ingress: checked by nginx before it is
    /// recorded; then nginx reloads.
    /// New certificates (`--tls-cert/--tls-key`, `--tls`) are checked by nginx together with
    /// the rest, as files of their own: if it rejects them, the old ones stay in use.
    public func updateIngress(_ ref: String, _ checked: Validated<IngressUpdate>) throws -> IngressRecord {
        let u = checked.options
        let r = try ingress(ref)
        var certs: IngressCertificates?
        if u.changesTLS {
            var c = IngressCertificates()
            func pem(_ path: String, _ flag: String) throws -> IngressCertificates.PEM {
                .init(text: try Self.readPEM(path, flag: flag), origin: "\(flag)\(flag.hasSuffix("=") ? "" : " ")\(path)")
            }
            if let cert = u.tlsCert, let key = u.tlsKey {
                c.defaultPair = (try pem(cert, "--tls-cert"), try pem(key, "--tls-key"))
            }
            if !u.tlsHosts.isEmpty {
                c.hosts = try u.tlsHosts.map { t in (t.host, try pem(t.cert, "--tls \(t.host)="), try pem(t.key, "--tls \(t.host)=")) }
            }
            // Certificates serve nothing unless nginx's port 443 is published.
            let st = try ingressStatus(r)
            if let ctr = st.container, try !ports(ctr).contains(where: { $0.containerPort == IngressOptions.httpsPort }) {
                throw HutchError("ingress \(r.name) does not publish port 443 (HTTPS), so a certificate would serve nothing: "
                                 + "recreate it with -p HOST:443 (hutch ingress rm \(r.name); hutch ingress create \(r.name) -p 443:443 ...)")
            }
            certs = c
        }
        try store.read { db in _ = try self.resolveIngressBackends(u.rules.map(\.backend) + (u.defaultBackend.map { [$0] } ?? []), in: db) }
        try applyIngressConfig(name: r.name, change: { rec in
            if !u.rules.isEmpty { rec.rules = u.rules }
            if let d = u.defaultBackend { rec.defaultBackend = d }
            if u.clearDefaultBackend { rec.defaultBackend = nil }
        }, certificates: certs)
        return try ingress(r.name)
    }

    /// Removes an ingress: its nginx container (with its ports), its folder, its record. Every
    /// step is tried; the record stays while its container does (so `ingress rm` can retry).
    public func removeIngress(_ ref: String) throws -> IngressRecord {
        let r = try ingress(ref)
        var failures = ErrorList()
        for c in try ingressContainers(r) {
            failures.attempt("remove the nginx container \(c.name)") { _ = try remove(c.id, force: true) }
        }
        try failures.check("cannot remove ingress \(r.name)", hint: " (hutch ingress rm retries)")
        Sys.removeTree(ingressDir(r.id))
        try store.write { _ = try IngressRecord.deleteOne($0, key: r.name) }
        return r
    }

    /// The ingress's nginx container(s): the recorded one, or during (or after an interrupted)
    /// creation, the container of its name that carries its label.
    func ingressContainers(_ r: IngressRecord) throws -> [ContainerRecord] {
        if !r.container.isEmpty { return try store.findContainer(r.container).map { [$0] } ?? [] }
        guard let c = try store.read({ try ContainerRecord.named(IngressRecord.containerName(r.name), in: $0) }),
              c.labels.entries.contains("\(Self.ingressLabel)=\(r.name)") else { return [] }
        return [c]
    }

    // MARK: lookups, status, repair

    public func ingresses() throws -> [IngressRecord] {
        try store.read { try IngressRecord.all(in: $0) }.compactMap { try reconcileIngress($0) }
    }

    public func findIngress(_ ref: String) throws -> IngressRecord? {
        guard let r = try store.read({ try IngressRecord.find(ref, in: $0) }) else { return nil }
        return try reconcileIngress(r)
    }

    public func ingress(_ ref: String) throws -> IngressRecord {
        guard let r = try findIngress(ref) else { throw HutchError("no such ingress: \(ref)") }
        return r
    }

    /// The nginx container (reconciled) and a status word: Running, Restarting (nginx died and
    /// its restart policy brings it back), Exited, Missing (its container was removed: `gc`
    /// removes the ingress) or Creating.
    public func ingressStatus(_ r: IngressRecord) throws -> (container: ContainerRecord?, status: String) {
        if r.ownerPid != 0 { return (nil, "Creating") }
        guard let c = try store.findContainer(r.container) else { return (nil, "Missing") }
        let cur = try reconcile(c)
        return (cur, cur.status != .running ? "Exited" : cur.restarting ? "Restarting" : "Running")
    }

    /// What every backend of the ingress resolves to now.
    public func ingressUpstreams(_ r: IngressRecord) throws -> [IngressBackend: [UpstreamEndpoint]] {
        try store.read { try self.resolveIngressBackends(r.backends, in: $0, strict: false, serviceUpstream: r.serviceUpstream) }
    }

    func ingressCreationInterrupted(_ r: IngressRecord) -> Bool {
        r.ownerPid != 0 && !Sys.isAlive(pid: r.ownerPid, start: r.ownerStart)
    }

    /// Undoes an interrupted `ingress create` (its container, folder and record). Returns nil
    /// when the ingress was removed.
    @discardableResult
    func reconcileIngress(_ r: IngressRecord) throws -> IngressRecord? {
        guard ingressCreationInterrupted(r) else { return r }
        for c in try ingressContainers(r) { _ = try remove(c.id, force: true) }
        Sys.removeTree(ingressDir(r.id))
        try store.write { _ = try IngressRecord.deleteOne($0, key: r.name) }
        return nil
    }

    /// `gc`'s part: interrupted creations undone, ingresses whose nginx container is gone
    /// removed, folders no ingress owns deleted.
    func gcIngresses(_ failures: inout ErrorList) throws -> [String] {
        var report: [String] = []
        for r in try store.read({ try IngressRecord.all(in: $0) }) {
            failures.attempt("ingress \(r.name)") {
                if ingressCreationInterrupted(r) {
                    try reconcileIngress(r)
                    report.append("ingress \(r.name) (\(r.shortId)): its creation was interrupted; undone")
                } else if r.ownerPid == 0, try store.findContainer(r.container) == nil {
                    Sys.removeTree(ingressDir(r.id))
                    try store.write { _ = try IngressRecord.deleteOne($0, key: r.name) }
                    report.append("ingress \(r.name) (\(r.shortId)): its nginx container was gone; removed")
                }
            }
        }
        for r in try store.read({ try IngressRecord.all(in: $0) }) where r.ownerPid == 0 {
            failures.attempt("ingress \(r.name)") {
                let dir = ingressDir(r.id), path = dir + "/nginx.conf"
                func behind() -> Bool { Self.mtime(path) > Self.mtime(dir + "/" + Self.appliedMark) }
                let wasBehind = behind()
                let changed = try applyIngressConfig(name: r.name)
                if (changed || wasBehind) && !behind() {
                    report.append("ingress \(r.name) (\(r.shortId)): nginx's configuration was behind; reloaded")
                }
            }
        }
        let ids = Set(try store.read { try IngressRecord.all(in: $0) }.map(\.id))
        for e in Sys.directoryEntries(store.root + "/ingress") ?? [] where e.isDirectory && e.name.count == 64 && !ids.contains(e.name) {
            Sys.removeTree(ingressDir(e.name))
            report.append("folder of vanished ingress \(e.name.prefix(12)) removed")
        }
        return report
    }
}
