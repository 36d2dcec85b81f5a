import Foundation
import GatewayJSON
import GatewayTestSupport
import Glibc
import Testing

/// HTTP/2 behaviour on a plain listener (h2c with prior knowledge): limits, flow control,
/// protocol errors and GOAWAY on shutdown.
@Suite(.serialized) struct HTTP2Tests {
    func h2c(_ port: Int, body: String, _ extra: [String] = []) throws -> Command.Result {
        try Command.run("curl", ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", "-d", body] + extra + ["http://127.0.0.1:\(port)/api"])
    }

    @Test func theListenerAnnouncesItsStreamLimitAndRefusesOversizedBodies() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["maxConcurrentStreams": 7, "maxBodyBytes": 2048, "maxHeaderBytes": 1024]
        }
        let settings = try Command.run("nghttp", ["-nv", "http://127.0.0.1:\(gateway.port)/health"])
        #expect(settings.stdout.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7"), "\(settings.stdout.prefix(800))")
        let big = #"{"action":"echo","params":{"pad":""# + String(repeating: "x", count: 4096) + #""}}"#
        let answer = try h2c(gateway.port, body: big, ["-i", "-H", "X-Request-ID: h2-413"])
        #expect(answer.stdout.hasSuffix("2 413"), "\(answer.output)")
        #expect(answer.stdout.lowercased().contains("x-request-id: h2-413"), "the client's ID comes back: \(answer.output)")
        #expect(answer.stdout.contains(#""errorCode":"#) && answer.stdout.contains("limits.maxBodyBytes"))
        // A header list beyond limits.maxHeaderBytes resets that stream; the connection lives on.
        let bigHeader = try Command.run("nghttp", ["-v", "-H", "x-padding: " + String(repeating: "p", count: 2000),
                                                   "http://127.0.0.1:\(gateway.port)/health"])
        #expect(bigHeader.stdout.contains("recv RST_STREAM frame"), "\(bigHeader.stdout.suffix(600))")
        #expect(!bigHeader.stdout.contains(":status: 200"))
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
    }

    @Test func aClientWithATinyWindowStillGetsEveryByteOfALargeAnswer() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        let pad = String(repeating: "abcdefgh", count: 256 * 1024) // 2 MiB echoed back
        let bodyFile = try Servers.temporaryDirectory() + "/big.json"
        try #"{"action":"echo","authToken":"\#(token)","params":{"pad":"\#(pad)"}}"#.write(toFile: bodyFile, atomically: false, encoding: .utf8)
        // 16 KiB stream and connection windows: the gateway must hold the rest and pace the upstream.
        let result = try Command.run("nghttp", ["-w", "14", "-W", "14", "-d", bodyFile, "http://127.0.0.1:\(gateway.port)/api"])
        #expect(result.status == 0, "\(result.stderr.suffix(300))")
        let answer = try? JSONParser.parse(Array(result.stdout.utf8))
        #expect(answer?["errorCode"] == .number("0"))
        #expect(answer?["result"]?["pad"]?.stringValue?.count == pad.count)
    }

    @Test func aProtocolErrorClosesThatConnectionOnly() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let healthy = try TestClient(port: gateway.port)
        let broken = try TestClient(port: gateway.port)
        broken.send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0, 0, 4, 0xFF, 0xFF, 0, 0, 0, 0, 1, 2, 3, 4] + Array(repeating: 0xEE, count: 64))
        #expect(broken.isClosedByPeer())
        healthy.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(healthy.readResponse()?.status == 200)
        let again = try h2c(gateway.port, body: loginBody)
        #expect(again.stdout.hasSuffix("2 200"), "\(again.output)")
    }

    @Test func shutdownSendsGoAwayAndFinishesTheStreamUnderWay() throws {
        let stub = try Servers.stub(["--latency-ms", "700"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let bodyFile = try Servers.temporaryDirectory() + "/login.json"
        try loginBody.write(toFile: bodyFile, atomically: false, encoding: .utf8)
        let client = try Command.start("nghttp", ["-v", "-d", bodyFile, "http://127.0.0.1:\(gateway.port)/api"])
        // SIGTERM once the stream is under way: its request has reached the (slow) upstream.
        #expect(SessionLifetimeTests.waitFor(10) { (try? SessionTests.stubStats(stub)["requests"]?.intValue) ?? 0 >= 1 })
        gateway.signal(SIGTERM)
        let text = client.finish()
        #expect(text.contains("recv GOAWAY frame"), "\(text.suffix(600))")
        #expect(text.contains(":status: 200"))
        #expect(text.contains("\"authToken\""))
        gateway.process.waitUntilExit()
        #expect(gateway.process.terminationStatus == 0)
    }
}

/// Raw HTTP/2 frames, for behaviour no well-behaved client shows.
@Suite struct HTTP2StallTests {
    /// Reads frames until one of `type` arrives on `stream` (or the timeout passes); returns whether it did.
    func awaitFrame(type: UInt8, stream: UInt32, on client: TestClient, within seconds: Double) -> Bool {
        HTTP2Frames.first(of: [type], stream: stream, on: client, within: seconds) != nil
    }

    @Test func aStreamWhoseBodyStopsComingIsAnswered408ThenResetAndTheConnectionLivesOn() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["bodyTimeoutSeconds": 0.3]
        }
        let client = try TestClient(port: gateway.port, timeoutSeconds: 5)
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
        // HEADERS on stream 1, END_HEADERS but not END_STREAM: POST, http, "/" from HPACK's static
        // table and a literal :authority.
        let authority: [UInt8] = [0x01, 1, UInt8(ascii: "x")]
        let first: [UInt8] = [0x83, 0x86, 0x84] + authority
        client.send(preface + settings + [0, 0, UInt8(first.count), 1, 4, 0, 0, 0, 1] + first)
        let started = Date()
        #expect(awaitFrame(type: 1, stream: 1, on: client, within: 4), "no 408 answer for the stalled stream")
        let waited = Date().timeIntervalSince(started)
        #expect(waited > 0.25 && waited < 2.5, "answered after \(waited) s; the body timeout is 0.3 s")
        // The client never ends its body: a second later the stream is reset.
        #expect(awaitFrame(type: 3, stream: 1, on: client, within: 4), "no RST_STREAM for the stream still open")
        // The connection still serves a new stream: HEADERS with END_STREAM, GET "/health" literal path.
        let path = Array("/health".utf8)
        let block: [UInt8] = [0x82, 0x86, 0x04, UInt8(path.count)] + path + authority
        client.send([0, 0, UInt8(block.count), 1, 5, 0, 0, 0, 3] + block)
        #expect(awaitFrame(type: 1, stream: 3, on: client, within: 4), "no answer on the next stream")
    }
}
