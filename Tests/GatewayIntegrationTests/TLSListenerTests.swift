import Foundation
import GatewayJSON
import GatewayTestSupport
import Glibc
import Testing

/// TLS termination with real clients: curl (HTTP/1.1 and HTTP/2), nghttp and Python's ssl module.
@Suite(.serialized) struct TLSListenerTests {
    @Test func curlCreatesAndUsesASessionOverHTTP2AndHTTP1WithTLS() throws {
        let setup = try TLSGateway()
        let login = bodyAndVersion(try setup.curl(body: loginBody, ["--http2"]))
        #expect(login.version == "2")
        #expect(login.json?["errorCode"] == .number("0"))
        guard case .string(let token)? = login.json?["authToken"] else { Issue.record("no token: \(String(describing: login.json))"); return }
        let query = bodyAndVersion(try setup.curl(body: #"{"action":"listDatabases","authToken":"\#(token)"}"#, ["--http1.1"]))
        #expect(query.version == "1.1")
        #expect(query.json?["errorCode"] == .number("0"))
        #expect(query.json?["authToken"] == .string(token))
    }

    @Test func nghttpMultiplexesManyStreamsThroughTheSessionPath() throws {
        let setup = try TLSGateway()
        let token = try TestClient.login(port: setup.plainPort)
        let bodyFile = try Servers.temporaryDirectory() + "/body.json"
        try #"{"action":"listDatabases","authToken":"\#(token)"}"#.write(toFile: bodyFile, atomically: false, encoding: .utf8)
        let result = try Command.run("nghttp", ["-v", "-d", bodyFile, "-m", "40", "--max-concurrent-streams", "40",
                                                 "https://127.0.0.1:\(setup.tlsPort)/api"])
        #expect(result.status == 0, "\(result.output.suffix(400))")
        #expect(result.stdout.components(separatedBy: ":status: 200").count - 1 == 40)
        #expect(result.stdout.components(separatedBy: "\"errorCode\":0").count - 1 == 40)
        #expect(try setup.statistics()["http2Streams"] == 40)
        let logged = AccessLogTests.accessLines(setup.gateway.stderr).filter {
            $0["protocol"]?.stringValue == "HTTP/2" && $0["status"]?.intValue == 200 && $0["upstream"]?.stringValue == "stub0"
                && $0["action"]?.stringValue == "listDatabases" && $0["tls"]?.stringValue?.hasPrefix("TLSv1.") == true
        }
        #expect(logged.count == 40, "access log")
    }

    @Test func alpnFallsBackToHTTP1WhenTheClientDoesNotOfferH2() throws {
        let setup = try TLSGateway()
        #expect(try setup.probe(["alpn", "h2,http/1.1"]).stdout == "h2\n")
        #expect(try setup.probe(["alpn", "http/1.1"]).stdout == "http/1.1\n")
        let none = try setup.probe(["alpn", ""])
        #expect(none.stdout == "none\n", "\(none.output)")
        #expect(none.status == 0)
    }

    @Test func http2CanBeSwitchedOffPerListener() throws {
        let setup = try TLSGateway(listener: ["http2": false])
        #expect(try setup.probe(["alpn", "h2,http/1.1"]).stdout == "http/1.1\n")
        #expect(bodyAndVersion(try setup.curl("/health")).version == "1.1")
    }

    @Test func sniChoosesTheCertificateForTheRequestedName() throws {
        let certificates = try TestCertificates.make()
        let setup = try TLSGateway(tls: ["serverNameCertificates": [[
            "serverNames": ["other.test"], "certificateFilename": certificates.path("sni.pem"), "privateKeyFilename": certificates.path("sni.key"),
        ]]])
        #expect(try setup.probe(["subject", "other.test"]).stdout == "other.test\n")
        #expect(try setup.probe(["subject", "localhost"]).stdout == "localhost\n")
        #expect(try setup.probe(["subject", "unknown.test"]).stdout == "localhost\n")
        // curl verifies other.test's name: only the SNI certificate passes.
        let other = try Command.run("curl", ["-sS", "--cacert", certificates.path("ca.pem"), "--resolve", "other.test:\(setup.tlsPort):127.0.0.1",
                                             "https://other.test:\(setup.tlsPort)/health"])
        #expect(other.status == 0, "\(other.output)")
    }

    @Test func aSecondConnectionResumesWithATicket() throws {
        let setup = try TLSGateway()
        let result = try setup.probe(["resume"])
        #expect(result.stdout.hasPrefix("resumed"), "\(result.output)")
        #expect(try setup.statistics()["tlsResumedHandshakes"] ?? 0 >= 1)
    }

    @Test func tls12IsStillNegotiableButNothingOlder() throws {
        let setup = try TLSGateway()
        let tls12 = try setup.curl("/health", ["--tlsv1.2", "--tls-max", "1.2", "-o", "/dev/null", "-w", "%{ssl_version}"])
        #expect(tls12.status == 0, "\(tls12.output)")
        let tls11 = try Command.run("openssl", ["s_client", "-connect", "127.0.0.1:\(setup.tlsPort)", "-tls1_1"])
        // The gateway answers a TLS 1.1 hello with the protocol_version alert (70); no cipher is agreed.
        #expect(tls11.output.contains("alert protocol version"), "\(tls11.output)")
        #expect(tls11.output.contains("Cipher is (NONE)"))
    }

    /// s_client with stdin from a shell: "R" asks for a renegotiation, a request line is sent as is.
    func sClient(_ setup: TLSGateway, input: String, _ extra: [String]) throws -> String {
        let command = "(sleep 0.3; printf '\(input)'; sleep 0.7) | openssl s_client -connect 127.0.0.1:\(setup.tlsPort) -tls1_2 \(extra.joined(separator: " ")) 2>&1"
        return try Command.run("sh", ["-c", command], timeout: 10).stdout
    }

    @Test func renegotiationIsRefusedAndCloseNotifyIsSent() throws {
        let setup = try TLSGateway()
        let renegotiation = try sClient(setup, input: "R\\n", [])
        #expect(renegotiation.contains("RENEGOTIATING"))
        #expect(renegotiation.contains("no renegotiation"), "\(renegotiation.suffix(400))")
        let closing = try sClient(setup, input: "GET /health HTTP/1.0\\r\\n\\r\\n", ["-ign_eof", "-msg"])
        #expect(closing.contains("<<< TLS 1.2, Alert [length 0002], warning close_notify"), "\(closing.suffix(400))")
    }

    @Test func aClientThatNeverFinishesItsHandshakeIsDropped() throws {
        let setup = try TLSGateway(tls: ["handshakeTimeoutSeconds": 0.3])
        let client = try TestClient(port: setup.tlsPort, timeoutSeconds: 5)
        let started = Date()
        #expect(client.isClosedByPeer())
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(try setup.statistics()["tlsHandshakeTimeouts"] == 1)
    }

    @Test func h2cWithPriorKnowledgeWorksOnPlainListeners() throws {
        let setup = try TLSGateway()
        let result = try Command.run("curl", ["-sS", "--http2-prior-knowledge", "-w", "\n%{http_version}", "-d", loginBody,
                                              "http://127.0.0.1:\(setup.plainPort)/api"])
        let answer = bodyAndVersion(result)
        #expect(answer.version == "2")
        #expect(answer.json?["errorCode"] == .number("0"))
    }
}

@Suite(.serialized) struct TLSHandshakeEdgeTests {
    /// A fast client's request can arrive with its Finished message and be read together with it;
    /// the gateway must answer it even when the handshake completes the moment it accepts.
    @Test func requestsThatArriveWithTheFinishedMessageAreAnswered() throws {
        let setup = try TLSGateway()
        let runs = try (0..<3).map { _ in
            try Command.start("openssl", ["s_time", "-connect", "127.0.0.1:\(setup.tlsPort)", "-new", "-time", "1", "-www", "/health"])
        }
        let deadline = Date().addingTimeInterval(15)
        while runs.contains(where: \.process.isRunning) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let hung = runs.filter(\.process.isRunning)
        hung.forEach { $0.process.terminate() }
        #expect(hung.isEmpty, "a client waited for an answer that never came")
        for run in runs {
            let text = run.finish()
            #expect(text.contains("connections in"), "\(text.suffix(200))")
        }
        #expect(try setup.statistics()["openConnections"] == 0)
    }
}
