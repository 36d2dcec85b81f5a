import Dispatch
import Foundation
import GatewayJSON
import GatewayTestSupport
import Synchronization
import Testing

@Suite struct ForwardingTests {
    /// pingSession requests with the given requestIds, back to back in one string.
    static func pipelinedPings(_ ids: ClosedRange<Int>) -> String {
        ids.map { id in
            let body = #"{"action":"pingSession","requestId":\#(id)}"#
            return "POST /api HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        }.joined()
    }

    @Test func loginAndActionsAreForwardedWithTheirRequestIds() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let login = try TestClient.post(port: gateway.port,
            #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"},"requestId":{"n":1}}"#)
        #expect(login.status == 200)
        #expect(login.headers["content-type"] == "application/json")
        let json = try #require(login.json)
        #expect(json["errorCode"]?.intValue == 0)
        #expect(json["requestId"] == .object([("n", .int(1))]))
        let token = try #require(json["authToken"]?.stringValue)
        #expect(json["result"]?["authToken"]?.stringValue == token)

        let echo = try TestClient.post(port: gateway.port, #"{"action":"echo","params":{"x":[1,2]},"authToken":"\#(token)","requestId":"r2"}"#, path: "/api/db")
        #expect(echo.json?["result"] == .object([("x", .array([.int(1), .int(2)]))]))
        #expect(echo.json?["requestId"] == .string("r2"))

        let rows = try TestClient.post(port: gateway.port, #"{"api":"db","action":"getRecordsUsingSQL","params":{"sql":"select * from athlete"},"responseOptions":{"dataFormat":"arrays"},"authToken":"\#(token)"}"#)
        #expect(rows.json?["result"]?["dataFormat"]?.stringValue == "arrays")
        #expect(rows.json?["result"]?["data"]?.arrayValue?.count == 3)

        let refused = try TestClient.post(port: gateway.port, #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"wrong"}}"#)
        #expect(refused.status == 200 && refused.json?["errorCode"]?.intValue == 1215)
    }

    @Test func chunkedRequestBodiesAreForwardedWhole() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        let body = #"{"action":"echo","params":{"text":"split across chunks"},"authToken":"\#(token)"}"#
        let bytes = Array(body.utf8)
        let client = try TestClient(port: gateway.port)
        var request = "POST /api HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        request += String(10, radix: 16) + "\r\n" + String(decoding: bytes[..<10], as: UTF8.self) + "\r\n"
        request += String(bytes.count - 10, radix: 16) + "\r\n" + String(decoding: bytes[10...], as: UTF8.self) + "\r\n0\r\n\r\n"
        client.send(request)
        let response = try #require(client.readResponse())
        #expect(response.json?["result"]?["text"]?.stringValue == "split across chunks")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let client = try TestClient(port: gateway.port)
        client.send(Self.pipelinedPings(1...20))
        for id in 1...20 {
            let response = try #require(client.readResponse(), "response \(id)")
            #expect(response.json?["requestId"]?.intValue == id)
        }
    }

    @Test func aHalfClosedClientGetsEveryAnswerThenTheClose() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let client = try TestClient(port: gateway.port)
        client.send(Self.pipelinedPings(1...3) + "GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        client.shutdownWrite()
        for id in 1...3 {
            #expect(client.readResponse()?.json?["requestId"]?.intValue == id)
        }
        #expect(client.readResponse()?.status == 200)
        #expect(client.isClosedByPeer())
    }

    @Test func keepAlivePoolBoundsUpstreamConnections() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["upstreams"] = [["name": "pool", "url": "http://127.0.0.1:\(stub.port)/api", "maxConnections": 4,
                                    "healthCheckIntervalSeconds": 3600]]
        }
        let token = try TestClient.login(port: gateway.port)
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 16) { _ in
            guard let client = try? TestClient(port: gateway.port) else { failures.add(1, ordering: .relaxed); return }
            for _ in 0..<25 {
                client.sendPost(#"{"action":"echo","authToken":"\#(token)"}"#)
                if client.readResponse()?.json?["errorCode"]?.intValue != 0 { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let stats = try #require(TestClient.get(port: stub.port, "/stub/stats").json)
        // One connection of the start-up health probe, at most four of the pool.
        let accepted = try #require(stats["connectionsAccepted"]?.intValue)
        #expect(accepted <= 5, "the gateway opened \(accepted) upstream connections for 400 requests")
        #expect(stats["requests"]?.intValue == 401, "one login and 400 forwarded requests")
        #expect(try #require(stats["connectionsOpen"]?.intValue) <= 5)
    }

    @Test func loginsAreSpreadOverUpstreamsAndEachSessionStaysOnItsOwn() throws {
        let first = try Servers.stub(), second = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [first.port, second.port])
        var tokens: [String] = []
        for _ in 0..<10 { tokens.append(try TestClient.login(port: gateway.port)) }
        let sessionsA = try TestClient.get(port: first.port, "/stub/stats").json?["sessions"]?.intValue
        let sessionsB = try TestClient.get(port: second.port, "/stub/stats").json?["sessions"]?.intValue
        #expect(sessionsA == 5 && sessionsB == 5)
        // Every request of one session reaches the upstream that holds its upstream session.
        let client = try TestClient(port: gateway.port)
        for _ in 0..<6 {
            client.sendPost(#"{"action":"echo","authToken":"\#(tokens[0])"}"#)
            #expect(client.readResponse()?.json?["errorCode"]?.intValue == 0)
        }
        let a = try TestClient.get(port: first.port, "/stub/stats").json?["requests"]?.intValue ?? 0
        let b = try TestClient.get(port: second.port, "/stub/stats").json?["requests"]?.intValue ?? 0
        #expect([a, b].sorted() == [5, 11], "requests per upstream: \(a), \(b)")
    }

    @Test func expectContinueGetsAGoAhead() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let client = try TestClient(port: gateway.port)
        let body = #"{"action":"pingSession","requestId":"c"}"#
        client.send("POST /api HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        #expect(client.readResponse()?.status == 100)
        client.send(body)
        let response = try #require(client.readResponse())
        #expect(response.status == 200 && response.json?["requestId"]?.stringValue == "c")
    }

    @Test func healthReadinessAndOtherRoutes() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
        let ready = try TestClient.get(port: gateway.port, "/ready")
        #expect(ready.status == 200 && ready.json?["ready"] == .bool(true))
        let missing = try TestClient.get(port: gateway.port, "/nowhere")
        #expect(missing.status == 404 && missing.json?["errorCode"]?.intValue == 17002)
        let wrongMethod = try TestClient.get(port: gateway.port, "/api")
        #expect(wrongMethod.status == 405 && wrongMethod.headers["allow"] == "POST")
        #expect(wrongMethod.json?["errorMessage"]?.stringValue?.contains("POST") == true)
        let notAPI = try TestClient.post(port: gateway.port, "{}", path: "/apiary")
        #expect(notAPI.status == 404)
    }
}
