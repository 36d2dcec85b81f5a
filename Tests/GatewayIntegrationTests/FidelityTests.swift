import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// The gateway does not change what the upstream does: requests go as the client sent them (the
/// token swapped), and what the upstream reports of a session is what the client is told.
@Suite struct FidelityTests {
    static func stubWithAccounts() throws -> ServerProcess {
        let accounts = try Servers.temporaryDirectory() + "/accounts.json"
        try #"{"admin":"ADMIN","jim":"JIM"}"#.write(toFile: accounts, atomically: false, encoding: .utf8)
        return try Servers.stub(["--accounts", accounts])
    }

    @Test func anAccountActsInItsOwnSchemaAndItsRequestsReachTheUpstreamUnchanged() throws {
        let stub = try Self.stubWithAccounts()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let login = try SessionTests.login(gateway.port, #""username":"jim","password":"JIM""#)
        #expect(login["result"]?["defaultOwnerName"]?.stringValue == "jim", "\(login)")
        let token = try #require(login["authToken"]?.stringValue)
        let sent = #"{"api":"db","action":"createTable","params":{"tableName":"jims_table","fields":[{"name":"a","type":"integer"}]},"authToken":"\#(token)"}"#
        _ = try TestClient.post(port: gateway.port, sent)
        let forwarded = try SessionTests.lastUpstreamRequest(stub)
        #expect(!forwarded.contains("ownerName") && !forwarded.contains("databaseName"), "the gateway added to jim's request: \(forwarded)")
        #expect(!forwarded.contains(token), "the gateway token reached the upstream")
        let upstreamLogin = try #require(TestClient.get(port: stub.port, "/stub/requests").json?["requests"]?.arrayValue?.first?.stringValue)
        #expect(!upstreamLogin.contains("defaultOwnerName"), "no owner was imposed at login: \(upstreamLogin)")
    }

    @Test func whatTheUpstreamReportsBelongsToEachSessionAndSurvivesARestart() throws {
        let stub = try Self.stubWithAccounts()
        let data = try Servers.temporaryDirectory()
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": data] }
        var gateway = try Servers.gateway(configPath: config)
        let first = try SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","defaultRetentionPeriod":2,"defaultRetentionUnit":"day""#)
        let firstToken = try #require(first["authToken"]?.stringValue)
        #expect(first["result"]?["defaultRetentionPeriod"]?.intValue == 2 && first["result"]?["defaultRetentionUnit"]?.stringValue == "day")
        for key in ["defaultStringFormat", "defaultFixedLengthCharFormat", "transformBufferInitialBytes", "serverVersion", "hostname", "hostUuid"] {
            #expect(first["result"]?[key] != nil, "createSession lacks \(key)")
        }
        // Another account's login, with other values, does not overwrite the first session's.
        let second = try SessionTests.login(gateway.port, #""username":"jim","password":"JIM""#)
        #expect(second["result"]?["defaultRetentionPeriod"]?.intValue == 4)

        func described(_ port: Int) throws -> JSONValue {
            try #require(SessionTests.call(port, firstToken, "describeSessions", #","params":{"authTokens":["\#(firstToken)"]}"#)["result"]?["sessions"]?.arrayValue?.first)
        }
        let before = try described(gateway.port)
        #expect(before["defaultRetentionPeriod"]?.intValue == 2 && before["defaultOwnerName"]?.stringValue == "admin")
        gateway.stop()
        gateway = try Servers.gateway(configPath: config)
        let after = try described(gateway.port)
        for key in ["defaultRetentionPeriod", "defaultRetentionUnit", "serverVersion", "hostUuid", "defaultStringFormat", "defaultDebug"] {
            #expect(after[key] != nil && after[key] == before[key], "\(key) changed across the restart: \(String(describing: before[key])) → \(String(describing: after[key]))")
        }
        // The timestamps are in order.
        let start = try #require(after["sessionStartTimestamp"]?.stringValue), last = try #require(after["sessionLastAccessedTimestamp"]?.stringValue)
        #expect(last >= start, "last accessed \(last) before the start \(start)")
    }

    @Test func alterSessionIsGivenToTheUpstreamSessionAndReportsItsNewState() throws {
        let stub = try Self.stubWithAccounts()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        let altered = try SessionTests.call(gateway.port, token, "alterSession",
                                            #","params":{"defaultResponseOptions":{"dataFormat":"arrays"},"description":"reports","idleConnectionTimeoutSeconds":120}"#)
        #expect(altered["errorCode"]?.intValue == 0, "\(altered)")
        #expect(altered["result"]?["defaultResponseOptions"]?["dataFormat"]?.stringValue == "arrays")
        #expect(altered["result"]?["idleConnectionTimeoutSeconds"]?.intValue == 120, "the gateway keeps the idle timeout")
        let upstream = try #require(TestClient.get(port: stub.port, "/stub/sessions").json?["sessions"]?.arrayValue?.first)
        #expect(upstream["idleConnectionTimeoutSeconds"]?.intValue == 0, "the upstream session still never idles out")
        #expect(upstream["settings"]?["description"]?.stringValue == "reports")
        let rows = try SessionTests.call(gateway.port, token, "getRecordsUsingSQL", #","params":{"sql":"select * from athlete"}"#)
        #expect(rows["result"]?["dataFormat"]?.stringValue == "arrays", "the upstream applies the altered default")
    }

    @Test func twoAlterationsAtOnceBothApply() throws {
        let stub = try Servers.stub(["--latency-ms", "300"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        let changes = [#""idleConnectionTimeoutSeconds":77"#, #""description":"zz""#]
        final class Codes: @unchecked Sendable { var values: [Int?] = [nil, nil] }
        let codes = Codes()
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            codes.values[index] = (try? SessionTests.call(gateway.port, token, "alterSession", #","params":{\#(changes[index])}"#))?["errorCode"]?.intValue
        }
        #expect(codes.values == [0, 0])
        let session = try #require(SessionTests.call(gateway.port, token, "describeSessions")["result"]?["sessions"]?.arrayValue?.first)
        #expect(session["idleConnectionTimeoutSeconds"]?.intValue == 77 && session["description"]?.stringValue == "zz", "\(session)")
    }

    @Test func closeSessionEndsTheSessionLikeDeleteSession() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        let closed = try SessionTests.call(gateway.port, token, "closeSession", #","api":"admin","params":{}"#)
        #expect(closed["errorCode"]?.intValue == 0, "\(closed)")
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 12031)
        #expect(SessionLifetimeTests.waitFor(5) { (try? SessionTests.stubStats(stub)["sessions"]?.intValue) == 0 }, "the upstream session is closed too")
    }

    @Test func errorAnswersHaveFairComsShape() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let unknown = try #require(TestClient.post(port: gateway.port, #"{"action":"listSessions","authToken":"nope","requestId":"2"}"#).json)
        #expect(unknown["errorCode"]?.intValue == 12031 && unknown["result"] == nil, "\(unknown)")
        let ok = try #require(TestClient.post(port: gateway.port, #"{"action":"pingSession"}"#).json)
        #expect(ok["errorCode"]?.intValue == 0 && ok["result"] == .object([]))
    }

    /// FairCom's SQLAlchemy dialect ends each connection with closeSession: no session may leak.
    @Test func theSQLAlchemyDialectConnectsAHundredTimesWithoutLeaking() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerIpAddress": 50]
            config["logging"] = ["level": "info"]
        }
        let script = Command.repository.appendingPathComponent("scripts/e2e/sqlalchemy_e2e.py").path
        let result = try Command.run("python3", [script, "127.0.0.1", String(gateway.port), "100"], timeout: 300)
        #expect(result.status == 0, "\(result.stdout.suffix(2000))\(result.stderr.suffix(2000))")
        #expect(result.stdout.contains("100 cycles"), "\(result.stdout.suffix(500))")
        #expect(try SessionTests.stubStats(stub)["sessions"]?.intValue == 0, "upstream sessions leaked")
    }
}
