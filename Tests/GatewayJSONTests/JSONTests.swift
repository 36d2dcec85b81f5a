import Testing
@testable import GatewayJSON

@Suite struct JSONTests {
    @Test func parsesAndWritesBackTheSameDocument() throws {
        let text = #"{"requestId":[1,{"a":null}],"api":"db","n":-12.5e3,"s":"tab\t\"quote\" \u00e9 \ud83d\ude00","ok":true}"#
        let value = try JSONParser.parse(text)
        #expect(value["api"] == .string("db"))
        #expect(value["s"]?.stringValue == "tab\t\"quote\" é 😀")
        #expect(value["n"]?.doubleValue == -12500)
        let again = try JSONParser.parse(JSONWriter.bytes(value))
        #expect(again == value)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "\"\\x\"", "\"a", "nul", "{} x", "\"\u{01}\"", "\"\\ud800\""])
    func rejectsMalformedJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(deep) }
    }

    @Test func envelopeHasFairComShapeAndEchoesRequestId() throws {
        let envelope = FairComEnvelope.error(.upstreamUnavailable, "upstream 'a': refused", requestId: .object([("n", .int(1))]))
        let parsed = try JSONParser.parse(envelope.bytes)
        #expect(parsed["requestId"] == .object([("n", .int(1))]))
        #expect(parsed["errorCode"]?.intValue == 17010)
        #expect(parsed["errorMessage"]?.stringValue == "upstream 'a': refused")
        #expect(parsed["result"] == nil, "FairCom's error answers carry no result")
        #expect(try JSONParser.parse(FairComEnvelope(requestId: .int(1)).bytes)["result"] == .object([]), "its successful ones do")
        #expect(FairComEnvelope.requestId(in: Array(#"{"requestId":"r-9","action":"x"}"#.utf8)) == .string("r-9"))
        #expect(FairComEnvelope.requestId(in: Array("not json".utf8)) == nil)
    }

    /// The envelope is written member by member, in FairCom's order, as its value would be.
    @Test func envelopesAreWrittenInFairComsOrder() throws {
        func reference(_ e: FairComEnvelope, result: JSONValue) -> [UInt8] {
            var members: [(String, JSONValue)] = []
            if let requestId = e.requestId { members.append(("requestId", requestId)) }
            if let authToken = e.authToken { members.append(("authToken", .string(authToken))) }
            if e.errorCode == 0 || result != .object([]) { members.append(("result", result)) }
            if let debugInfo = e.debugInfo { members.append(("debugInfo", debugInfo)) }
            members.append(("errorCode", .int(e.errorCode)))
            members.append(("errorMessage", .string(e.errorMessage)))
            return JSONWriter.bytes(.object(members))
        }
        let result = JSONValue.object([("data", .array([.int(1), .string("two")]))])
        var full = FairComEnvelope(requestId: .string("r-1"), result: result, authToken: "tok\"en", debugInfo: .object([("request", .null)]))
        #expect(full.bytes == reference(full, result: result))
        let failure = FairComEnvelope.error(.unknownSession, "no such \"session\"", requestId: .int(7))
        #expect(failure.bytes == reference(failure, result: .object([])))
        #expect(try JSONParser.parse(failure.bytes)["result"] == nil, "an error carries no result")
        #expect(FairComEnvelope().bytes == Array(#"{"result":{},"errorCode":0,"errorMessage":""}"#.utf8))
        // A result written beforehand goes in verbatim, where the result stands.
        full.resultJSON = JSONWriter.bytes(result)
        full.result = .object([])
        #expect(full.bytes == reference(full, result: result))
    }

    /// Known long keys come back as literals, and every other key byte for byte.
    @Test func keysParseToTheirOwnTextKnownOrNot() throws {
        let keys = ["defaultOwnerName", "permanentSession", "defaultDatabaseName", "defaultBinaryFormat", "defaultStringFormat",
                    "defaultVariantFormat", "defaultRetentionUnit", "sessionStartTimestamp", "defaultResponseOptions",
                    "defaultRetentionPolicy", "defaultRetentionPeriod", "idleCursorTimeoutSeconds", "transformBufferInitialBytes",
                    "idleConnectionTimeoutSeconds", "sessionLastAccessedTimestamp", "defaultFixedLengthCharFormat",
                    "defaultOwnerNamf", "DefaultDatabaseName", "sessionStartTimestamX", "a", "", "k\\u00e9y", "schlüsselSchlüssel"]
        let text = "{" + keys.enumerated().map { "\"\($1)\":\($0)" }.joined(separator: ",") + "}"
        let parsed = try JSONParser.parse(Array(text.utf8))
        #expect(parsed.objectValue?.map(\.0) == keys.map { $0 == "k\\u00e9y" ? "kéy" : $0 })
        for known in keys.prefix(16) {
            #expect(Array(known.utf8).withUnsafeBufferPointer { FairComKeys.literal($0) } == known)
        }
        for other in keys.dropFirst(16) { #expect(Array(other.utf8).withUnsafeBufferPointer { FairComKeys.literal($0) } == nil) }
    }

    /// The eight-bytes-at-a-time check finds what a byte loop finds, with non-ASCII bytes about.
    @Test func escapingIsNeededExactlyWhereAByteLoopSaysSo() {
        let specials: [UInt8] = [0, 9, 10, 31, 34, 92]
        let harmless: [UInt8] = [32, 33, 35, 91, 93, 127, 0x80, 0xA2, 0xDC, 0xFF]
        for length in 0..<24 {
            for position in 0..<max(length, 1) {
                for special in specials + harmless {
                    var bytes = (0..<length).map { harmless[$0 % harmless.count] }
                    if position < length { bytes[position] = special }
                    let expected = bytes.contains { $0 < 32 || $0 == 34 || $0 == 92 }
                    #expect(bytes.withUnsafeBytes(JSONWriter.needsEscaping) == expected, "\(bytes)")
                }
            }
        }
    }
}

