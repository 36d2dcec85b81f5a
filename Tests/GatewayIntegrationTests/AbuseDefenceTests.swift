import Foundation
import GatewayJSON
import GatewayTestSupport
import Glibc
import Testing

/// HTTP/2 rapid reset and frame floods, the gateway-wide body budget and HTTP/2 body timeouts,
/// each replayed against a real gateway and stub (the attack suite, scripts/attack, replays them
/// at full rate and measures a probe client; these check the behaviour, quickly).
@Suite(.serialized) struct AbuseDefenceTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 0, 4, 0, 0, 0, 0, 0]

    static func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        [UInt8(payload.count >> 16), UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff), type, flags,
         UInt8(stream >> 24), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    /// HEADERS for POST /api (HPACK: static :method POST and :scheme http, literal :path, :authority
    /// and any extra fields), END_HEADERS, and END_STREAM when `ended`.
    static func postHeaders(_ stream: UInt32, ended: Bool = false, extra: [(String, String)] = []) -> [UInt8] {
        func literal(_ name: String, _ value: String) -> [UInt8] {
            [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
        }
        var block: [UInt8] = [0x83, 0x86, 0x04, 4] + Array("/api".utf8) + [0x01, 1, UInt8(ascii: "x")]
        for (name, value) in extra { block += literal(name, value) }
        return frame(1, ended ? 5 : 4, stream, block)
    }

    static func rstStream(_ stream: UInt32) -> [UInt8] { frame(3, 0, stream, [0, 0, 0, 8]) }

    /// The first GOAWAY's error code, or nil when none came (the connection closed, or time ran out).
    static func goAwayCode(on client: TestClient, within seconds: Double) -> UInt32? {
        guard let goAway = HTTP2Frames.first(of: [7], stream: 0, on: client, within: seconds), goAway.payload.count >= 8 else { return nil }
        return goAway.payload[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func listenerStats(_ gateway: ServerProcess) throws -> JSONValue {
        try #require(try TestClient.get(port: gateway.port, "/stats").json?["listeners"]?.arrayValue?.first)
    }

    // MARK: rapid reset

    @Test func aStreamResetAfterItsRequestWentUpstreamCostsNoNewUpstreamConnection() throws {
        let stub = try Servers.stub(["--latency-ms", "30"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["upstreams"] = [["name": "stub", "url": "http://127.0.0.1:\(stub.port)/api", "maxConnections": 2,
                                    "healthCheckIntervalSeconds": 600]]
        }
        let token = try TestClient.login(port: gateway.port)
        // Every look at the stub's counters is a connection to it too: they are counted and taken off.
        var looks = 0
        func stubCounter(_ name: String) throws -> Int {
            looks += 1
            return try SessionTests.stubStats(stub)[name]?.intValue ?? -1
        }
        let before = try stubCounter("connectionsAccepted")
        let client = try TestClient(port: gateway.port)
        client.send(Self.preface)
        let body = Array(#"{"action":"listDatabases","authToken":"\#(token)"}"#.utf8)
        for index in 0..<12 {
            let stream = UInt32(2 * index + 1)
            client.send(Self.postHeaders(stream) + Self.frame(0, 1, stream, body))
            // The request is forwarded (the upstream takes 30 ms to answer), then cancelled.
            let forwarded = try SessionLifetimeTests.waitFor(5) { try stubCounter("requests") >= index + 2 }
            #expect(forwarded)
            client.send(Self.rstStream(stream))
        }
        // Each cancelled exchange ran to its end upstream; its connection went back to the pool.
        let answer = try SessionTests.call(gateway.port, token, "listDatabases")
        #expect(answer["errorCode"]?.intValue == 0)
        let after = try stubCounter("connectionsAccepted")
        let opened = after - before - (looks - 1)
        #expect(opened <= 2, "\(opened) upstream connections for 12 cancelled streams; the pool has 2")
        #expect(try Self.listenerStats(gateway)["http2ResetsReceived"]?.intValue == 12)
    }

    @Test func resetsBeyondTheAllowanceEndTheConnectionAndTurnTheAddressAwayUntilItRefills() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["http2CostlyFrameBurst": 10, "http2CostlyFramesPerSecond": 2]
        }
        let token = try TestClient.login(port: gateway.port)
        let body = Array(#"{"action":"listDatabases","authToken":"\#(token)"}"#.utf8)
        let attacker = try TestClient(port: gateway.port, sourceAddress: "127.0.0.2")
        var flood = Self.preface
        for index in 0..<40 {
            let stream = UInt32(2 * index + 1)
            flood += Self.postHeaders(stream) + Self.frame(0, 1, stream, body) + Self.rstStream(stream)
        }
        attacker.send(flood)
        #expect(Self.goAwayCode(on: attacker, within: 5) == 0xb, "GOAWAY ENHANCE_YOUR_CALM")
        #expect(attacker.isClosedByPeer())
        // The same address is turned away at once while it has no allowance left; another is served.
        let again = try TestClient(port: gateway.port, sourceAddress: "127.0.0.2")
        again.send(Self.preface)
        #expect(again.isClosedByPeer())
        let other = try TestClient(port: gateway.port, sourceAddress: "127.0.0.3")
        other.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(other.readResponse()?.status == 200)
        #expect(try (Self.listenerStats(gateway)["http2FloodsStopped"]?.intValue ?? 0) >= 2)
        // Half a second refills one frame: the address is served again.
        let served = try SessionLifetimeTests.waitFor(5) {
            let client = try TestClient(port: gateway.port, sourceAddress: "127.0.0.2")
            client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            return client.readResponse()?.status == 200
        }
        #expect(served)
        #expect(gateway.stderr.contains("GOAWAY ENHANCE_YOUR_CALM"), "the flood is logged")
    }

    @Test func aPingFloodIsStoppedLikeAResetFlood() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["http2CostlyFrameBurst": 20, "http2CostlyFramesPerSecond": 1]
        }
        let client = try TestClient(port: gateway.port, sourceAddress: "127.0.0.4")
        client.send(Self.preface + (0..<200).flatMap { _ in Self.frame(6, 0, 0, Array(repeating: 7, count: 8)) })
        #expect(Self.goAwayCode(on: client, within: 5) == 0xb)
    }

    // MARK: the body budget

    @Test func aNewLargeBodyBeyondTheBudgetGets503WhileSmallRequestsGoOn() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["maxBodyBytes": 600_000, "maxBufferedBodyBytes": 1_048_576]
        }
        let token = try TestClient.login(port: gateway.port)
        // One client holds an unfinished 600,000-byte body: counted in full from its head.
        let holder = try TestClient(port: gateway.port)
        holder.send("POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 600000\r\n\r\n{\"pad\":\"")
        #expect(try SessionLifetimeTests.waitFor(5) {
            try TestClient.get(port: gateway.port, "/stats").json?["bufferedBodyBytes"]?.intValue == 600_000
        })
        // A second large body would pass the seven eighths large bodies may hold.
        let refused = try TestClient(port: gateway.port)
        refused.send("POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n")
        let answer = try #require(refused.readResponse())
        #expect(answer.status == 503)
        #expect(answer.headers["retry-after"] == "1")
        #expect(answer.json?["errorCode"]?.intValue == 17006)
        #expect(answer.json?["errorMessage"]?.stringValue?.contains("limits.maxBufferedBodyBytes") == true)
        #expect(refused.isClosedByPeer())
        // Over HTTP/2 too: a stream declaring 400,000 bytes is answered 503 on that stream.
        let h2 = try TestClient(port: gateway.port)
        h2.send(Self.preface + Self.postHeaders(1, extra: [("content-length", "400000")]) + Self.frame(0, 0, 1, Array(repeating: 32, count: 1000)))
        let h2Answer = try #require(HTTP2Frames.first(of: [1, 3], stream: 1, on: h2, within: 5))
        #expect(h2Answer.type == 1, "answered with HEADERS, not reset")
        // Ordinary requests still pass: small bodies keep the last eighth.
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
        // The holder leaves: its bytes come back.
        holder.shutdownWrite()
        #expect(try SessionLifetimeTests.waitFor(5) {
            try TestClient.get(port: gateway.port, "/stats").json?["bufferedBodyBytes"]?.intValue == 0
        })
        #expect(try (Self.listenerStats(gateway)["bodyBudgetRefusals"]?.intValue ?? 0) == 2)
    }

    // MARK: HTTP/2 body timeout

    @Test func anHTTP2BodyTrickledSlowerThanTheBodyTimeoutIsAnswered408() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["bodyTimeoutSeconds": 1]
        }
        let client = try TestClient(port: gateway.port, timeoutSeconds: 1)
        client.send(Self.preface + Self.postHeaders(1))
        let started = Date()
        // A byte every 200 ms: the stream never stalls, but its body never ends.
        var answer: (type: UInt8, payload: [UInt8])?
        while answer == nil && Date().timeIntervalSince(started) < 6 {
            client.send(Self.frame(0, 0, 1, [32]))
            answer = HTTP2Frames.first(of: [1, 3], stream: 1, on: client, within: 0.2)
        }
        let waited = Date().timeIntervalSince(started)
        #expect(answer?.type == 1, "a 408 answer (HEADERS), not silence or a bare reset")
        #expect(waited >= 0.9 && waited < 3.5, "answered after \(waited) s; the body timeout is 1 s from the HEADERS")
    }
}
