import Foundation
import GatewayJSON
import GatewayTestSupport
import Glibc
import Testing

/// Requests that a lenient proxy would pass on in a form the upstream reads differently.
@Suite struct StrictEdgeTests {
    static func raw(_ port: Int, _ request: String) throws -> TestResponse {
        let client = try TestClient(port: port)
        client.send(request)
        return try #require(client.readResponse(), "no answer to \(request.debugDescription)")
    }

    @Test func severalForwardedForLinesAreOneList() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerIpAddress": 1]
            config["sessions"] = ["dataDirectory": data, "trustedProxies": ["127.0.0.1"]]
        }
        // The proxy appends the real client on a line of its own; the client spoofs the first one.
        func login(spoofed: String) throws -> Int? {
            try Self.raw(gateway.port, "POST /api HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: \(spoofed)\r\nX-Forwarded-For: 203.0.113.5\r\n"
                + "Content-Length: \(loginBody.utf8.count)\r\n\r\n\(loginBody)").json?["errorCode"]?.intValue
        }
        #expect(try login(spoofed: "198.51.100.1") == 0)
        #expect(try login(spoofed: "198.51.100.2") == 17031, "a spoofed first line evaded the per-address limit")
    }

    @Test func aDuplicatedParamsKeyIsRefusedHoweverItIsEscaped() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let body = #"{"api":"admin","action":"createSession","params":{"username":"alice","password":"x","user\u006eame":"admin"}}"#
        let answer = try #require(TestClient.post(port: gateway.port, body).json)
        #expect(answer["errorCode"]?.intValue == 17024 && answer["errorMessage"]?.stringValue?.contains("params.username") == true, "\(answer)")
        #expect(try SessionTests.stubStats(stub)["requests"]?.intValue == 0, "the login reached the upstream")
        let token = try TestClient.login(port: gateway.port)
        let altered = try SessionTests.call(gateway.port, token, "alterSession", #","params":{"description":"a","descr\u0069ption":"b"}"#)
        #expect(altered["errorCode"]?.intValue == 17024, "\(altered)")
    }

    @Test func pathsThatCouldLeaveTheAPIRootAreRefused() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        let before = try #require(SessionTests.stubStats(stub)["requests"]?.intValue)
        let body = #"{"action":"listDatabases","authToken":"\#(token)"}"#
        for path in ["/api/../stub/faults", "/api/%2e%2e/stub/faults", "/api/%2E./x", "/api/./x", "/api/a%2fb", "/api/a%5C..%5Cb"] {
            let response = try Self.raw(gateway.port, "POST \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            #expect(response.status == 400 && response.json?["errorCode"]?.intValue == 17000, "\(path): \(response.status) \(response.text)")
        }
        #expect(try SessionTests.stubStats(stub)["requests"]?.intValue == before, "a refused path reached the upstream")
        // Over HTTP/2 too.
        let result = try Command.run("curl", ["-sS", "--http2-prior-knowledge", "--path-as-is", "-w", "\n%{http_code}", "-d", body,
                                              "http://127.0.0.1:\(gateway.port)/api/%2e%2e/stub/faults"])
        #expect(result.stdout.hasSuffix("\n400"), "\(result.output)")
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
    }

    /// A raw non-ASCII byte in an HTTP/2 :path (curl would percent-encode it) is refused, as HTTP/1.1 refuses it.
    @Test func nonASCIIInAnHTTP2PathIsRefused() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let client = try TestClient(port: gateway.port, timeoutSeconds: 5)
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
        // HEADERS, END_STREAM | END_HEADERS: GET, http, a literal :path "/api/caf\u{e9}" (one raw byte 0xE9), :authority "x".
        let path = Array("/api/caf".utf8) + [0xE9]
        let block: [UInt8] = [0x82, 0x86, 0x04, UInt8(path.count)] + path + [0x01, 1, UInt8(ascii: "x")]
        client.send(preface + settings + [0, 0, UInt8(block.count), 1, 5, 0, 0, 0, 1] + block)
        let answer = try #require(HTTP2Frames.first(of: [1, 3], stream: 1, on: client, within: 4), "no answer on stream 1")
        // Either nghttp2 resets the stream, or the gateway answers 400 (HPACK static index 12: 0x8c).
        #expect(answer.type == 3 || (answer.type == 1 && answer.payload.first == 0x8C), "frame \(answer.type) \(answer.payload.prefix(8))")
        #expect(try SessionTests.stubStats(stub)["requests"]?.intValue == 0)
    }

    @Test func bareLineFeedsGet400AtOnce() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { $0["limits"] = ["headerTimeoutSeconds": 10] }
        let started = Date()
        let response = try Self.raw(gateway.port, "GET /health HTTP/1.1\nHost: a\n\n")
        #expect(response.status == 400 && response.text.contains("bare LF"), "\(response.status) \(response.text)")
        #expect(Date().timeIntervalSince(started) < 5, "answered only after the header timeout")
    }

    @Test func plainHTTPSentToATLSPortGets400() throws {
        let setup = try TLSGateway()
        let response = try Self.raw(setup.tlsPort, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(response.status == 400 && response.text.contains("plain HTTP was sent to the TLS listener tls"), "\(response.status) \(response.text)")
        // TLS clients go on as before.
        let result = try setup.curl("/health")
        #expect(result.status == 0 && result.stdout.contains("ok"), "\(result.output)")
    }

    @Test func twoHostHeadersGet400() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let response = try Self.raw(gateway.port, "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        #expect(response.status == 400 && response.text.contains("more than one Host"), "\(response.status) \(response.text)")
    }
}
