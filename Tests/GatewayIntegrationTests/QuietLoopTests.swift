import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// An event loop that had nothing to do for longer than a timeout must arm the next connection's
/// timers from the current time: the first requests after a quiet period are answered.
@Suite struct QuietLoopTests {
    /// Four loops on two cores: most of them sleep through the gap, and the kernel spreads the
    /// fresh connections over all of them (SO_REUSEPORT).
    static func quietGateway() throws -> TLSGateway {
        try TLSGateway(tls: ["handshakeTimeoutSeconds": 1]) { config in
            config["workers"] = 4
            config["limits"] = ["keepAliveTimeoutSeconds": 1, "headerTimeoutSeconds": 1]
        }
    }

    /// Longer than every timeout above; the point of the test is the gap itself.
    static func quietPeriod() { Thread.sleep(forTimeInterval: 2.5) }

    @Test func freshHTTP1ConnectionsAfterAQuietPeriodAreAnswered() throws {
        let setup = try Self.quietGateway()
        let port = setup.plainPort
        for round in 0..<2 {
            Self.quietPeriod()
            for attempt in 0..<16 {
                let response = try TestClient.post(port: port, loginBody)
                #expect(response.json?["errorCode"]?.intValue == 0, "round \(round), connection \(attempt): \(response.text)")
            }
        }
    }

    @Test func freshTLSAndHTTP2ConnectionsAfterAQuietPeriodAreAnswered() throws {
        let setup = try Self.quietGateway()
        let h2c = ["-sS", "--max-time", "10", "--http2-prior-knowledge", "-w", "\n%{http_version}", "-d", loginBody,
                   "http://127.0.0.1:\(setup.plainPort)/api"]
        let kinds: [(name: String, version: String, run: () throws -> Command.Result)] = [
            ("TLS", "1.1", { try setup.curl(body: loginBody, ["--http1.1"]) }),
            ("h2 over TLS", "2", { try setup.curl(body: loginBody, ["--http2"]) }),
            ("h2c", "2", { try Command.run("curl", h2c) }),
        ]
        for kind in kinds {
            Self.quietPeriod()
            for attempt in 0..<12 {
                let result = try kind.run()
                let (json, version) = bodyAndVersion(result)
                #expect(result.status == 0 && json?["errorCode"]?.intValue == 0 && version == kind.version,
                        "\(kind.name) connection \(attempt): exit \(result.status) \(result.output)")
            }
        }
        let statistics = try setup.statistics()
        #expect(statistics["tlsHandshakes"] ?? 0 >= 24, "\(statistics)")
        #expect(statistics["tlsHandshakeTimeouts"] == 0, "\(statistics)")
    }
}
