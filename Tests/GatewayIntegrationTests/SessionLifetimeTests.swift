import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// Idle expiry, permanent sessions and what survives a restart or a kill -9.
@Suite struct SessionLifetimeTests {
    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }

    static func upstreamSessions(_ stub: ServerProcess) throws -> [JSONValue] {
        try #require(TestClient.get(port: stub.port, "/stub/sessions").json?["sessions"]?.arrayValue)
    }

    @Test func aSessionIdleForItsTimeoutEndsAndSoDoesItsUpstreamSession() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let idle = try #require(SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","idleConnectionTimeoutSeconds":1"#)["authToken"]?.stringValue)
        let kept = try #require(SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","idleConnectionTimeoutSeconds":1"#)["authToken"]?.stringValue)
        // The upstream session never idles out by itself: the gateway ends it.
        #expect(try Self.upstreamSessions(stub).allSatisfy { $0["idleConnectionTimeoutSeconds"]?.intValue == 0 })
        // Keep one session busy and watch the upstream: the idle one's upstream session is closed
        // when it expires (a request with its token would count as use, so it is not sent yet).
        let started = Date()
        var closedAfter: TimeInterval?
        while Date().timeIntervalSince(started) < 6 {
            #expect(try SessionTests.call(gateway.port, kept, "pingSession")["errorCode"]?.intValue == 0)
            if try Self.upstreamSessions(stub).count == 1 {
                closedAfter = Date().timeIntervalSince(started)
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let after = try #require(closedAfter, "the idle session never expired")
        #expect(after >= 0.9, "expired after \(after) s, before its one-second timeout")
        #expect(try SessionTests.call(gateway.port, idle, "listDatabases")["errorCode"]?.intValue == 12031)
        #expect(try SessionTests.call(gateway.port, kept, "listDatabases")["errorCode"]?.intValue == 0, "used sessions stay")
        #expect(gateway.stderr.contains("expired after 1 s idle"))
    }

    @Test func permanentSessionsAreRefusedUnlessEnabled() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let refused = try SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","permanentSession":true"#)
        #expect(refused["errorCode"]?.intValue == 17033)
        let message = refused["errorMessage"]?.stringValue ?? ""
        #expect(message.contains("enablePermanentJsonApiSessions") && message.contains("gateway.json"), "\(message)")
        #expect(try SessionTests.stubStats(stub)["requests"]?.intValue == 0)
    }

    @Test func aPermanentSessionSurvivesKill9AndStaysAnAPIKey() throws {
        let stub = try Servers.stub()
        let dataDirectory = try Servers.temporaryDirectory()
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["enablePermanentJsonApiSessions": true]
            config["sessions"] = ["dataDirectory": dataDirectory]
        }
        var gateway = try Servers.gateway(configPath: config)
        let login = try SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","permanentSession":true,"idleConnectionTimeoutSeconds":1"#)
        let key = try #require(login["authToken"]?.stringValue)
        #expect(login["result"]?["permanentSession"] == .bool(true))
        #expect(login["result"]?["idleConnectionTimeoutSeconds"]?.intValue == -1)
        #expect(try Self.upstreamSessions(stub).first?["permanentSession"] == .bool(true), "a permanent upstream session where allowed")

        Thread.sleep(forTimeInterval: 1.5)
        #expect(try SessionTests.call(gateway.port, key, "listDatabases")["errorCode"]?.intValue == 0, "a permanent session never idles out")
        gateway.kill()
        gateway = try Servers.gateway(configPath: config)
        let after = try SessionTests.call(gateway.port, key, "listDatabases")
        #expect(after["errorCode"]?.intValue == 0, "\(after)")
        let described = try SessionTests.call(gateway.port, key, "describeSessions", #","params":{"authTokens":["\#(key)"]}"#)
        #expect(described["result"]?["sessions"]?.arrayValue?.first?["permanentSession"] == .bool(true))

        // The journal holds the token's digest, never the token, and only its owner may read it.
        let journal = dataDirectory + "/sessions.journal"
        #expect(!(try String(contentsOfFile: journal, encoding: .utf8)).contains(key))
        #expect((try FileManager.default.attributesOfItem(atPath: journal)[.posixPermissions] as? Int) == 0o600)

        // deleteSession revokes the key, for good: a restart does not bring it back.
        #expect(try SessionTests.call(gateway.port, key, "deleteSession")["errorCode"]?.intValue == 0)
        gateway.kill()
        gateway = try Servers.gateway(configPath: config)
        #expect(try SessionTests.call(gateway.port, key, "listDatabases")["errorCode"]?.intValue == 12031)
        #expect(try Self.waitFor(3) { try Self.upstreamSessions(stub).isEmpty })
    }

    @Test func anUpstreamWithoutPermanentSessionsGetsOneThatNeverIdlesOut() throws {
        let stub = try Servers.stub(["--permanent-sessions", "refuse"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["enablePermanentJsonApiSessions": true]
        }
        let login = try SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","permanentSession":true"#)
        #expect(login["errorCode"]?.intValue == 0 && login["result"]?["permanentSession"] == .bool(true))
        let upstream = try Self.upstreamSessions(stub)
        #expect(upstream.count == 1 && upstream[0]["permanentSession"] == .bool(false) && upstream[0]["idleConnectionTimeoutSeconds"]?.intValue == 0)
    }

    @Test func ordinarySessionsSurviveARestartAndATornJournalTailIsSkipped() throws {
        let stub = try Servers.stub()
        let dataDirectory = try Servers.temporaryDirectory()
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { config in
            config["sessions"] = ["dataDirectory": dataDirectory]
        }
        var gateway = try Servers.gateway(configPath: config)
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        gateway.kill()
        // A crash in the middle of a write leaves half a record at the end.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dataDirectory + "/sessions.journal"))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"op":"open","digest":"ab12"#.utf8))
        try handle.close()
        gateway = try Servers.gateway(configPath: config)
        #expect(try SessionTests.call(gateway.port, token, "echo")["errorCode"]?.intValue == 0)
        #expect(gateway.stderr.contains("torn"))
    }

    @Test func withoutPersistenceOrdinarySessionsEndAtRestartAndUpstreamKeepsNoOrphans() throws {
        let stub = try Servers.stub()
        let dataDirectory = try Servers.temporaryDirectory()
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { config in
            config["sessions"] = ["dataDirectory": dataDirectory, "persistSessions": false]
            config["jsonActionApiDefaults"] = ["enablePermanentJsonApiSessions": true]
        }
        var gateway = try Servers.gateway(configPath: config)
        let ordinary = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        let permanent = try #require(SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","permanentSession":true"#)["authToken"]?.stringValue)
        #expect(try Self.upstreamSessions(stub).count == 2)
        gateway.kill()
        gateway = try Servers.gateway(configPath: config)
        #expect(try SessionTests.call(gateway.port, ordinary, "echo")["errorCode"]?.intValue == 12031)
        #expect(try SessionTests.call(gateway.port, permanent, "echo")["errorCode"]?.intValue == 0)
        #expect(try Self.waitFor(3) { try Self.upstreamSessions(stub).count == 1 }, "the ordinary session's upstream session was closed")
    }

    @Test func anUpstreamThatForgotTheSessionEndsItHereToo() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue)
        stub.kill()
        let restarted = try ServerProcess("faircom-stub", arguments: ["--port", "\(stub.port)", "--workers", "1"], readyMarker: "faircom-stub listening on")
        defer { restarted.stop() }
        #expect(try Self.waitFor(10) { try TestClient.get(port: gateway.port, "/ready").status == 200 }, "the upstream is back")
        let first = try SessionTests.call(gateway.port, token, "echo")
        #expect(first["errorCode"]?.intValue == 12031 && first["authToken"]?.stringValue == token)
        // The gateway dropped the session: it no longer counts and no longer lists.
        #expect(try SessionTests.call(gateway.port, token, "pingSession")["errorCode"]?.intValue == 12031)
    }
}
