import XCTest
import Foundation
@testable import HutchOS
@testable import HutchModel
@testable import HutchState
@testable import HutchNet
@testable import HutchRuntime
@testable import HutchCLI

final class JSONTests: XCTestCase {
    func testStringArraysRoundTripThroughTheStoreEncoding() {
        let cases: [[String]] = [[], ["true"], ["sh", "-c", "echo \"hi\" \\ there\n\ttab"], ["/usr/bin/env", "a=b", "ünï", "🐇"],
                                 ["\u{01}\u{1f}", ""]]
        for c in cases {
            let text = JSON.strings(c).render()
            XCTAssertEqual(JSON.stringArray(from: text), c, text)
            // What Foundation's JSONSerialization makes of the same text.
            let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
            XCTAssertEqual(parsed, c, text)
        }
    }

    func testReadsWhatJSONEncoderWrote() throws {
        // Stores written by earlier versions (GRDB + JSONEncoder) escape slashes and use \u escapes.
        XCTAssertEqual(JSON.stringArray(from: #"["\/bin\/sh","-c","\u00fc\ud83d\udc07"]"#), ["/bin/sh", "-c", "ü🐇"])
        let c = ["/bin/sh", "-c", "x=\"1\"; echo $x", "é"]
        let data = try JSONEncoder().encode(c)
        XCTAssertEqual(JSON.stringArray(from: String(decoding: data, as: UTF8.self)), c)
    }

    func testRejectsWhatIsNotAStringArray() {
        for bad in ["", "[", "[1]", "{\"a\":\"b\"}", "[\"a\",]", "[\"a\"] x", "[\"\\q\"]", "[\"unterminated]"] {
            XCTAssertNil(JSON.stringArray(from: bad), bad)
        }
    }

    func testPrettyRenderingSortsKeysAndParses() throws {
        let v = JSON.object(["b": .int(2), "a": .array([.bool(true), .null, .string("x/y")]), "c": .object([:]), "d": .array([])])
        let text = v.render(pretty: true)
        XCTAssertEqual(text, """
        {
          "a": [
            true,
            null,
            "x/y"
          ],
          "b": 2,
          "c": {},
          "d": []
        }
        """)
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)))
    }
}
