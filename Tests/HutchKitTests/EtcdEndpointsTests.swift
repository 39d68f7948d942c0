import XCTest
import HutchModel
import HutchOS
@testable import HutchCluster

final class EtcdEndpointsTests: XCTestCase {
    func err(_ s: String) -> String {
        do { _ = try EtcdEndpoints.parse(s); return "" } catch { return "\(error)" }
    }

    func testParseOneAndList() throws {
        XCTAssertEqual(try EtcdEndpoints.parse("http://192.0.2.254:2379/"), ["http://192.0.2.254:2379"])
        XCTAssertEqual(try EtcdEndpoints.parse("https://a:2379, https://b:2379/,https://c:2379"),
                       ["https://a:2379", "https://b:2379", "https://c:2379"])
        XCTAssertEqual(EtcdEndpoints.render(["http://a:1", "http://b:2"]), "http://a:1,http://b:2")
    }

    func testParseRefusesBadLists() {
        XCTAssertEqual(err("192.0.2.254:2379"),
                       "invalid --etcd \"192.0.2.254:2379\": use a URL such as http://10.0.0.254:2379, or a comma-separated list of them")
        XCTAssertEqual(err("http://a:2379,b:2379"),
                       "invalid --etcd \"http://a:2379,b:2379\": \"b:2379\" is not a URL: use a URL such as http://10.0.0.254:2379, or a comma-separated list of them")
        XCTAssertTrue(err("http://a:2379,").contains("\"\" is not a URL"))
        XCTAssertTrue(err("").hasPrefix("invalid --etcd \"\""))
        XCTAssertEqual(err("http://a:2379,http://a:2379/"),
                       "invalid --etcd \"http://a:2379,http://a:2379/\": http://a:2379 is given twice: give each etcd member once")
        XCTAssertEqual(err("http://a:2379,https://b:2379"),
                       "invalid --etcd \"http://a:2379,https://b:2379\": http://a:2379 and https://b:2379 differ in scheme: use https:// (or http://) for every member")
    }

    func testJoinOptionsKeepTheList() throws {
        var o = JoinOptions(name: "n1", etcd: "http://192.0.2.9:2379,http://192.0.2.254:2379", nodeIP: IPv4Address("192.0.2.1")!)
        try o.validate()
        XCTAssertEqual(o.endpoints, ["http://192.0.2.9:2379", "http://192.0.2.254:2379"])
        // TLS flags need https for the list too.
        o.tls = EtcdTLS(caFile: "/etc/hostname")
        XCTAssertThrowsError(try o.validate()) { XCTAssertTrue("\($0)".hasPrefix("--etcd-cafile needs an https:// etcd URL")) }
    }

    func testNodeRecordKeepsTheListAndReadsOldRecords() throws {
        let s = NodeSettings(name: "n1", etcd: "http://a:2379,http://b:2379", prefix: "/hutch/", backend: .vxlan,
                             clusterCIDR: CIDRv4("10.244.0.0/16")!, subnet: CIDRv4("10.244.1.0/24")!,
                             nodeIP: IPv4Address("192.0.2.1")!, leaseTTL: 30, lease: 7, mtu: 1450)
        XCTAssertEqual(s.endpoints, ["http://a:2379", "http://b:2379"])
        XCTAssertEqual(s.etcd, "http://a:2379")
        XCTAssertTrue(s.json.contains(#""Etcd":"http://a:2379","EtcdEndpoints":["http://a:2379","http://b:2379"]"#), s.json)
        XCTAssertEqual(try NodeSettings(json: s.json), s)
        // A record written before lists: Etcd only.
        let old = #"{"Backend":"vxlan","ClusterCIDR":"10.244.0.0/16","Etcd":"http://a:2379","Lease":"7","LeaseTTL":30,"MTU":1450,"Name":"n1","NodeIP":"192.0.2.1","Prefix":"/hutch/","Subnet":"10.244.1.0/24"}"#
        XCTAssertEqual(try NodeSettings(json: old).endpoints, ["http://a:2379"])
    }

    // MARK: failover order

    let eps = ["http://a:2379", "http://b:2379", "http://c:2379"]

    func testFailoverStartsAtTheOneInUseAndWraps() throws {
        var tried: [Int] = []
        let r = try EtcdFailover.run(eps, from: 1) { i -> String in
            tried.append(i)
            if i != 0 { throw EtcdError.unreachable("etcd at \(eps[i]) is unreachable (refused)") }
            return "ok"
        }
        XCTAssertEqual(tried, [1, 2, 0])
        XCTAssertEqual(r.value, "ok")
        XCTAssertEqual(r.index, 0)
    }

    func testFailoverDoesNotMoveOnAnAnswer() {
        var tried: [Int] = []
        XCTAssertThrowsError(try EtcdFailover.run(eps, from: 0) { i -> Int in
            tried.append(i)
            if i == 0 { throw EtcdError.unreachable("etcd at a is unreachable (refused)") }
            throw EtcdError.server("etcd at \(eps[i]): /v3/kv/put: etcdserver: request timed out (HTTP 503)")
        }) { XCTAssertTrue("\($0)".contains("HTTP 503"), "\($0)") }
        XCTAssertEqual(tried, [0, 1])
    }

    func testFailoverTriesEachOnceThenNamesThemAll() {
        var tried: [Int] = []
        XCTAssertThrowsError(try EtcdFailover.run(eps, from: 2) { i -> Int in
            tried.append(i)
            throw EtcdError.unreachable("etcd at \(eps[i]) is unreachable (refused)")
        }) {
            XCTAssertEqual("\($0)", "etcd is unreachable at http://a:2379, http://b:2379, http://c:2379 (etcd at http://c:2379 is unreachable (refused); etcd at http://a:2379 is unreachable (refused); etcd at http://b:2379 is unreachable (refused))")
        }
        XCTAssertEqual(tried, [2, 0, 1])
        // One endpoint: its own message, as before lists.
        XCTAssertThrowsError(try EtcdFailover.run(["http://a:2379"], from: 0) { _ -> Int in
            throw EtcdError.unreachable("etcd at http://a:2379 is unreachable (refused)")
        }) { XCTAssertEqual("\($0)", "etcd at http://a:2379 is unreachable (refused)") }
    }

    /// The real client over loopback: a port where nothing listens, then one that answers with
    /// HTTP (a one-shot server on 127.0.0.1): the call moves on and stays on the one that answered.
    func testClientMovesPastARefusedEndpoint() throws {
        let (dead, live, serve) = try Self.loopbackPorts()
        let c = try EtcdClient(endpoints: ["http://127.0.0.1:\(dead)", "http://127.0.0.1:\(live)"], timeoutMS: 2000)
        let t = Thread { serve() }
        t.start()
        let j = try c.call("/v3/kv/range", "{}")
        XCTAssertEqual(j["header"]?["revision"]?.int64Value, 5)
        XCTAssertEqual(c.current, 1)
        XCTAssertEqual(c.endpoint, "http://127.0.0.1:\(live)")
    }

    /// Two loopback ports: one closed (bound, not listening: refused), one listening; `serve`
    /// answers one request on the listening one with a JSON body and closes everything.
    static func loopbackPorts() throws -> (Int, Int, @Sendable () -> Void) {
        func bound() throws -> (Int32, Int) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET); a.sin_addr.s_addr = inet_addr("127.0.0.1"); a.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
            }
            guard ok else { throw HutchError("bind 127.0.0.1") }
            return (fd, Int(UInt16(bigEndian: a.sin_port)))
        }
        let (deadFD, dead) = try bound()
        let (liveFD, live) = try bound()
        listen(liveFD, 1)
        let serve: @Sendable () -> Void = {
            let c = accept(liveFD, nil, nil)
            var buf = [UInt8](repeating: 0, count: 4096)
            var got = [UInt8]()
            while !String(decoding: got, as: UTF8.self).contains("{}") {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                got += buf[0..<n]
            }
            let body = #"{"header":{"revision":"5"}}"#
            let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            _ = resp.withCString { write(c, $0, strlen($0)) }
            close(c); close(liveFD); close(deadFD)
        }
        return (dead, live, serve)
    }
}
