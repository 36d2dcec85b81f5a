import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// An upstream that is gone, slow or broken yields a FairCom-shaped error, and the gateway keeps serving.
@Suite struct UpstreamFailureTests {
    static func setFaults(_ stub: ServerProcess, _ json: String) throws {
        let response = try TestClient.post(port: stub.port, json, path: "/stub/faults")
        guard response.status == 200 else { throw TestSupportError("fault switch failed: \(response.text)") }
    }

    @Test func requestsStillQueuedWhenTheirClientClosesNeverReachTheUpstream() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["upstreams"] = [["name": "one", "url": "http://127.0.0.1:\(stub.port)/api", "maxConnections": 1,
                                    "responseTimeoutSeconds": 1, "healthCheckIntervalSeconds": 600, "ejectAfterFailures": 0]]
        }
        let token = try TestClient.login(port: gateway.port)
        let body = #"{"action":"listDatabases","authToken":"\#(token)"}"#
        func requests() -> Int { (try? SessionTests.stubStats(stub)["requests"]?.intValue) ?? -1 }
        try Self.setFaults(stub, #"{"mode":"hang"}"#)
        let before = requests()
        let first = try TestClient(port: gateway.port, timeoutSeconds: 10)
        first.sendPost(body)
        #expect(SessionLifetimeTests.waitFor(5) { requests() == before + 1 }, "the first request holds the only upstream connection")
        // Five more wait in the queue; each client then closes its side (FIN), as a client that gave up does.
        let leaving = try (0..<5).map { _ in try TestClient(port: gateway.port, timeoutSeconds: 5) }
        for client in leaving {
            client.sendPost(body)
            client.shutdownWrite()
        }
        for client in leaving { #expect(client.readResponse() == nil, "a withdrawn request is not answered; its connection closes") }
        try Self.setFaults(stub, #"{"mode":"none"}"#)
        let timedOut = try #require(first.readResponse())
        #expect(timedOut.status == 504, "\(timedOut.text)")
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
        #expect(requests() == before + 2, "only the first request and the last reached the upstream, not the five withdrawn ones")
    }

    @Test func killedUpstreamGives502AndTheGatewayGoesOn() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        let client = try TestClient(port: gateway.port)
        client.sendPost(#"{"action":"echo","authToken":"\#(token)"}"#)
        #expect(client.readResponse()?.status == 200)
        stub.kill()
        client.sendPost(#"{"action":"echo","requestId":"after-kill","authToken":"\#(token)"}"#)
        let failed = try #require(client.readResponse())
        #expect(failed.status == 502)
        let json = try #require(failed.json)
        #expect(json["errorCode"]?.intValue == 17010)
        #expect(json["requestId"]?.stringValue == "after-kill")
        let message = json["errorMessage"]?.stringValue ?? ""
        #expect(message.contains("stub0") && message.contains("127.0.0.1:\(stub.port)"), "\(message)")
        // The same client connection still works, and so do new ones.
        client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(client.readResponse()?.status == 200)
        let deadline = Date().addingTimeInterval(5)
        var readiness = 0
        while Date() < deadline {
            readiness = try TestClient.get(port: gateway.port, "/ready").status
            if readiness == 503 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(readiness == 503)
    }

    @Test func slowUpstreamGives504() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["upstreams"] = [["name": "slow", "url": "http://127.0.0.1:\(stub.port)/api", "responseTimeoutSeconds": 0.3]]
        }
        let token = try TestClient.login(port: gateway.port)
        try Self.setFaults(stub, #"{"mode":"hang"}"#)
        let started = Date()
        let response = try TestClient.post(port: gateway.port, #"{"action":"echo","requestId":7,"authToken":"\#(token)"}"#)
        #expect(response.status == 504)
        #expect(response.json?["errorCode"]?.intValue == 17011)
        #expect(response.json?["requestId"]?.intValue == 7)
        #expect(response.json?["errorMessage"]?.stringValue?.contains("slow") == true)
        #expect(Date().timeIntervalSince(started) < 3)
        try Self.setFaults(stub, #"{"mode":"none"}"#)
        #expect(try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)"}"#).status == 200)
    }

    @Test func latencyBelowTheTimeoutIsWaitedFor() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        try Self.setFaults(stub, #"{"mode":"none","latencyMilliseconds":300}"#)
        let started = Date()
        let response = try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)"}"#)
        #expect(response.status == 200 && response.json?["errorCode"]?.intValue == 0)
        #expect(Date().timeIntervalSince(started) >= 0.3)
    }

    @Test func upstreamClosingWithoutAnswerGives502() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        try Self.setFaults(stub, #"{"mode":"close"}"#)
        let response = try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)"}"#)
        #expect(response.status == 502 && response.json?["errorCode"]?.intValue == 17010)
    }

    @Test func upstreamHTTP500IsRelayed() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        try Self.setFaults(stub, #"{"mode":"http500"}"#)
        let response = try TestClient.post(port: gateway.port, #"{"action":"echo","authToken":"\#(token)"}"#)
        #expect(response.status == 500)
        #expect(response.text.contains("stub fault"))
    }

    @Test func aDeadUpstreamIsSkippedWhileAnotherIsHealthy() throws {
        let dead = try Servers.stub(), alive = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [dead.port, alive.port])
        dead.kill()
        // A login the dead one cannot even take (connection refused) is tried on the live one at once;
        // once the checks mark it down, logins go only to the live one.
        let login = #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#
        for _ in 0..<6 {
            let response = try TestClient.post(port: gateway.port, login)
            #expect(response.status == 200 && response.json?["errorCode"]?.intValue == 0)
        }
        #expect(SessionLifetimeTests.waitFor(10) { gateway.stderr.contains("'stub0'") && gateway.stderr.contains("is down:") })
        for _ in 0..<6 {
            let response = try TestClient.post(port: gateway.port, login)
            #expect(response.status == 200 && response.json?["errorCode"]?.intValue == 0)
        }
        #expect(try SessionTests.stubStats(alive)["sessions"]?.intValue == 12)
    }

    @Test func anUpstreamsOwnSessionLimitNamesTheFairComSettingToRaise() throws {
        let stub = try Servers.stub(["--max-sessions-per-address", "2"])
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        _ = try TestClient.login(port: gateway.port)
        _ = try TestClient.login(port: gateway.port)
        let refused = try SessionTests.login(gateway.port)
        #expect(refused["errorCode"]?.intValue == 12034)
        let message = refused["errorMessage"]?.stringValue ?? ""
        #expect(message.contains("maxJsonApiSessionsPerIpAddress") && message.contains("services.json on that FairCom server"), "\(message)")
        #expect(gateway.stderr.contains("refused by upstream 'stub0'") && gateway.stderr.contains("raise \"maxJsonApiSessionsPerIpAddress\""))
        // Not a wrong password: the login throttle does not count it against the client.
        for _ in 0..<8 { _ = try SessionTests.login(gateway.port) }
        #expect(!gateway.stderr.contains("Too many failed logins"))
    }
}
