import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// pingSession, listSessions, describeSessions, deleteSession and alterSession, answered by the gateway.
@Suite struct SessionActionTests {
    static func twoAccounts() throws -> ServerProcess {
        let accounts = Scratch.root.appendingPathComponent("accounts-\(UUID().uuidString).json").path
        try #"{"admin":"ADMIN","jim":"JIM","sue":"SUE"}"#.write(toFile: accounts, atomically: false, encoding: .utf8)
        // The stub reads the file once, at start; the run leaves no file behind.
        defer { try? FileManager.default.removeItem(atPath: accounts) }
        return try Servers.stub(["--accounts", accounts])
    }

    static func token(_ port: Int, _ user: String, _ password: String, description: String = "") throws -> String {
        let login = try SessionTests.login(port, #""username":"\#(user)","password":"\#(password)","description":"\#(description)""#)
        return try #require(login["authToken"]?.stringValue, "\(login)")
    }

    @Test func pingWithoutATokenAnswersAndWithOneChecksIt() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        #expect(try TestClient.post(port: gateway.port, #"{"action":"pingSession","requestId":1}"#).json?["errorCode"]?.intValue == 0)
        let token = try Self.token(gateway.port, "admin", "ADMIN")
        #expect(try SessionTests.call(gateway.port, token, "pingSession")["errorCode"]?.intValue == 0)
        #expect(try SessionTests.call(gateway.port, String(token.reversed()), "pingSession")["errorCode"]?.intValue == 12031)
        #expect(try SessionTests.stubStats(stub)["requests"]?.intValue == 1, "only the login reached the upstream")
    }

    @Test func accountsSeeTheirOwnSessionsAndAdministratorsSeeAllByFingerprint() throws {
        let stub = try Self.twoAccounts()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let admin = try Self.token(gateway.port, "admin", "ADMIN", description: "console")
        let jim1 = try Self.token(gateway.port, "jim", "JIM", description: "jim one")
        let jim2 = try Self.token(gateway.port, "jim", "JIM", description: "jim two")
        _ = try Self.token(gateway.port, "sue", "SUE")

        let jimSees = try #require(SessionTests.call(gateway.port, jim1, "listSessions")["result"]?["sessions"]?.arrayValue)
        #expect(jimSees.count == 2 && jimSees.allSatisfy { $0["username"]?.stringValue == "jim" })
        let shown = jimSees.compactMap { $0["authToken"]?.stringValue }
        #expect(shown.contains(jim1), "the caller's own token is shown")
        #expect(!shown.contains(jim2) && shown.contains { $0.hasPrefix("sha256:") }, "other sessions appear by fingerprint")

        let adminSees = try #require(SessionTests.call(gateway.port, admin, "listSessions")["result"]?["sessions"]?.arrayValue)
        #expect(adminSees.count == 4)
        let onlyJim = try SessionTests.call(gateway.port, admin, "listSessions", #","params":{"usernameFilter":["jim"]}"#)
        #expect(onlyJim["result"]?["sessions"]?.arrayValue?.count == 2)
        let tokensSeen = JSONWriter.string(try SessionTests.call(gateway.port, admin, "listSessions"))
        #expect(!tokensSeen.contains(jim1) && !tokensSeen.contains(jim2), "an administrator never sees another session's token")

        let bad = try SessionTests.call(gateway.port, admin, "listSessions", #","params":{"usernameFilter":"jim"}"#)
        #expect(bad["errorCode"]?.intValue == 17023 && bad["errorMessage"]?.stringValue?.contains("usernameFilter") == true)
    }

    @Test func describeSessionsReportsFullSessionsTheCallerMaySee() throws {
        let stub = try Self.twoAccounts()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let jim = try Self.token(gateway.port, "jim", "JIM", description: "jim's")
        let sue = try Self.token(gateway.port, "sue", "SUE")
        let mine = try SessionTests.call(gateway.port, jim, "describeSessions", #","params":{"authTokens":["\#(jim)","\#(sue)"]}"#)
        let sessions = try #require(mine["result"]?["sessions"]?.arrayValue)
        #expect(sessions.count == 1, "sue's session is not jim's to see")
        let session = try #require(sessions.first)
        #expect(session["authToken"]?.stringValue == jim && session["description"]?.stringValue == "jim's")
        for key in ["defaultResponseOptions", "idleConnectionTimeoutSeconds", "permanentSession", "sessionStartTimestamp",
                    "sessionLastAccessedTimestamp", "serverVersion", "defaultApi", "defaultDebug"] {
            #expect(session[key] != nil, "describeSessions lacks \(key)")
        }
        let all = try SessionTests.call(gateway.port, jim, "describeSessions")
        #expect(all["result"]?["sessions"]?.arrayValue?.count == 1)
    }

    @Test func deleteSessionEndsBothSessionsAtOnce() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try Self.token(gateway.port, "admin", "ADMIN")
        #expect(try SessionTests.stubStats(stub)["sessions"]?.intValue == 1)
        let deleted = try SessionTests.call(gateway.port, token, "deleteSession", #","requestId":"bye""#)
        #expect(deleted["errorCode"]?.intValue == 0 && deleted["requestId"]?.stringValue == "bye")
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 12031)
        #expect(try SessionLifetimeTests.waitFor(3) { try SessionTests.stubStats(stub)["sessions"]?.intValue == 0 },
                "the upstream session was closed too")
        // Deleting it again succeeds with FairCom's 12031 warning.
        let again = try SessionTests.call(gateway.port, token, "deleteSession")
        #expect(again["errorCode"]?.intValue == 0)
        #expect(again["debugInfo"]?["warnings"]?.arrayValue?.first?["code"]?.intValue == 12031)
    }

    @Test func alterSessionChangesSettingsValidatedLikeALogin() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","idleCursorTimeoutSeconds":30"#)["authToken"]?.stringValue)
        #expect(try SessionLifetimeTests.upstreamSessions(stub).first?["idleCursorTimeoutSeconds"]?.intValue == 30)
        let altered = try SessionTests.call(gateway.port, token, "alterSession",
                                            #","params":{"description":"renamed","idleCursorTimeoutSeconds":60,"defaultDatabaseName":"ctreeSQL"}"#)
        #expect(altered["errorCode"]?.intValue == 0)
        #expect(altered["result"]?["description"]?.stringValue == "renamed")
        #expect(altered["result"]?["idleCursorTimeoutSeconds"]?.intValue == 60)
        let described = try SessionTests.call(gateway.port, token, "describeSessions")
        #expect(described["result"]?["sessions"]?.arrayValue?.first?["defaultDatabaseName"]?.stringValue == "ctreeSQL")
        // The cursor timeout is the upstream's business: it was passed on at login and again now.
        #expect(try SessionLifetimeTests.waitFor(3) {
            try SessionLifetimeTests.upstreamSessions(stub).first?["idleCursorTimeoutSeconds"]?.intValue == 60
        })
        let refused = try SessionTests.call(gateway.port, token, "alterSession", #","params":{"defaultApi":"nope"}"#)
        #expect(refused["errorCode"]?.intValue == 17023 && refused["errorMessage"]?.stringValue?.contains("params.defaultApi") == true)
        let permanent = try SessionTests.call(gateway.port, token, "alterSession", #","params":{"permanentSession":true}"#)
        #expect(permanent["errorCode"]?.intValue == 17023)
    }
}
