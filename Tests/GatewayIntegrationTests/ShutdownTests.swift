import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// A stop that outlasts `limits.shutdownGraceSeconds`: what is cut is answered, counted and logged.
@Suite struct ShutdownTests {
    @Test func requestsCutAtTheEndOfTheGracePeriodAreAnsweredAndCounted() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["limits"] = ["shutdownGraceSeconds": 0.5]
            config["logging"] = ["level": "info", "accessLog": true]
        }
        let token = try TestClient.login(port: gateway.port)
        try UpstreamFailureTests.setFaults(stub, #"{"mode":"hang"}"#)
        // One HTTP/1.1 request and one HTTP/2 stream held by the hanging upstream.
        let plain = try TestClient(port: gateway.port, timeoutSeconds: 10)
        plain.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#)
        let bodyFile = try Servers.temporaryDirectory() + "/request.json"
        defer { try? FileManager.default.removeItem(atPath: (bodyFile as NSString).deletingLastPathComponent) }
        try #"{"action":"listDatabases","authToken":"\#(token)"}"#.write(toFile: bodyFile, atomically: false, encoding: .utf8)
        let multiplexed = try Command.start("nghttp", ["-v", "-H", "x-request-id: h2-cut", "-d", bodyFile, "http://127.0.0.1:\(gateway.port)/api"])
        #expect(SessionLifetimeTests.waitFor(10) { (try? SessionTests.stubStats(stub)["requests"]?.intValue) ?? 0 >= 3 },
                "both requests reached the upstream")
        // And one whose body is still coming when the grace period ends. Its head must have been read
        // before the SIGTERM (one still unread is an idle connection, closed at once): the gateway
        // claims the declared length from its body budget as the head arrives.
        func buffered() -> Int { (try? TestClient.get(port: gateway.port, "/stats").json?["bufferedBodyBytes"]?.intValue) ?? -1 }
        let bufferedBefore = buffered()
        let uploading = try TestClient(port: gateway.port, timeoutSeconds: 10)
        uploading.send("POST /api HTTP/1.1\r\nHost: t\r\nX-Request-ID: still-uploading\r\nContent-Length: 100\r\n\r\n{\"action\"")
        #expect(SessionLifetimeTests.waitFor(10) { buffered() >= bufferedBefore + 100 }, "the gateway read the uploading request's head")
        gateway.signal(SIGTERM)

        let unfinished = try #require(uploading.readResponse(), "a request cut while its body came gets an answer too")
        #expect(unfinished.status == 503 && unfinished.json?["errorCode"]?.intValue == 17013 && unfinished.headers["x-request-id"] == "still-uploading",
                "\(unfinished.text)")
        let answer = try #require(plain.readResponse())
        #expect(answer.status == 503 && answer.json?["errorCode"]?.intValue == 17013, "\(answer.text)")
        #expect(answer.text.contains("grace period"))
        // Answered as the request's own: its X-Request-ID, and one access log line naming it.
        let requestId = try #require(answer.headers["x-request-id"], "the cut answer has no X-Request-ID")
        let frames = multiplexed.finish()
        #expect(frames.contains("recv GOAWAY frame"), "\(frames.suffix(800))")
        #expect(frames.contains("recv RST_STREAM frame"), "\(frames.suffix(800))")
        #expect(frames.range(of: "recv GOAWAY")!.lowerBound < frames.range(of: "recv RST_STREAM")!.lowerBound, "GOAWAY first")
        #expect(SessionLifetimeTests.waitFor(10) { !gateway.process.isRunning })
        #expect(gateway.process.terminationStatus == 0)
        let log = gateway.stderr
        #expect(log.contains("the grace period of 0.5 s is over; cut 3 requests on 3 connections"), "\(log.suffix(1500))")
        #expect(log.hasSuffix("stopped\n"), "the last line says the gateway has stopped: \(log.suffix(300))")
        let lines = log.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap { try? JSONParser.parse(Array($0.utf8)) }
        let cut = lines.filter { $0["requestId"]?.stringValue == requestId }
        #expect(cut.count == 1 && cut.first?["errorCode"]?.intValue == 17013 && cut.first?["status"]?.intValue == 503
                && cut.first?["action"]?.stringValue == "listDatabases" && cut.first?["username"]?.stringValue == "admin"
                && cut.first?["method"]?.stringValue == "POST", "\(cut.map { JSONWriter.string($0) })")
        let stream = lines.filter { $0["requestId"]?.stringValue == "h2-cut" }
        #expect(stream.count == 1 && stream.first?["errorCode"]?.intValue == 17013 && stream.first?["action"]?.stringValue == "listDatabases"
                && stream.first?["reason"]?.stringValue?.hasPrefix("cut at shutdown") == true, "\(stream.map { JSONWriter.string($0) })")
        #expect(lines.contains { $0["requestId"]?.stringValue == "still-uploading" && $0["errorCode"]?.intValue == 17013 })
    }
}
