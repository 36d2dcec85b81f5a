import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// Sessions restored from the journal are confirmed with their upstream; those it no longer
/// knows (it restarted while the gateway was down) are closed and freed from the limits.
@Suite struct ReconciliationTests {
    static func usernames(_ port: Int, _ token: String) throws -> Int {
        try #require(SessionTests.call(port, token, "listSessions")["result"]?["sessions"]?.arrayValue).count
    }

    @Test func ghostsOfARestartedUpstreamAreDroppedOnceItIsBack() throws {
        let steady = try Servers.stub()
        var restarted = try Servers.stub()
        let restartedPort = restarted.port
        let data = try Servers.temporaryDirectory()
        let config = try Servers.gatewayConfig(upstreamPorts: [steady.port, restartedPort]) { config in
            config["sessions"] = ["dataDirectory": data]
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 6]
        }
        var gateway = try Servers.gateway(configPath: config)
        // Round-robin: three sessions on each upstream.
        let tokens = try (0..<6).map { _ in try #require(SessionTests.login(gateway.port)["authToken"]?.stringValue) }
        #expect(try SessionTests.stubStats(steady)["sessions"]?.intValue == 3)
        gateway.stop()

        // The second upstream restarts (forgetting its sessions) and is still down when the gateway starts.
        restarted.stop()
        gateway = try Servers.gateway(configPath: config)
        #expect(SessionLifetimeTests.waitFor(10) { gateway.stderr.contains("confirming 6 restored sessions") }, "\(gateway.stderr)")
        // While it is down its sessions stay (pending), so the limit is still reached.
        #expect(try SessionTests.login(gateway.port)["errorCode"]?.intValue == 17032)

        restarted = try Servers.stub(["--port", String(restartedPort)])
        let reconciled = SessionLifetimeTests.waitFor(15) {
            gateway.stderr.contains("restored sessions reconciled: 3 confirmed by their upstreams, 3 dropped")
        }
        #expect(reconciled, "\(gateway.stderr)")
        var answers: [Int?] = []
        for token in tokens { answers.append(try SessionTests.call(gateway.port, token, "pingSession")["errorCode"]?.intValue) }
        #expect(answers.filter { $0 == 0 }.count == 3 && answers.filter { $0 == 12031 }.count == 3, "\(answers)")
        let live = try #require(tokens.first { try SessionTests.call(gateway.port, $0, "pingSession")["errorCode"]?.intValue == 0 })
        #expect(try Self.usernames(gateway.port, live) == 3, "ghosts are no longer listed")
        // The freed places can be used again, and the drop is durable.
        for _ in 0..<3 { #expect(try SessionTests.login(gateway.port)["errorCode"]?.intValue == 0) }
        #expect(try SessionTests.login(gateway.port)["errorCode"]?.intValue == 17032)
        gateway.stop()
        gateway = try Servers.gateway(configPath: config)
        #expect(gateway.stderr.contains("6 restored"), "\(gateway.stderr)")
    }
}
