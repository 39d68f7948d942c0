import Glibc
import HutchModel
import HutchOS
import HutchState

/// What every new container gets from every service, as Kubernetes gives it: the
/// `NAME_SERVICE_HOST` / `NAME_SERVICE_PORT` variables and the hosts lines of the services' names.
/// At 1,000 services that is 2,000 variables and 1,000 lines; rendering them for every `run`
/// made a run at 1,000 services cost twice a run at one (bench/README, services). So they are
/// rendered once per version of the services (`ServiceStore.version`, raised by the store on
/// every change) into `<root>/service-files/V.env` and `V.hosts`, written under a temporary name
/// and renamed, never changed afterwards: a container's `services.env` is a hard link to the
/// version it started with (its snapshot, as Kubernetes computes the variables once, at the
/// container's start), and its hosts file copies the lines.
extension Runtime {
    struct ServiceFiles {
        /// `<root>/service-files/V`: add `.env` or `.hosts`.
        let base: String
        /// No service has ever been created: nothing to link or copy.
        let none: Bool
    }

    var serviceFilesDir: String { store.root + "/service-files" }

    /// The files of the services as the store has them now, rendered if this version has none
    /// yet (both in one read transaction, so version and text agree).
    func serviceFiles() throws -> ServiceFiles {
        let version = try store.read { try ServiceStore.version(in: $0) }
        let base = serviceFilesDir + "/\(version)"
        if version == 0 || access(base + ".hosts", F_OK) == 0 { return ServiceFiles(base: base, none: version == 0) }
        let (v, env, hosts) = try store.read { db in
            (try ServiceStore.version(in: db), try ServiceStore.environment(in: db), try ServiceStore.hostsLines(in: db))
        }
        try publishServiceFiles(version: v, env: env.isEmpty ? "" : env.joined(separator: "\n") + "\n", hosts: hosts)
        return ServiceFiles(base: serviceFilesDir + "/\(v)", none: false)
    }

    /// After `service create` or `rm` committed one change at `version`: that version's files
    /// made from the previous version's by appending or dropping the service's lines, so that
    /// the next `run` finds them without a query over every service (and `service create` stays
    /// as cheap at 1,000 services as at one). Nothing if the previous files are not there (the
    /// next `run` renders them).
    func deriveServiceFiles(version: Int, added: ServiceRecord? = nil, removed: ServiceRecord? = nil) {
        guard let s = added ?? removed else { return }
        let previous = serviceFilesDir + "/\(version - 1)"
        guard access(serviceFilesDir + "/\(version).hosts", F_OK) != 0,
              let env = Sys.readFile(previous + ".env"), let hosts = Sys.readFile(previous + ".hosts") else { return }
        let envLines = s.environment.map { $0 + "\n" }.joined()
        let hostsLine = HostsFile.serviceLines([(s.clusterIP, s.dnsNames)])
        func dropping(_ lines: String, from text: String) -> String {
            let gone = Set(lines.split(separator: "\n"))
            return text.split(separator: "\n").filter { !gone.contains($0) }.map { $0 + "\n" }.joined()
        }
        try? publishServiceFiles(version: version,
                                 env: added != nil ? env + envLines : dropping(envLines, from: env),
                                 hosts: added != nil ? hosts + hostsLine : dropping(hostsLine, from: hosts))
    }

    /// Writes `V.env` and `V.hosts` (each under a temporary name, then renamed: a reader sees
    /// the whole file or none), then removes the other versions' files.
    private func publishServiceFiles(version v: Int, env: String, hosts: String) throws {
        let dir = serviceFilesDir
        try Sys.mkdirs(dir, mode: 0o700)
        // A unique temporary name: two commands may write the same version at once.
        let tmp = dir + "/.\(getpid())-\(Sys.randomID().prefix(8))"
        for (suffix, content) in [(".env", env), (".hosts", hosts)] {
            do {
                try Sys.writeFile(tmp, content, mode: 0o644, atomic: false)
                guard Glibc.rename(tmp, dir + "/\(v)" + suffix) == 0 else { throw HutchError.sys("rename \(tmp)", errno) }
            } catch {
                unlink(tmp)
                throw error
            }
        }
        // A command that still meant to use an older one renders afresh (`withServiceFiles`);
        // containers keep theirs (hard links).
        let keep = ["\(v).env", "\(v).hosts"]
        for f in Sys.directoryEntries(dir) ?? [] where !keep.contains(f.name) && !f.name.hasPrefix(".") {
            unlink(dir + "/" + f.name)
        }
    }

    /// `gc`: temporary files of a command that died while writing (older than a minute: a
    /// writer still at work is younger).
    func sweepServiceFiles() -> [String] {
        var out: [String] = []
        for f in Sys.directoryEntries(serviceFilesDir) ?? [] where f.name.hasPrefix(".") {
            var st = stat()
            let path = serviceFilesDir + "/" + f.name
            guard stat(path, &st) == 0, Int(time(nil)) - Int(st.st_mtim.tv_sec) > 60, unlink(path) == 0 else { continue }
            out.append("unfinished services file \(f.name) removed")
        }
        return out
    }

    /// Runs `body` with the current files; once more if a newer command removed them meanwhile
    /// (ENOENT), a few times at most.
    func withServiceFiles<T>(_ body: (ServiceFiles) throws -> T) throws -> T {
        var attempt = 0
        while true {
            let files = try serviceFiles()
            do { return try body(files) } catch is ServiceFilesGone where attempt < 3 { attempt += 1 }
        }
    }

    /// The hosts lines of every service (one `read` of a cached file).
    func serviceHostsLines(_ f: ServiceFiles) throws -> String {
        if f.none { return "" }
        guard let text = Sys.readFile(f.base + ".hosts") else { throw ServiceFilesGone() }
        return text
    }

    /// `dir/services.env`: a hard link to the current variables file (nothing when no service
    /// has ever been created).
    func linkServiceEnvironment(_ f: ServiceFiles, into dir: String) throws {
        if f.none { return }
        let target = dir + "/" + Self.serviceEnvFile
        unlink(target)  // an earlier attempt's (withServiceFiles)
        if link(f.base + ".env", target) == 0 { return }
        if errno == ENOENT { throw ServiceFilesGone() }
        throw HutchError.sys("link \(f.base).env to \(target)", errno)
    }

    static let serviceEnvFile = "services.env"

    /// The container's own snapshot of the services' variables, for the shim's `--env-file`.
    func serviceEnvironmentFile(_ id: String) -> String? {
        let path = containerDir(id) + "/" + Self.serviceEnvFile
        return access(path, F_OK) == 0 ? path : nil
    }

    /// The variables in a container's snapshot that its own environment does not set (what
    /// `inspect` adds to `Config.Env`; the shim does the same for the process).
    public func serviceEnvironment(of c: ContainerRecord) -> [String] {
        guard let path = serviceEnvironmentFile(c.id), let text = Sys.readFile(path) else { return [] }
        let own = Set(c.env.map { $0.prefix { $0 != "=" } })
        return text.split(separator: "\n").filter { !own.contains($0.prefix { $0 != "=" }) }.map(String.init)
    }
}

/// A cached services file vanished between finding and using it (a newer version replaced it).
struct ServiceFilesGone: Error {}
