import Testing
@testable import GatewayJSON

@Suite struct JSONObjectScanTests {
    @Test func findsTopLevelMembersAndTheirValueBytes() throws {
        let text = #" { "action" : "echo", "params":{"a":[1,{"b":"}"}]}, "authToken":"t\"k", "n":-1.5e2 } "#
        let bytes = Array(text.utf8)
        let scan = try #require(try JSONObjectScan.scan(bytes))
        #expect(scan.members.map(\.key) == ["action", "params", "authToken", "n"])
        #expect(String(decoding: bytes[scan.member("params")!.value], as: UTF8.self) == #"{"a":[1,{"b":"}"}]}"#)
        #expect(JSONObjectScan.string(scan.member("action")!, in: bytes) == "echo")
        #expect(JSONObjectScan.string(scan.member("authToken")!, in: bytes) == "t\"k")
        #expect(JSONObjectScan.string(scan.member("n")!, in: bytes) == nil)
        #expect(bytes[scan.closingBrace] == UInt8(ascii: "}") && bytes[scan.openingBrace] == UInt8(ascii: "{"))
    }

    /// The scan accepts exactly what the full parser accepts.
    @Test(arguments: ["", "{", "{\"a\":}", "{\"a\":[1,]}", "{\"a\":1,}", "{\"a\":01}", "{\"a\":\"\\x\"}", "{\"a\":\"b",
                      "{\"a\":nul}", "{} x", "{\"a\":\"\u{01}\"}", "{\"a\":\"\\ud800\"}", "{\"a\" 1}", "{1:2}"])
    func rejectsWhatTheParserRejects(_ text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSONObjectScan.scan(Array(text.utf8)) }
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
    }

    @Test func invalidUTF8InsideANestedStringIsRefused() {
        let bytes: [UInt8] = Array(#"{"a":{"b":""#.utf8) + [0xC3, 0x28] + Array(#""}}"#.utf8)
        #expect(throws: JSONParseError.self) { _ = try JSONObjectScan.scan(bytes) }
    }

    @Test func nonObjectsAreReportedAsNil() throws {
        #expect(try JSONObjectScan.scan(Array("[1,2]".utf8)) == nil)
        #expect(try JSONObjectScan.scan(Array("\"x\"".utf8)) == nil)
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let text = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(throws: JSONParseError.self) { _ = try JSONObjectScan.scan(Array(text.utf8)) }
    }

    @Test func spliceReplacesAndAppendsWithoutTouchingTheRest() throws {
        let bytes = Array(#"{"authToken":"gw","params":{"x":1},"requestId":"r"}"#.utf8)
        let scan = try #require(try JSONObjectScan.scan(bytes))
        let params = try #require(try JSONObjectScan.scan(bytes, range: scan.member("params")!.value))
        var splice = JSONSplice()
        splice.replace(scan.member("authToken")!.value, with: Array(#""upstream""#.utf8))
        splice.append([("databaseName", .string("faircom"))], to: params)
        splice.append([("api", .string("db"))], to: scan)
        let out = String(decoding: splice.applied(to: bytes), as: UTF8.self)
        #expect(out == #"{"authToken":"upstream","params":{"x":1,"databaseName":"faircom"},"requestId":"r","api":"db"}"#)

        var strings = JSONSplice()
        strings.replace(scan.member("authToken")!.value, withStringOf: Array("plain".utf8))
        strings.replace(scan.member("requestId")!.value, withStringOf: Array("say \"hi\"".utf8))
        let written = strings.applied(to: bytes)
        #expect(String(decoding: written, as: UTF8.self) == #"{"authToken":"plain","params":{"x":1},"requestId":"say \"hi\""}"#)
        #expect(written.count == strings.resultCount(from: bytes.count))

        let empty = Array("{}".utf8)
        var add = JSONSplice()
        add.append([("a", .int(1)), ("b", .bool(true))], to: try #require(try JSONObjectScan.scan(empty)))
        #expect(String(decoding: add.applied(to: empty), as: UTF8.self) == #"{"a":1,"b":true}"#)
    }
}

@Suite struct JSONObjectScanStringTests {
    /// Strings are skipped eight bytes at a time; a special byte at any position must still be seen.
    @Test func aSpecialByteAtAnyPositionOfALongStringIsSeen() throws {
        let specials: [(inserted: [UInt8], valid: Bool)] = [
            (Array("\\\"".utf8), true), (Array("\\n".utf8), true), (Array("\\u00e9".utf8), true), ([0xC3, 0xA9], true),
            ([0x01], false), ([0x1F], false), (Array("\\x".utf8), false), ([0xFF], false), (Array("\"".utf8), false),
        ]
        for (inserted, valid) in specials {
            for position in 0...24 {
                let text = Array(String(repeating: "a", count: position).utf8) + inserted + Array(String(repeating: "b", count: 24 - position).utf8)
                let document = Array(#"{"k":""#.utf8) + text + Array(#"","n":1}"#.utf8)
                let parsed = (try? JSONParser.parse(document)) != nil
                let scanned = (try? JSONObjectScan.scan(document)) != nil
                #expect(parsed == valid && scanned == valid, "\(inserted) at \(position)")
                if valid, let scan = try JSONObjectScan.scan(document) {
                    #expect(scan.members.map(\.key) == ["k", "n"])
                }
            }
        }
    }
}
