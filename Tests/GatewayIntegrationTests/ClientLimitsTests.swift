import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// Bad or abusive clients: each gets a clear status and a FairCom-shaped body, and the gateway goes on.
@Suite struct ClientLimitsTests {
    static func gateway(_ stub: ServerProcess) throws -> ServerProcess {
        try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["maxBodyBytes": 1024, "headerTimeoutSeconds": 0.5, "bodyTimeoutSeconds": 0.5, "keepAliveTimeoutSeconds": 1]
            config["listeners"] = [["name": "test", "address": "127.0.0.1", "port": 0, "maxConnections": 3]]
        }
    }

    @Test func smugglingAttemptsGet400AndTheConnectionIsClosed() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        let attempts = [
            "POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "POST /api HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST /api HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\nContent-Length: 2\r\n\r\n{}",
            "POST /api HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfoo\r\n",
        ]
        for attempt in attempts {
            let client = try TestClient(port: gateway.port)
            client.send(attempt)
            let response = try #require(client.readResponse(), "no answer to \(attempt.debugDescription)")
            #expect(response.status == 400)
            #expect(response.headers["connection"] == "close")
            #expect(response.json?["errorCode"]?.intValue == 17000)
            let message = response.json?["errorMessage"]?.stringValue ?? ""
            #expect(!message.isEmpty)
            #expect(client.isClosedByPeer())
        }
        let stats = try TestClient.get(port: stub.port, "/stub/stats")
        #expect(stats.json?["requests"]?.intValue == 0, "nothing of a rejected request reaches the upstream")
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
    }

    @Test func oversizeBodyGets413() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        let client = try TestClient(port: gateway.port)
        client.send("POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
        let response = try #require(client.readResponse())
        #expect(response.status == 413 && response.json?["errorCode"]?.intValue == 17001)
        #expect(response.json?["errorMessage"]?.stringValue?.contains("maxBodyBytes") == true)
        #expect(client.isClosedByPeer())
    }

    @Test func slowSendersAreCutOffWith408() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        let slowHead = try TestClient(port: gateway.port)
        slowHead.send("POST /api HTTP/1.1\r\nHost: t\r\n")
        let headTimeout = try #require(slowHead.readResponse())
        #expect(headTimeout.status == 408 && headTimeout.json?["errorCode"]?.intValue == 17004)
        #expect(headTimeout.json?["errorMessage"]?.stringValue?.contains("headers") == true)
        #expect(slowHead.isClosedByPeer())

        let slowBody = try TestClient(port: gateway.port)
        slowBody.send("POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{\"a\"")
        let bodyTimeout = try #require(slowBody.readResponse())
        #expect(bodyTimeout.status == 408 && bodyTimeout.json?["errorMessage"]?.stringValue?.contains("body") == true)
    }

    @Test func idleKeepAliveConnectionsAreClosed() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        let client = try TestClient(port: gateway.port)
        client.sendPost(#"{"action":"pingSession"}"#)
        #expect(client.readResponse()?.status == 200)
        let start = Date()
        #expect(client.isClosedByPeer())
        #expect(Date().timeIntervalSince(start) > 0.5)
    }

    /// Two pipelined echoes and whatever follows, on a client that reads nothing for longer than
    /// the keep-alive timeout. The first answer (3.5–3.8 MiB, streamed) ends at the edge of the loopback socket's
    /// buffers (about 4 MB); with upstream tokens shorter than the gateway's (`--token-bytes 24`) the
    /// second, up to 1 MiB, is rewritten whole and leaves in one write, so it waits in the gateway's
    /// own output.
    static func slowReader(firstAnswerKiB: Int = 3891, secondAnswerKiB: Int, then tail: String = "", limits: [String: Any])
        throws -> (stub: ServerProcess, gateway: ServerProcess, client: TestClient) {
        let stub = try Servers.stub(["--token-bytes", "24"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in config["limits"] = limits }
        let token = try TestClient.login(port: gateway.port)
        let client = try TestClient(port: gateway.port, timeoutSeconds: 20)
        func echo(_ kib: Int) -> String {
            let body = #"{"action":"echo","authToken":"\#(token)","params":{"data":"\#(String(repeating: "x", count: kib << 10))"}}"#
            return "POST /api HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }
        client.send(echo(firstAnswerKiB) + echo(secondAnswerKiB) + tail)
        return (stub, gateway, client)
    }

    /// The gateway holds the end of an answer the client has not read yet: the keep-alive timeout
    /// must not start until it is all sent (a keep-alive close threw the unsent tail away).
    @Test func anAnswerNotYetReadIsNeverCutByTheKeepAliveTimeout() throws {
        let (stub, gateway, client) = try Self.slowReader(secondAnswerKiB: 200, limits: ["keepAliveTimeoutSeconds": 1, "sendTimeoutSeconds": 30])
        defer { withExtendedLifetime((stub, gateway)) {} }
        Thread.sleep(forTimeInterval: 2)  // the slow reader under test: idle past the keep-alive timeout
        for kib in [3891, 200] {
            let answer = try #require(client.readResponse(), "the \(kib) KiB answer was cut short")
            #expect(answer.status == 200 && answer.body.count > kib << 10)
        }
        #expect(client.isClosedByPeer(), "idle once everything is read: the keep-alive timeout closes it")
    }

    /// Once a slow reader has read a large whole answer, what it sent meanwhile gets its own timeout:
    /// half a request's head is answered 408 after the header timeout (it once held the connection for good).
    @Test func halfAHeadSentBehindALargeAnswerStillGets408() throws {
        let (stub, gateway, client) = try Self.slowReader(firstAnswerKiB: 3584, secondAnswerKiB: 900, then: "POST /api HTTP/1.1\r\nHost: t\r\n",
                                                          limits: ["keepAliveTimeoutSeconds": 1, "headerTimeoutSeconds": 1, "sendTimeoutSeconds": 30])
        defer { withExtendedLifetime((stub, gateway)) {} }
        Thread.sleep(forTimeInterval: 2)  // the slow reader under test
        for kib in [3584, 900] {
            let answer = try #require(client.readResponse())
            #expect(answer.status == 200 && answer.body.count > kib << 10)
        }
        let timeout = try #require(client.readResponse(), "the unfinished head was never answered")
        #expect(timeout.status == 408 && timeout.json?["errorCode"]?.intValue == 17004)
        #expect(client.isClosedByPeer())
    }

    /// SIGTERM while answers wait unread: they are sent before the connection closes.
    @Test func answersNotYetReadAreDeliveredAtShutdown() throws {
        let (stub, gateway, client) = try Self.slowReader(firstAnswerKiB: 3891, secondAnswerKiB: 200, limits: ["shutdownGraceSeconds": 10, "sendTimeoutSeconds": 30])
        defer { withExtendedLifetime(stub) {} }
        Thread.sleep(forTimeInterval: 2)  // the slow reader under test
        gateway.signal(SIGTERM)
        for kib in [3891, 200] {
            let answer = try #require(client.readResponse(), "the \(kib) KiB answer was cut at shutdown")
            #expect(answer.status == 200 && answer.body.count > kib << 10, "\(answer.status) \(answer.text.prefix(300))")
        }
        #expect(client.isClosedByPeer())
        #expect(SessionLifetimeTests.waitFor(15) { !gateway.process.isRunning })
        #expect(gateway.process.terminationStatus == 0)
    }

    @Test func connectionsBeyondTheListenerLimitAreRefused() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        let held = try (0..<3).map { _ in try TestClient(port: gateway.port) }
        for client in held {  // make sure all three are admitted before the fourth arrives
            client.sendPost(#"{"action":"pingSession"}"#)
            #expect(client.readResponse()?.status == 200)
        }
        let extra = try TestClient(port: gateway.port)
        let refusal = try #require(extra.readResponse())
        #expect(refusal.status == 503 && refusal.json?["errorCode"]?.intValue == 17005)
        #expect(refusal.json?["errorMessage"]?.stringValue?.contains("maxConnections") == true)
        _ = held
    }

    @Test func randomBytesNeverTakeTheGatewayDown() throws {
        let stub = try Servers.stub()
        let gateway = try Self.gateway(stub)
        var generator = SystemRandomNumberGenerator()
        let fragments = ["POST /api HTTP/1.1\r\n", "Host: t\r\n", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
                         "\r\n", "ffffffffffffffffff\r\n", "\u{00}", " ", ":", "\n", "0\r\n\r\n", "{\"action\":", "GET / HTTP/1.1"]
        for _ in 0..<150 {
            let client = try TestClient(port: gateway.port, timeoutSeconds: 2)
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                if Bool.random(using: &generator) {
                    bytes += Array(fragments.randomElement(using: &generator)!.utf8)
                } else {
                    bytes += (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                }
            }
            client.send(bytes)
            client.shutdownWrite()
            _ = client.readResponse()
        }
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
        #expect(try TestClient.post(port: gateway.port, #"{"action":"pingSession"}"#).json?["errorCode"]?.intValue == 0)
    }
}
