import XCTest
import Foundation
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

/// The byte-level /proc readers and the filesystem helpers on the hot path of every run.
final class SystemTests: XCTestCase {
    func testProcessStartTimeIsField22OfStat() throws {
        let stat = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
        let afterName = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        XCTAssertEqual(Sys.processStartTime(getpid()), UInt64(afterName[19]))
        XCTAssertNil(Sys.processStartTime(0))
        XCTAssertNil(Sys.processStartTime(Int32.max))
    }

    func testCallerBoundingMatchesStatus() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") }!
        let want = UInt64(line.dropFirst("CapBnd:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        XCTAssertEqual(Capabilities.callerBounding(), want)
    }

    func testMkdirsGivesTheModeToTheLeafOnly() throws {
        let base = NSTemporaryDirectory() + "hutch-mkdirs-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let old = umask(0)
        defer { umask(old) }
        try Sys.mkdirs(base + "/a/b/leaf", mode: 0o710)
        func mode(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p))?[.posixPermissions] as? Int) ?? -1 }
        XCTAssertEqual(mode(base + "/a/b/leaf"), 0o710)
        XCTAssertEqual(mode(base + "/a/b"), 0o711)
        XCTAssertEqual(mode(base), 0o711)
        try Sys.mkdirs(base + "/a/b/leaf", mode: 0o700)  // exists: fine, unchanged
        XCTAssertEqual(mode(base + "/a/b/leaf"), 0o710)
        try Sys.writeFile(base + "/file", "x", atomic: false)
        XCTAssertThrowsError(try Sys.mkdirs(base + "/file/sub"))
    }
}
