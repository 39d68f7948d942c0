import HutchModel
import HutchOS
import CHutchEtcd
#if canImport(Glibc)
import Glibc
#endif

/// TLS to etcd (flannel's `-etcd-cafile/-etcd-certfile/-etcd-keyfile`, etcdctl's `--cacert/--cert/--key`):
/// PEM files, recorded by absolute path at join so that leave, ls and the agent use them too.
/// The server's certificate and host name are always verified (against the CA file only, or
/// without one the system's CAs).
public struct EtcdTLS: Sendable, Equatable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile
    }

    public static let none = EtcdTLS()
    public var isEmpty: Bool { caFile == nil && certFile == nil && keyFile == nil }
    public var hasClientCert: Bool { certFile != nil }

    /// Checks the flags against the endpoint before etcd is asked anything, and makes the paths
    /// absolute (relative to `cwd`). Errors are one line naming the flag and what to do.
    public func validated(for endpoint: String, cwd: String? = nil) throws -> EtcdTLS {
        if isEmpty { return self }
        let flags = [("--etcd-cafile", caFile), ("--etcd-certfile", certFile), ("--etcd-keyfile", keyFile)]
        guard endpoint.hasPrefix("https://") else {
            let given = flags.filter { $0.1 != nil }.map(\.0)
            throw HutchError("\(given.joined(separator: ", ")) \(given.count == 1 ? "needs" : "need") an https:// etcd URL (--etcd \(endpoint)): use https://, or drop the TLS flags")
        }
        if (certFile == nil) != (keyFile == nil) {
            throw HutchError(certFile == nil ? "--etcd-keyfile needs --etcd-certfile (the client certificate): give both"
                                             : "--etcd-certfile needs --etcd-keyfile (the client certificate's key): give both")
        }
        func file(_ flag: String, _ v: String?) throws -> String? { try v.map { try Self.readableFile(flag, $0, cwd: cwd) } }
        return EtcdTLS(caFile: try file("--etcd-cafile", caFile), certFile: try file("--etcd-certfile", certFile),
                       keyFile: try file("--etcd-keyfile", keyFile))
    }

    /// `path` made absolute, if it is a readable regular file; else a one-line error.
    static func readableFile(_ flag: String, _ path: String, cwd: String?) throws -> String {
        guard !path.isEmpty else { throw HutchError("invalid \(flag) \"\": give the path of a PEM file") }
        var abs = path
        if !path.hasPrefix("/") {
            let base = cwd ?? Self.currentDirectory()
            abs = (base.hasSuffix("/") ? base : base + "/") + path
        }
        var st = stat()
        guard stat(abs, &st) == 0 else {
            throw HutchError("\(flag) \(path): \(String(cString: strerror(errno))): give the path of a PEM file")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw HutchError("\(flag) \(path): not a regular file: give the path of a PEM file")
        }
        let fd = open(abs, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw HutchError("\(flag) \(path): cannot be read (\(String(cString: strerror(errno)))): fix its permissions")
        }
        close(fd)
        return abs
    }

    static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "/" }
        return cstr(buf)
    }

    /// Calls `body` with the C view of the files (valid only inside it).
    func withC<T>(_ body: (UnsafePointer<he_tls>?) throws -> T) rethrows -> T {
        if isEmpty { return try body(nil) }
        func dup(_ s: String?) -> UnsafeMutablePointer<CChar>? { s.flatMap { strdup($0) } }
        let ca = dup(caFile), cert = dup(certFile), key = dup(keyFile)
        defer { free(ca); free(cert); free(key) }
        var t = he_tls(cafile: ca, certfile: cert, keyfile: key)
        return try withUnsafePointer(to: &t) { try body($0) }
    }

    /// For the agent's log: " (TLS: CA …, client certificate …)", or "" without TLS files.
    var logSuffix: String {
        if isEmpty { return "" }
        let parts = [caFile.map { "CA \($0)" }, certFile.map { "client certificate \($0)" }].compactMap { $0 }
        return " (TLS: " + parts.joined(separator: ", ") + ")"
    }

    // MARK: JSON (the node record)

    /// The record's fields (absent when not set).
    var jsonFields: [String: JSON] {
        var o: [String: JSON] = [:]
        if let v = caFile { o["EtcdCAFile"] = .string(v) }
        if let v = certFile { o["EtcdCertFile"] = .string(v) }
        if let v = keyFile { o["EtcdKeyFile"] = .string(v) }
        return o
    }

    init(json j: JSON) {
        self.init(caFile: j["EtcdCAFile"]?.stringValue, certFile: j["EtcdCertFile"]?.stringValue,
                  keyFile: j["EtcdKeyFile"]?.stringValue)
    }
}

/// A failed request to etcd, told as one line that names etcd, the URL, the cause and what to do.
public enum EtcdFailure {
    // libcurl's CURLcode values (curl/curl.h), as he_fail reports them.
    static let couldntConnect: Int32 = 7, gotNothing: Int32 = 52, sslConnect: Int32 = 35, sendError: Int32 = 55,
               recvError: Int32 = 56, sslCertProblem: Int32 = 58, peerFailedVerification: Int32 = 60,
               sslCACertBadFile: Int32 = 77
    /// X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH (OpenSSL).
    static let hostMismatchVerify: Set<Int> = [62, 64]

    /// The message for a request to `endpoint` that got no answer. `code`/`verify`: he_fail's
    /// fields; `detail`: libcurl's error text.
    public static func describe(endpoint: String, tls: EtcdTLS, code: Int32, verify: Int, detail: String, what: String = "etcd") -> String {
        let https = endpoint.hasPrefix("https://")
        let d = detail.lowercased()
        let certFlags = "--etcd-certfile and --etcd-keyfile"
        if code == peerFailedVerification {
            // libcurl checks the name itself ("... target host name ..."), OpenSSL may too.
            if d.contains("target host name") || hostMismatchVerify.contains(verify) {
                return "\(what) at \(endpoint): its TLS certificate is not valid for that host name (\(detail)): use the name or address the certificate was issued for (its subjectAltName), or reissue it with this one"
            }
            let ca = tls.caFile.map { "the CA in --etcd-cafile \($0)" } ?? "the system's CAs (no --etcd-cafile given)"
            return "\(what) at \(endpoint): its TLS certificate is not trusted by \(ca) (\(detail)): give --etcd-cafile with the CA that signed etcd's certificate"
        }
        if code == sslCertProblem {
            return "\(what) at \(endpoint): the client certificate cannot be used (\(detail)): give a matching PEM certificate and key with \(certFlags)"
        }
        if code == sslCACertBadFile {
            return "\(what) at \(endpoint): the CA file cannot be used (\(detail)): give a PEM CA certificate with --etcd-cafile"
        }
        if https && d.contains("wrong version number") {
            return "\(what) at \(endpoint) does not speak TLS (\(detail)): use an http:// URL, or start etcd with --cert-file and --key-file"
        }
        let alert = d.contains("alert")
        let rejectedCert = https && alert && (d.contains("certificate") || d.contains("unknown ca") || d.contains("handshake failure"))
        if rejectedCert {
            if !tls.hasClientCert {
                return "\(what) at \(endpoint) refused the TLS connection (\(detail)): it requires a client certificate; give \(certFlags)"
            }
            return "\(what) at \(endpoint) refused the TLS connection (\(detail)): it did not accept the client certificate \(tls.certFile!); give one signed by a CA etcd trusts (its --trusted-ca-file) with \(certFlags)"
        }
        // TLS 1.3: the server checks the client certificate after the client's handshake is
        // done, so a rejection may arrive as a connection closed under the first request.
        if https && [sendError, recvError, gotNothing].contains(code) {
            let fix = tls.hasClientCert
                ? "if it runs with --client-cert-auth, check that the client certificate \(tls.certFile!) is signed by a CA etcd trusts (its --trusted-ca-file)"
                : "if it runs with --client-cert-auth, give \(certFlags)"
            return "\(what) at \(endpoint) closed the TLS connection (\(detail)): \(fix)"
        }
        if !https && code == gotNothing {
            return "\(what) at \(endpoint) sent no answer (\(detail)): if etcd serves TLS, use an https:// URL"
        }
        return "\(what) at \(endpoint) is unreachable (\(detail))"
    }
}
