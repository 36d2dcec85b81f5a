import GatewayConfig
import GatewayJSON
import GatewaySessions
import Testing

@Suite struct SessionParametersTests {
    static let defaults = JSONActionAPIDefaults()

    static func create(_ params: String) throws(InvalidParameter) -> SessionParameters {
        try SessionParameters.forCreate(try! JSONParser.parse(params), defaults: defaults)
    }

    static func refusal(_ params: String) -> InvalidParameter? {
        do { _ = try create(params); return nil } catch { return error }
    }

    @Test func aPasswordOfTheWrongTypeIsNeverEchoed() throws {
        for password in ["918273645", "[\"s3cret\"]", "{\"p\":\"s3cret\"}", "true"] {
            let refusal = try #require(Self.refusal(#"{"username":"bob","password":\#(password)}"#))
            #expect(refusal.property == "params.password")
            #expect(!refusal.message.contains("918273645") && !refusal.message.contains("s3cret") && !refusal.message.contains("true"),
                    "\(refusal.message)")
        }
    }

    @Test func aMinimalLoginGetsTheConfiguredDefaults() throws {
        let p = try Self.create(#"{"username":"bob","password":""}"#)
        #expect(p.username == "bob" && p.password == "")
        var expected = SessionSettings(defaults: Self.defaults)
        expected.defaultOwnerName = "bob"
        #expect(p.settings == expected, "the owner is the account itself unless gateway.json or the login says otherwise")
        #expect(p.settings.idleConnectionTimeoutSeconds == 3600 && p.settings.idleCursorTimeoutSeconds == 600)
        #expect(!p.requestsPermanentSession)
    }

    @Test func theSeedsMaximalLoginIsAccepted() throws {
        let p = try Self.create(#"""
            {"username":"CHANGE","password":"CHANGE","description":"optional user description of session for troubleshooting",
             "defaultApi":"db","defaultDebug":"max","defaultDatabaseName":"ctreeSQL","defaultOwnerName":"CHANGE",
             "defaultBinaryFormat":"hex","defaultVariantFormat":"binary",
             "defaultResponseOptions":{"dataFormat":"objects","numberFormat":"string","binaryFormat":"hex","variantFormat":"variantObject"},
             "idleConnectionTimeoutSeconds":60000,"permanentSession":true,"idleCursorTimeoutSeconds":60000}
            """#)
        #expect(p.settings.defaultDatabaseName == "ctreeSQL" && p.settings.defaultVariantFormat == "binary")
        #expect(p.settings.idleConnectionTimeoutSeconds == 60000 && p.requestsPermanentSession)
        #expect(p.settings.description.hasPrefix("optional"))
    }

    @Test(arguments: [
        (#"{"password":"x"}"#, "params.username"),
        (#"{"username":"","password":"x"}"#, "params.username"),
        (#"{"username":"\#(String(repeating: "u", count: 65))","password":"x"}"#, "params.username"),
        (#"{"username":7,"password":"x"}"#, "params.username"),
        (#"{"username":"bob"}"#, "params.password"),
        (#"{"username":"bob","password":"\#(String(repeating: "p", count: 257))"}"#, "params.password"),
        (#"{"username":"bob","password":"x","description":"\#(String(repeating: "d", count: 65_501))"}"#, "params.description"),
        (#"{"username":"bob","password":"x","defaultApi":"sql"}"#, "params.defaultApi"),
        (#"{"username":"bob","password":"x","defaultDebug":"verbose"}"#, "params.defaultDebug"),
        (#"{"username":"bob","password":"x","defaultDatabaseName":""}"#, "params.defaultDatabaseName"),
        (#"{"username":"bob","password":"x","defaultOwnerName":false}"#, "params.defaultOwnerName"),
        (#"{"username":"bob","password":"x","defaultBinaryFormat":"octal"}"#, "params.defaultBinaryFormat"),
        (#"{"username":"bob","password":"x","defaultVariantFormat":"xml"}"#, "params.defaultVariantFormat"),
        (#"{"username":"bob","password":"x","defaultResponseOptions":[]}"#, "params.defaultResponseOptions"),
        (#"{"username":"bob","password":"x","defaultResponseOptions":{"dataFormat":"rows"}}"#, "params.defaultResponseOptions.dataFormat"),
        (#"{"username":"bob","password":"x","defaultResponseOptions":{"numberFormat":"roman"}}"#, "params.defaultResponseOptions.numberFormat"),
        (#"{"username":"bob","password":"x","idleConnectionTimeoutSeconds":-1}"#, "params.idleConnectionTimeoutSeconds"),
        (#"{"username":"bob","password":"x","idleConnectionTimeoutSeconds":2147483648}"#, "params.idleConnectionTimeoutSeconds"),
        (#"{"username":"bob","password":"x","idleConnectionTimeoutSeconds":1.5}"#, "params.idleConnectionTimeoutSeconds"),
        (#"{"username":"bob","password":"x","idleConnectionTimeoutSeconds":"60"}"#, "params.idleConnectionTimeoutSeconds"),
        (#"{"username":"bob","password":"x","idleCursorTimeoutSeconds":-2}"#, "params.idleCursorTimeoutSeconds"),
        (#"{"username":"bob","password":"x","permanentSession":"true"}"#, "params.permanentSession"),
    ])
    func eachViolationNamesItsProperty(params: String, property: String) {
        let refusal = Self.refusal(params)
        #expect(refusal?.property == property)
        #expect(refusal?.message.contains("'\(property)'") == true, "\(refusal?.message ?? "accepted")")
    }

    @Test func paramsThatAreNotAnObjectAreRefused() {
        #expect(throws: InvalidParameter.self) { try SessionParameters.forCreate(.array([]), defaults: Self.defaults) }
    }

    @Test func nullCountsAsOmittedAndDataFormatIsCaseInsensitive() throws {
        let p = try Self.create(#"{"username":"bob","password":"x","defaultDebug":null,"defaultResponseOptions":{"dataFormat":"OBJECTS"}}"#)
        #expect(p.settings.defaultDebug == Self.defaults.defaultDebug)
    }

    @Test func alterSessionChangesSettingsButNotIdentityOrPermanence() throws {
        let base = SessionSettings(defaults: Self.defaults)
        let altered = try SessionParameters.applyAlter(try JSONParser.parse(#"{"description":"x","idleConnectionTimeoutSeconds":5}"#), to: base)
        #expect(altered.description == "x" && altered.idleConnectionTimeoutSeconds == 5)
        for params in [#"{"username":"eve"}"#, #"{"password":"p"}"#, #"{"permanentSession":true}"#] {
            #expect(throws: InvalidParameter.self) { try SessionParameters.applyAlter(try JSONParser.parse(params), to: base) }
        }
        #expect(throws: InvalidParameter.self) {
            try SessionParameters.applyAlter(try JSONParser.parse(#"{"idleCursorTimeoutSeconds":"x"}"#), to: base)
        }
    }

    @Test func aPermanentSessionReportsMinusOneAsItsIdleTimeout() {
        var settings = SessionSettings(defaults: Self.defaults)
        settings.permanentSession = true
        let reported = JSONValue.object(settings.reportedMembers)
        #expect(reported["idleConnectionTimeoutSeconds"]?.intValue == -1)
        #expect(settings.idleLimitMilliseconds == nil)
        #expect(SessionSettings(journalValue: settings.journalValue, defaults: Self.defaults) == settings)
    }

    @Test func theJournalWritesTheSettingsAsTheirJSONValueDoes() throws {
        var settings = SessionSettings(defaults: Self.defaults)
        settings.description = "quote \" backslash \\ tab \t ünïcode"
        settings.idleConnectionTimeoutSeconds = 42
        settings.upstreamReport = [("serverVersion", .string("13.0")), ("limits", .object([("n", .int(-7))]))]
        var permanent = settings
        permanent.permanentSession = true
        for value in [SessionSettings(defaults: Self.defaults), settings, permanent] {
            var written: [UInt8] = []
            value.writeJournalValue(into: &written)
            #expect(written == JSONWriter.bytes(value.journalValue))
            #expect(SessionSettings(journalValue: try JSONParser.parse(written), defaults: Self.defaults) == value)
        }
    }

    /// A login's answer is written member by member: the same bytes as the reported members' value.
    @Test func theReportedMembersAreWrittenAsTheirJSONValueDoes() throws {
        var settings = SessionSettings(defaults: Self.defaults)
        settings.description = "line\nbreak \u{1} and \"quotes\""
        settings.upstreamReport = [("serverVersion", .string("13.0")), ("hostUuid", .string("x\\y")), ("n", .array([.int(1), .null]))]
        var permanent = settings
        permanent.permanentSession = true
        permanent.upstreamReport = []
        for value in [SessionSettings(defaults: Self.defaults), settings, permanent] {
            var written: [UInt8] = [UInt8(ascii: "{")]
            value.writeMembers(into: &written, first: true)
            value.writeUpstreamReport(into: &written)
            written.append(UInt8(ascii: "}"))
            #expect(written == JSONWriter.bytes(.object(value.reportedMembers + value.upstreamReport)))
            _ = try JSONParser.parse(written)
        }
    }

    @Test func integersAreWrittenAsJSONValueWritesThem() {
        for number in [0, 7, -1, 10, 99, 100, 1_700_000_000_123, Int.max, Int.min] {
            var out: [UInt8] = []
            JSONWriter.writeInt(number, into: &out)
            #expect(out == JSONWriter.bytes(.int(number)), "\(number)")
        }
    }
}
