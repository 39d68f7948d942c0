import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchCluster
#if canImport(Glibc)
import Glibc
#endif

/// etcd over TLS without root: the flags' checks, the node record keeping the files, and the
/// one-line messages naming why a TLS connection failed (libcurl's codes and texts as it reports them).
final class EtcdTLSTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        var t = Array("/tmp/hutch-etcdtls-XXXXXX".utf8CString)
        dir = try XCTUnwrap(t.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + f, contents: Data("-----BEGIN X-----\n".utf8)))
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func err(_ t: EtcdTLS, _ url: String = "https://192.0.2.254:2379") -> String {
        do { _ = try t.validated(for: url, cwd: dir); return "" } catch { return "\(error)" }
    }

    func testValidation() throws {
        let full = EtcdTLS(caFile: "ca.pem", certFile: dir + "/cert.pem", keyFile: "key.pem")
        let v = try full.validated(for: "https://192.0.2.254:2379", cwd: dir)
        XCTAssertEqual(v, EtcdTLS(caFile: dir + "/ca.pem", certFile: dir + "/cert.pem", keyFile: dir + "/key.pem"))
        XCTAssertEqual(try EtcdTLS.none.validated(for: "http://192.0.2.254:2379"), .none)
        XCTAssertEqual(try EtcdTLS(caFile: "ca.pem").validated(for: "https://e:2379", cwd: dir).caFile, dir + "/ca.pem")
        XCTAssertEqual(err(full, "http://192.0.2.254:2379"),
                       "--etcd-cafile, --etcd-certfile, --etcd-keyfile need an https:// etcd URL (--etcd http://192.0.2.254:2379): use https://, or drop the TLS flags")
        XCTAssertTrue(err(EtcdTLS(caFile: "ca.pem"), "http://e:2379").hasPrefix("--etcd-cafile needs an https:// etcd URL"))
        XCTAssertTrue(err(EtcdTLS(certFile: "cert.pem")).hasPrefix("--etcd-certfile needs --etcd-keyfile"))
        XCTAssertTrue(err(EtcdTLS(keyFile: "key.pem")).hasPrefix("--etcd-keyfile needs --etcd-certfile"))
        XCTAssertEqual(err(EtcdTLS(caFile: "nosuch.pem")), "--etcd-cafile nosuch.pem: No such file or directory: give the path of a PEM file")
        XCTAssertEqual(err(EtcdTLS(caFile: dir)), "--etcd-cafile \(dir): not a regular file: give the path of a PEM file")
        XCTAssertTrue(err(EtcdTLS(caFile: "")).hasPrefix("invalid --etcd-cafile"))
    }

    func testNodeRecordKeepsTheFiles() throws {
        let tls = EtcdTLS(caFile: "/etc/hutch/ca.pem", certFile: "/etc/hutch/n1.pem", keyFile: "/etc/hutch/n1-key.pem")
        let s = NodeSettings(name: "n1", etcd: "https://192.0.2.254:2379", prefix: "/hutch/", backend: .vxlan,
                             clusterCIDR: CIDRv4("10.244.0.0/16")!, subnet: CIDRv4("10.244.1.0/24")!,
                             nodeIP: IPv4Address("192.0.2.1")!, leaseTTL: 30, lease: 7, mtu: 1450, tls: tls)
        XCTAssertTrue(s.json.contains(#""EtcdCAFile":"/etc/hutch/ca.pem","EtcdCertFile":"/etc/hutch/n1.pem","EtcdKeyFile":"/etc/hutch/n1-key.pem""#), s.json)
        XCTAssertEqual(try NodeSettings(json: s.json), s)
        // a record written before TLS existed reads as plain http
        var plain = s
        plain.tls = .none
        XCTAssertFalse(plain.json.contains("EtcdCAFile"))
        XCTAssertEqual(try NodeSettings(json: plain.json).tls, .none)
    }

    func testJoinOptionsCheckTLS() {
        var o = JoinOptions(name: "n1", etcd: "http://192.0.2.254:2379", nodeIP: IPv4Address("192.0.2.1")!)
        o.tls = EtcdTLS(caFile: dir + "/ca.pem")
        XCTAssertThrowsError(try o.validate())
        o.etcd = "https://192.0.2.254:2379"
        XCTAssertNoThrow(try o.validate())
    }

    func testFailureMessages() {
        let u = "https://192.0.2.254:2379"
        let ca = EtcdTLS(caFile: "/t/ca.pem")
        let full = EtcdTLS(caFile: "/t/ca.pem", certFile: "/t/n1.pem", keyFile: "/t/n1-key.pem")
        func m(_ tls: EtcdTLS, _ code: Int32, _ verify: Int = 0, _ detail: String, url: String = u) -> String {
            EtcdFailure.describe(endpoint: url, tls: tls, code: code, verify: verify, detail: detail)
        }
        // a server certificate the CA did not sign
        let untrusted = m(full, 60, 20, "SSL certificate problem: unable to get local issuer certificate")
        XCTAssertTrue(untrusted.hasPrefix("etcd at \(u): its TLS certificate is not trusted by the CA in --etcd-cafile /t/ca.pem"), untrusted)
        XCTAssertTrue(untrusted.hasSuffix("give --etcd-cafile with the CA that signed etcd's certificate"), untrusted)
        XCTAssertTrue(m(.none, 60, 20, "x").contains("the system's CAs (no --etcd-cafile given)"))
        // the wrong host name
        let host = m(full, 60, 0, "SSL: no alternative certificate subject name matches target host name '192.0.2.253'")
        XCTAssertTrue(host.contains("not valid for that host name") && host.contains("subjectAltName"), host)
        XCTAssertTrue(m(full, 60, 64, "x").contains("not valid for that host name"))
        // no client certificate, etcd with --client-cert-auth: an alert, or (TLS 1.3) a closed connection
        let alert = "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A000412:SSL routines::sslv3 alert bad certificate, errno 0"
        XCTAssertTrue(m(ca, 56, 0, alert).hasSuffix("it requires a client certificate; give --etcd-certfile and --etcd-keyfile"))
        XCTAssertTrue(m(full, 56, 0, alert).contains("did not accept the client certificate /t/n1.pem"))
        XCTAssertTrue(m(ca, 55, 0, "Send failure: Connection reset by peer").hasSuffix("if it runs with --client-cert-auth, give --etcd-certfile and --etcd-keyfile"))
        XCTAssertTrue(m(full, 52, 0, "Empty reply from server").contains("check that the client certificate /t/n1.pem is signed"))
        // local files libcurl cannot use
        XCTAssertTrue(m(full, 58, 0, "unable to set private key file").contains("the client certificate cannot be used"))
        XCTAssertTrue(m(full, 77, 0, "error setting certificate file").contains("the CA file cannot be used"))
        // the wrong scheme either way
        XCTAssertTrue(m(ca, 35, 0, "error:0A00010B:SSL routines::wrong version number").contains("does not speak TLS"))
        XCTAssertTrue(m(.none, 52, 0, "Empty reply from server", url: "http://e:2379").hasSuffix("if etcd serves TLS, use an https:// URL"))
        // the rest, as before
        XCTAssertEqual(m(.none, 7, 0, "Failed to connect", url: "http://e:2379"), "etcd at http://e:2379 is unreachable (Failed to connect)")
        XCTAssertEqual(m(ca, 28, 0, "Connection timed out"), "etcd at \(u) is unreachable (Connection timed out)")
        XCTAssertTrue(EtcdFailure.describe(endpoint: u, tls: ca, code: 7, verify: 0, detail: "x", what: "etcd watch").hasPrefix("etcd watch at \(u)"))
    }
}
