import Testing
@testable import GatewayJSON

@Suite struct JSONEnvelopeScanTests {
    static func text(_ bytes: [UInt8], _ member: JSONObjectScan.Member?) -> String? {
        member.map { String(decoding: bytes[$0.value], as: UTF8.self) }
    }

    @Test func findsTheInterpretedMembers() throws {
        let bytes = Array(#"{"api":"db","action":"getRecordsUsingSQL","x":[{"action":1}],"params":{"sql":"s","databaseName":"d","ownerName":"o"},"authToken":"t","requestId":7,"debug":"max","responseOptions":{}}"#.utf8)
        let scan = try #require(try JSONEnvelopeScan.scan(bytes))
        #expect(Self.text(bytes, scan.action) == #""getRecordsUsingSQL""#)
        #expect(Self.text(bytes, scan.api) == #""db""# && Self.text(bytes, scan.authToken) == #""t""#)
        #expect(Self.text(bytes, scan.requestId) == "7" && Self.text(bytes, scan.debug) == #""max""#)
        #expect(Self.text(bytes, scan.responseOptions) == "{}")
        #expect(Self.text(bytes, scan.params) == #"{"sql":"s","databaseName":"d","ownerName":"o"}"#)
        #expect(scan.top.closingBrace == bytes.count - 1 && scan.duplicate == nil)
    }

    /// An escaped spelling is the same key: a second `action` cannot hide from the gateway.
    @Test func escapedDuplicatesAreFound() throws {
        for body in [#"{"action":"echo","\u0061ction":"createSession"}"#, #"{"authToken":"a","auth\u0054oken":"b"}"#,
                     #"{"api":"db","api":"admin"}"#] {
            #expect(try JSONEnvelopeScan.scan(Array(body.utf8))?.duplicate != nil, "\(body)")
        }
        let escapedOnce = try #require(try JSONEnvelopeScan.scan(Array(#"{"\u0061ction":"echo"}"#.utf8)))
        #expect(escapedOnce.action != nil && escapedOnce.duplicate == nil)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "{\"params\":{\"a\":}}", "{\"a\":[1,]}", "{\"action\":\"\\x\"}", "{} x", "{\"a\" 1}"])
    func rejectsWhatTheParserRejects(_ text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSONEnvelopeScan.scan(Array(text.utf8)) }
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
    }

    @Test func nonObjectsAndEmptyObjects() throws {
        #expect(try JSONEnvelopeScan.scan(Array("[1]".utf8)) == nil)
        let empty = try #require(try JSONEnvelopeScan.scan(Array(" {} ".utf8)))
        #expect(empty.top.isEmpty && empty.top.closingBrace == 2 && empty.action == nil)
        let emptyParams = try #require(try JSONEnvelopeScan.scan(Array(#"{"params":{}}"#.utf8)))
        #expect(Self.text(Array(#"{"params":{}}"#.utf8), emptyParams.params) == "{}")
    }
}
