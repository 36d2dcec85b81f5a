import GatewayJSON
import Testing
@testable import GatewayCore

@Suite struct ActionRequestTests {
    static func rejection(_ body: String) -> ActionRequest.Rejection? {
        if case .failure(let rejection) = ActionRequest.parse(Array(body.utf8)) { return rejection }
        return nil
    }

    @Test(arguments: [
        ("", GatewayErrorCode.invalidJSON, "empty"),
        ("{\"action\":", .invalidJSON, "not valid JSON"),
        ("[1]", .notAnObject, "an array"),
        ("\"createSession\"", .notAnObject, "a string"),
        ("{}", .missingAction, "'action' is missing"),
        ("{\"action\":7}", .missingAction, "a number 7"),
        ("{\"action\":\"\"}", .missingAction, "non-empty"),
        ("{\"action\":\"echo\",\"authToken\":5}", .invalidProperty, "'authToken' must be a string"),
        ("{\"action\":\"echo\",\"api\":[]}", .invalidProperty, "'api' must be a string"),
        ("{\"action\":\"echo\",\"params\":\"x\"}", .invalidProperty, "'params' must be an object"),
        ("{\"action\":\"echo\",\"responseOptions\":1}", .invalidProperty, "'responseOptions' must be an object"),
        ("{\"action\":\"echo\",\"authToken\":\"a\",\"authToken\":\"b\"}", .duplicateProperty, "'authToken' appears more than once"),
        ("{\"action\":\"echo\",\"\\u0061ction\":\"createSession\"}", .duplicateProperty, "'action' appears more than once"),
    ])
    func eachMalformedRequestHasItsOwnMessage(body: String, code: GatewayErrorCode, text: String) throws {
        let rejection = try #require(Self.rejection(body))
        #expect(rejection.code == code)
        #expect(rejection.message.contains(text), "\(rejection.message)")
    }

    @Test func onlyNamesShapedLikeFairComActionsAreLoggedAsSent() {
        for name in ["getRecordsUsingSQL", "frobnicate", "createSession", ""] {
            #expect(ActionRequest.loggable(actionName: name), "\(name)")
        }
        for name in ["-oN-KIXhDEV5Ow3B", "abc123", "get records", "caf\u{E9}", "a@b", "x[y]", String(repeating: "a", count: 65)] {
            #expect(!ActionRequest.loggable(actionName: name), "\(name)")
        }
    }

    @Test func theRequestIdOfARejectedRequestIsKept() {
        #expect(Self.rejection(#"{"requestId":{"n":1},"action":false}"#)?.requestId == .object([("n", .int(1))]))
    }

    @Test func actionsAreCaseInsensitiveAndPasswordsAreMaskedInEchoes() throws {
        guard case .success(let request) = ActionRequest.parse(Array(#"{"action":"CreateSESSION","params":{"username":"a","password":"secret","nested":[{"Password":"x"}]}}"#.utf8)) else {
            Issue.record("refused")
            return
        }
        #expect(request.kind == .createSession)
        let echo = JSONWriter.string(request.maskedEcho)
        #expect(!echo.contains("secret") && !echo.contains("\"x\""))
        #expect(echo.contains("********"))
    }
}

@Suite struct ActionKindTests {
    static func kind(_ name: String) -> ActionKind {
        let body = Array(#"{"action":"\#(name)"}"#.utf8)
        guard case .success(let request) = ActionRequest.parse(body) else { return .other }
        return request.kind
    }

    @Test func namesAreMatchedInAnyCaseAndOnlyExactly() {
        #expect(Self.kind("createSession") == .createSession && Self.kind("CREATESESSION") == .createSession)
        #expect(Self.kind("createsessio\\u004E") == .createSession, "escapes are decoded first")
        #expect(Self.kind("closeSession") == .deleteSession, "the sqlalchemy-faircom dialect's closeSession")
        #expect(Self.kind("listSessions") == .listSessions && Self.kind("pingsession") == .pingSession)
        let sessionActions: [(String, ActionKind)] = [
            ("createSession", .createSession), ("pingSession", .pingSession), ("listSessions", .listSessions),
            ("describeSessions", .describeSessions), ("deleteSession", .deleteSession), ("alterSession", .alterSession),
        ]
        for (name, kind) in sessionActions { #expect(Self.kind(name) == kind, "\(name)") }
        // Every db action is forwarded untouched.
        for name in ["getRecordsUsingSQL", "runSqlStatements", "createTable", "insertRecords", "getRecordsByTable"] {
            #expect(Self.kind(name) == .other, "\(name)")
        }
        for other in ["create_session", "createsessions", "createsessio", "echo", "listDatabases", "@ltersession"] {
            #expect(Self.kind(other) == .other, "\(other)")
        }
    }
}
