import XCTest
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

final class PortMappingTests: XCTestCase {
    func m(_ ip: String?, _ h: UInt16, _ c: UInt16, _ p: PortMapping.Proto = .tcp) -> PortMapping {
        PortMapping(hostIP: ip.flatMap { IPv4Address($0) }, hostPort: h, containerPort: c, proto: p)
    }

    func testGoodSpecs() throws {
        let table: [(String, [PortMapping])] = [
            ("8080:80", [m(nil, 8080, 80)]),
            ("80", [m(nil, 0, 80)]),
            ("127.0.0.1:8081:80", [m("127.0.0.1", 8081, 80)]),
            ("127.0.0.1::80", [m("127.0.0.1", 0, 80)]),
            ("0.0.0.0:8080:80", [m(nil, 8080, 80)]),
            ("5353:53/udp", [m(nil, 5353, 53, .udp)]),
            ("5353:53/UDP", [m(nil, 5353, 53, .udp)]),
            ("8080:80/tcp", [m(nil, 8080, 80)]),
            ("8000-8002:9000-9002", [m(nil, 8000, 9000), m(nil, 8001, 9001), m(nil, 8002, 9002)]),
            ("7000-7001", [m(nil, 0, 7000), m(nil, 0, 7001)]),
            ("65535:1", [m(nil, 65535, 1)]),
        ]
        for (spec, want) in table {
            XCTAssertEqual(try PublishSpec.parse(spec).mappings, want, spec)
        }
        let picked = try PublishSpec.parse("8000-8010:80")
        XCTAssertEqual(picked.mappings, [m(nil, 0, 80)])
        XCTAssertEqual(picked.hostRange, 8000...8010)
    }

    func testBadSpecs() {
        let bad = ["", "0", "0:80", "8080:0", "65536:80", "8080:65536", "80/sctp", "80/", "a:80", "8080:b",
                   "1.2.3:8080:80", "300.1.1.1:8080:80", "1:2:3:4", "8000-8002:9000-9001", "8005-8000:80",
                   "8080:", "[::1]:80:80", "80-", "-80", "8080:80/tcp/udp", " 80", "123456:80"]
        for spec in bad {
            XCTAssertThrowsError(try PublishSpec.parse(spec), spec) { e in
                let msg = (e as? HutchError)?.message ?? ""
                XCTAssertTrue(msg.hasPrefix("invalid --publish \"\(spec)\""), msg)
                XCTAssertFalse(msg.contains("\n"))
            }
        }
    }

    func testDescriptionMatchesDockerPort() throws {
        XCTAssertEqual(try PublishSpec.parse("8080:8000").mappings[0].description, "8000/tcp -> 0.0.0.0:8080")
        XCTAssertEqual(try PublishSpec.parse("127.0.0.1:53:53/udp").mappings[0].description, "53/udp -> 127.0.0.1:53")
    }
}
