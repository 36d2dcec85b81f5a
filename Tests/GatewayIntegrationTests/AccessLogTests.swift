import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// The access log, request IDs and the headers every upstream request carries, end to end.
@Suite struct AccessLogTests {
    /// The access log's lines in `text` (each a JSON object; the other log lines are not).
    static func accessLines(_ text: String) -> [JSONValue] {
        text.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap { try? JSONParser.parse(Array($0.utf8)) }
    }

    static func waitForLines(_ gateway: ServerProcess, atLeast count: Int) -> [JSONValue] {
        var lines: [JSONValue] = []
        _ = SessionLifetimeTests.waitFor(5) {
            lines = accessLines(gateway.stderr)
            return lines.count >= count
        }
        return lines
    }

    @Test func everyRequestIsOneJSONLineWithoutTokensOrPasswords() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let token = try TestClient.login(port: gateway.port)
        let wrong = try SessionTests.login(gateway.port, #""username":"admin","password":"Wrong-Secret-123""#)
        #expect(wrong["errorCode"]?.intValue != 0)
        let forwarded = try TestClient(port: gateway.port)
        forwarded.sendPost(#"{"api":"db","action":"listDatabases","authToken":"\#(token)"}"#, extraHeaders: "X-Request-ID: client-id-42\r\n")
        let answer = try #require(forwarded.readResponse())
        #expect(answer.headers["x-request-id"] == "client-id-42")
        _ = try SessionTests.call(gateway.port, String(repeating: "A", count: 64), "listDatabases")
        // A token pasted into `action` stays out of the log; an unknown action name is logged as sent.
        _ = try TestClient.post(port: gateway.port, #"{"api":"db","action":"\#(token)","authToken":"\#(token)"}"#)
        _ = try SessionTests.call(gateway.port, token, "frobnicateRecords")
        _ = try TestClient.post(port: gateway.port, "{not json")
        _ = try TestClient.get(port: gateway.port, "/nowhere")
        // A request the HTTP server refuses before any handler: a header far beyond maxHeaderBytes.
        let oversized = try TestClient(port: gateway.port)
        oversized.send("POST /api HTTP/1.1\r\nHost: t\r\nx-REQUEST-id:  refused-7 \r\nX-Big: \(String(repeating: "x", count: 40_000))\r\nContent-Length: 2\r\n\r\n{}")
        let refused = try #require(oversized.readResponse())
        #expect(refused.status == 431 || refused.status == 400)
        let refusedId = try #require(refused.headers["x-request-id"], "a server-made refusal has no X-Request-ID")
        #expect(refusedId == "refused-7", "the client's own ID is kept even in a head the parser refused")

        let lines = Self.waitForLines(gateway, atLeast: 9)
        let text = gateway.stderr
        #expect(!text.contains(token), "the gateway token was logged")
        #expect(!text.contains("Wrong-Secret-123") && !text.contains("ADMIN\""), "a password was logged")
        func line(_ match: (JSONValue) -> Bool) -> JSONValue? { lines.first(where: match) }

        let login = try #require(line { $0["action"]?.stringValue == "createSession" && $0["errorCode"]?.intValue == 0 })
        #expect(login["username"]?.stringValue == "admin" && login["status"]?.intValue == 200)
        #expect(login["session"]?.stringValue?.hasPrefix("sha256:") == true && login["upstream"]?.stringValue == "stub0")
        #expect(login["upstreamMs"] != nil && login["durationMs"] != nil && login["client"]?.stringValue == "127.0.0.1")
        #expect(login["protocol"]?.stringValue == "HTTP/1.1" && (login["bytesIn"]?.intValue ?? 0) > 0 && (login["bytesOut"]?.intValue ?? 0) > 0)
        #expect(login["requestId"]?.stringValue?.utf8.count == 32)

        let failed = try #require(line { $0["action"]?.stringValue == "createSession" && ($0["errorCode"]?.intValue ?? 0) != 0 })
        #expect(failed["reason"]?.stringValue?.contains("authentication failed") == true, "a failed login names its reason: \(failed)")
        #expect(failed["session"] == nil)

        let relayed = try #require(line { $0["requestId"]?.stringValue == "client-id-42" })
        #expect(relayed["api"]?.stringValue == "db" && relayed["action"]?.stringValue == "listDatabases")
        #expect(relayed["username"]?.stringValue == "admin" && relayed["session"] == login["session"])
        #expect(relayed["errorCode"]?.intValue == 0 && relayed["upstream"]?.stringValue == "stub0")

        #expect(line { $0["errorCode"]?.intValue == 12031 && $0["action"]?.stringValue == "listDatabases" } != nil, "12031 answers are logged")
        #expect(line { $0["errorCode"]?.intValue == 17020 } != nil, "invalid JSON is logged")
        #expect(line { $0["action"]?.stringValue == "frobnicateRecords" } != nil, "an unknown action is named")
        #expect(line { $0["action"]?.stringValue == "other" && $0["api"]?.stringValue == "db" } != nil, "the pasted token is logged as other")
        #expect(line { $0["status"]?.intValue == 404 && $0["path"]?.stringValue == "/nowhere" } != nil, "404s are logged")
        #expect(line { $0["status"]?.intValue == refused.status && $0["errorCode"]?.intValue == 17000 && $0["requestId"]?.stringValue == refusedId } != nil,
                "server-made refusals are logged: \(lines.map { JSONWriter.string($0) })")
    }

    @Test func requestIdsAndForwardedHeadersReachTheUpstreamLoginsIncluded() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let client = try TestClient(port: gateway.port)
        // A client that is not a trusted proxy cannot choose what the upstream is told about it.
        client.sendPost(#"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#,
                        extraHeaders: "traceparent: \(trace)\r\nUser-Agent: ops-test/1.0\r\nX-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n")
        let login = try #require(client.readResponse())
        let generated = try #require(login.headers["x-request-id"])
        #expect(generated.utf8.count == 32 && generated.allSatisfy(\.isHexDigit))
        let token = try #require(login.json?["authToken"]?.stringValue)
        client.sendPost(#"{"api":"db","action":"listDatabases","authToken":"\#(token)"}"#, extraHeaders: "X-Request-ID: my-request-7\r\n")
        #expect(client.readResponse()?.headers["x-request-id"] == "my-request-7")
        // A request ID that could break a header or a log line is replaced, not passed on.
        client.sendPost(#"{"api":"db","action":"listDatabases","authToken":"\#(token)"}"#, extraHeaders: "X-Request-ID: bad \"id\"\r\n")
        let replaced = try #require(client.readResponse()?.headers["x-request-id"])
        #expect(replaced.utf8.count == 32 && replaced != generated)

        let seen = try #require(TestClient.get(port: stub.port, "/stub/headers").json?["requests"]?.arrayValue)
        #expect(seen.count >= 3)
        let upstreamLogin = seen[seen.count - 3], forwarded = seen[seen.count - 2], third = seen[seen.count - 1]
        #expect(upstreamLogin["x-request-id"]?.stringValue == generated)
        #expect(upstreamLogin["traceparent"]?.stringValue == trace && upstreamLogin["user-agent"]?.stringValue == "ops-test/1.0")
        #expect(upstreamLogin["x-forwarded-for"]?.stringValue == "127.0.0.1", "an untrusted client's X-Forwarded-For is replaced")
        #expect(upstreamLogin["forwarded"]?.stringValue == "for=127.0.0.1;proto=http")
        #expect(upstreamLogin["x-forwarded-proto"]?.stringValue == "http")
        #expect(forwarded["x-request-id"]?.stringValue == "my-request-7" && forwarded["x-forwarded-for"]?.stringValue == "127.0.0.1")
        #expect(third["x-request-id"]?.stringValue == replaced)
        let logged = Self.waitForLines(gateway, atLeast: 3).compactMap { $0["requestId"]?.stringValue }
        #expect(logged.contains(generated) && logged.contains("my-request-7") && logged.contains(replaced))
    }

    @Test func aTrustedProxysChainIsExtended() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["sessions"] = ["dataDirectory": try! Servers.temporaryDirectory(), "trustedProxies": ["127.0.0.1"]]
        }
        let client = try TestClient(port: gateway.port)
        client.sendPost(#"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#,
                        extraHeaders: "X-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\nForwarded: for=198.51.100.7;proto=https\r\n")
        #expect(client.readResponse()?.json?["errorCode"]?.intValue == 0)
        let seen = try #require(TestClient.get(port: stub.port, "/stub/headers").json?["requests"]?.arrayValue?.last)
        #expect(seen["x-forwarded-for"]?.stringValue == "198.51.100.7, 127.0.0.1")
        #expect(seen["x-forwarded-proto"]?.stringValue == "https")
        #expect(seen["forwarded"]?.stringValue == "for=198.51.100.7;proto=https, for=127.0.0.1;proto=http")
    }

    @Test func sigusr1ReopensTheAccessLogFileAfterRotation() throws {
        let stub = try Servers.stub()
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/access.log"
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["logging"] = ["level": "info", "accessLog": true, "accessLogFile": path]
            config["workers"] = 2
        }
        _ = try TestClient.get(port: gateway.port, "/health")
        #expect(SessionLifetimeTests.waitFor(5) { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("/health") })
        // What logrotate does: move the file away, then signal.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        gateway.signal(SIGUSR1)
        #expect(SessionLifetimeTests.waitFor(5) { FileManager.default.fileExists(atPath: path) }, "SIGUSR1 reopened no file: \(gateway.stderr)")
        // Several requests, so that every loop has written to its reopened file.
        for _ in 0..<8 { _ = try TestClient.get(port: gateway.port, "/ready") }
        #expect(SessionLifetimeTests.waitFor(5) {
            Self.accessLines((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").filter { $0["path"]?.stringValue == "/ready" }.count == 8
        })
        let rotated = try String(contentsOfFile: path + ".1", encoding: .utf8)
        #expect(rotated.contains("/health") && !rotated.contains("/ready"))
        #expect(gateway.process.isRunning && gateway.stderr.contains("SIGUSR1: reopening log files"))
    }

    @Test func noSignalAnOperatorSendsStopsTheGatewayWithoutALogLine() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        func today() -> String {
            let format = DateFormatter()
            format.timeZone = TimeZone(identifier: "UTC")
            format.dateFormat = "yyyy-MM-dd"
            return format.string(from: Date())
        }
        let dayBefore = today()
        let signals = [SIGUSR2, SIGALRM, SIGPWR, SIGRTMIN() + 3, SIGSYS, SIGTRAP, SIGPROF, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT]
        func ignoredLines() -> Int { gateway.stderr.components(separatedBy: "received and ignored").count - 1 }
        for signal in signals {
            gateway.signal(signal)
        }
        #expect(SessionLifetimeTests.waitFor(5) { ignoredLines() == signals.count }, "\(gateway.stderr)")
        // A fault signal sent again: the first once printed a crash report, the second then ended the gateway.
        gateway.signal(SIGSEGV)
        #expect(SessionLifetimeTests.waitFor(5) { ignoredLines() == signals.count + 1 }, "\(gateway.stderr)")
        #expect(gateway.process.isRunning)
        #expect(!gateway.stderr.contains("crashed"), "a signal sent with kill is not a crash: \(gateway.stderr.suffix(600))")
        // Every line, SIGPROF's from its signal handler too, starts with the log's timestamp.
        let stamp = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warning gateway: SIG"#)
        let lines = gateway.stderr.split(separator: "\n").filter { $0.contains("received and ignored") }
        for line in lines { #expect(line.contains(stamp), "\(line)") }
        let prof = try #require(lines.first { $0.contains("SIGPROF") })
        #expect(prof.hasPrefix(dayBefore) || prof.hasPrefix(today()), "the handler's own date is today's, in UTC: \(prof)")
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
        gateway.signal(SIGQUIT)
        #expect(SessionLifetimeTests.waitFor(10) { !gateway.process.isRunning })
        #expect(gateway.stderr.contains("SIGQUIT: stopping") && gateway.stderr.contains("stopped"))
        #expect(gateway.process.terminationStatus == 0)
    }

    @Test func aLineStaysSmallWhateverTheClientSendsAndNamesTheClientBehindATrustedProxy() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["sessions"] = ["dataDirectory": try! Servers.temporaryDirectory(), "trustedProxies": ["127.0.0.1"]]
        }
        // One Character of a million bytes: "a" and combining accents.
        let action = "a" + String(repeating: "\u{301}", count: 500_000)
        let client = try TestClient(port: gateway.port, timeoutSeconds: 20)
        client.sendPost(#"{"action":"\#(action)","authToken":"nope"}"#, extraHeaders: "X-Forwarded-For: 198.51.100.23\r\n")
        #expect(client.readResponse()?.json?["errorCode"]?.intValue == 12031)
        let lines = Self.waitForLines(gateway, atLeast: 1)
        let line = try #require(gateway.stderr.split(separator: "\n").last { $0.hasPrefix("{") && $0.contains("12031") })
        #expect(line.utf8.count < 4096, "an access log line of \(line.utf8.count) bytes")
        #expect(lines.last?["client"]?.stringValue == "198.51.100.23" && lines.last?["proxy"]?.stringValue == "127.0.0.1")
    }
}

private func SIGRTMIN() -> Int32 { __libc_current_sigrtmin() }
