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

    func testParsesDocumentsAndRoundTripsRenderedOnes() {
        let v = JSON.object(["n": .int(-3), "s": .string("a\"b\u{1}"), "l": .array([.bool(false), .null, .object(["k": .array([])])])])
        XCTAssertEqual(JSON.parse(v.render()), v)
        XCTAssertEqual(JSON.parse(v.render(pretty: true)), v)
        XCTAssertEqual(JSON.parse(" { \"a\" : [ 1 , \"x\" ] } ")?["a"]?.array, [.int(1), .string("x")])
        // A surrogate pair must be adjacent: white space between its halves is not skipped.
        XCTAssertNil(JSON.parse(#""\ud83d \udc07""#)?.string?.unicodeScalars.first(where: { $0.value == 0x1F407 }))
        for bad in ["", "{", "{\"a\"}", "[1,]", "1.5", "tru", "{\"a\":1} x", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            XCTAssertNil(JSON.parse(bad), bad)
        }
    }
}
