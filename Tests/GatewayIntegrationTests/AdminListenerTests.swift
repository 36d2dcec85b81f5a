import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// The admin listener: Prometheus metrics read by Prometheus's own Python parser, the status page
/// in a real headless browser, and its access rules.
@Suite struct AdminListenerTests {
    static func gateway(_ stub: ServerProcess, admin: [String: Any] = [:], workers: Int = 2) throws -> (ServerProcess, Int) {
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["admin"] = ["port": 0].merging(admin) { $1 }
            config["workers"] = workers
        }
        return (gateway, try gateway.requireListenerPort("admin"))
    }

    static func get(_ port: Int, _ path: String, headers: String = "") throws -> TestResponse {
        let client = try TestClient(port: port)
        client.send("GET \(path) HTTP/1.1\r\nHost: admin\r\n\(headers)\r\n")
        return try #require(client.readResponse())
    }

    /// Parses Prometheus text with prometheus_client's parser and returns {"name{labels}": value}.
    static func parse(_ text: String) throws -> [String: Double] {
        let file = Scratch.root.appendingPathComponent("metrics-\(UUID().uuidString).txt").path
        try text.write(toFile: file, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        out = {}
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[s.name + ("{" + labels + "}" if labels else "")] = s.value
        print(json.dumps(out))
        """
        let result = try Command.run("python3", ["-c", script, file])
        guard result.status == 0 else { throw TestSupportError("prometheus_client refused the exposition: \(result.stderr)") }
        guard case .object(let members)? = try? JSONParser.parse(Array(result.stdout.utf8)) else {
            throw TestSupportError("unreadable parser output: \(result.output)")
        }
        var values: [String: Double] = [:]
        for (key, value) in members { values[key] = value.doubleValue ?? Double(value.intValue ?? -1) }
        return values
    }

    @Test func metricsParseWithPrometheusParserAndCountersMove() throws {
        let stub = try Servers.stub()
        let (gateway, admin) = try Self.gateway(stub)
        let before = try Self.parse(try Self.get(admin, "/metrics").text)
        let token = try TestClient.login(port: gateway.port)
        for _ in 0..<3 { #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0) }
        _ = try SessionTests.login(gateway.port, #""username":"admin","password":"wrong""#)
        _ = try SessionTests.call(gateway.port, String(repeating: "B", count: 64), "listDatabases")
        let response = try Self.get(admin, "/metrics")
        #expect(response.status == 200 && response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let after = try Self.parse(response.text)
        func delta(_ key: String) -> Double { (after[key] ?? 0) - (before[key] ?? 0) }
        let p = "faircom_gateway_"
        // SessionTests.call names no api: the api label says so.
        #expect(delta(p + #"requests_total{action="listDatabases",api="other",outcome="ok"}"#) == 3, "\(after.keys.sorted())")
        #expect(delta(p + #"requests_total{action="listDatabases",api="other",outcome="error"}"#) == 1)
        #expect(delta(p + #"requests_total{action="createSession",api="admin",outcome="ok"}"#) == 1)
        #expect(delta(p + #"requests_total{action="createSession",api="admin",outcome="error"}"#) == 1)
        #expect(delta(p + "logins_accepted_total") == 1 && delta(p + "logins_failed_total") == 1)
        #expect(delta(p + #"logins_refused_total{reason="authentication"}"#) == 1)
        #expect(delta(p + #"gateway_errors_total{code="12031"}"#) == 1)
        #expect(after[p + "sessions"] == 1)
        #expect(after[p + #"session_limit{limit="maxJsonApiSessionsPerUsername"}"#] == 50)
        #expect(delta(p + "request_duration_seconds_count") == 6 && delta(p + "upstream_duration_seconds_count") == 5)
        #expect(delta(p + #"upstream_requests_total{upstream="stub0"}"#) == 3)
        #expect(after[p + #"upstream_healthy{upstream="stub0"}"#] == 1)
        #expect((after[p + #"connections_accepted_total{listener="test"}"#] ?? 0) >= 6)
        #expect(delta(p + "journal_records_appended_total") >= 1 && (after[p + "journal_sync_duration_seconds_count"] ?? 0) >= 1)
        // Label values are bounded: no username, token or client address ever becomes one.
        for key in after.keys {
            #expect(!key.replacingOccurrences(of: "api=\"admin\"", with: "").replacingOccurrences(of: "listener=\"admin\"", with: "").contains("\"admin\""),
                    "a username as a label: \(key)")
            #expect(!key.contains("127.0.0.1") && !key.contains(token), "an address or a token as a label: \(key)")
        }
    }

    @Test func actionNamesFromClientsNeverBecomeLabels() throws {
        let stub = try Servers.stub()
        let (gateway, admin) = try Self.gateway(stub, workers: 1)
        let token = try TestClient.login(port: gateway.port)
        for index in 0..<20 { _ = try SessionTests.call(gateway.port, token, "made-up-action-\(index)") }
        let text = try Self.get(admin, "/metrics").text
        #expect(!text.contains("made-up-action"))
        let values = try Self.parse(text)
        let others = values.filter { $0.key.hasPrefix("faircom_gateway_requests_total{action=\"other\",api=\"other\"") }
        #expect(others.values.reduce(0, +) == 20, "\(others)")
    }

    @Test func theStatusPageRendersInAHeadlessBrowserWithTheFigures() throws {
        let stub = try Servers.stub()
        let (gateway, admin) = try Self.gateway(stub)
        // A small load: two accounts' sessions, requests, and a refused login.
        var tokens: [String] = []
        for _ in 0..<3 { tokens.append(try TestClient.login(port: gateway.port)) }
        for token in tokens { _ = try SessionTests.call(gateway.port, token, "listDatabases") }
        _ = try SessionTests.login(gateway.port, #""username":"admin","password":"nope""#)
        let page = try Self.get(admin, "/")
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(!page.text.contains("<script") && !page.text.contains("http://") && !page.text.contains("https://"),
                "the page loads nothing from elsewhere")

        let artifacts = ProcessInfo.processInfo.environment["GATEWAY_TEST_ARTIFACTS"] ?? FileManager.default.currentDirectoryPath + "/.build/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let profile = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let screenshot = artifacts + "/status-page.png"
        try? FileManager.default.removeItem(atPath: screenshot)
        let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
                       "--enable-logging=stderr", "--v=0", "--window-size=1200,1400"]
        let url = "http://127.0.0.1:\(admin)/"
        let dom = try Command.run("chromium", browser + ["--dump-dom", url], timeout: 60)
        #expect(dom.status == 0, "chromium failed: \(dom.stderr.suffix(2000))")
        #expect(dom.stdout.contains(#"<b id="sessions-live">3</b>"#), "\(dom.stdout.prefix(3000))")
        #expect(dom.stdout.contains(#"<b id="logins-failed">1</b>"#))
        #expect(dom.stdout.contains("stub0") && dom.stdout.contains(#"<span class="ok">healthy</span>"#))
        #expect(dom.stdout.contains(#"id="top-accounts""#) && dom.stdout.contains("<td>admin</td><td class=\"n\">3</td>"))
        #expect(dom.stdout.contains(#"id="refusals""#) && dom.stdout.contains("authentication failed"))
        let consoleErrors = dom.stderr.split(separator: "\n").filter { $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("Failed to load resource") }
        #expect(consoleErrors.isEmpty, "console errors: \(consoleErrors)")
        let shot = try Command.run("chromium", browser + ["--screenshot=\(screenshot)", "--hide-scrollbars", url], timeout: 60)
        #expect(shot.status == 0, "\(shot.stderr.suffix(2000))")
        let png = FileManager.default.contents(atPath: screenshot) ?? Data()
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "no screenshot at \(screenshot)")
    }

    @Test func aBearerTokenGuardsTheAdminListenerAndStatsLeaveTheAPIListeners() throws {
        let stub = try Servers.stub()
        let secret = "s3cret-admin-token-0123456789"
        let (gateway, admin) = try Self.gateway(stub, admin: ["bearerToken": secret])
        #expect(try Self.get(admin, "/metrics").status == 401)
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer wrong-token-of-some-length\r\n").status == 401)
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer \(secret)\r\n").status == 200)
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: bEARER \(secret)\r\n").status == 200, "the scheme has no case")
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer \(secret.uppercased())\r\n").status == 401, "the token has")
        #expect(try Self.get(admin, "/stats", headers: "Authorization: Bearer \(secret)\r\n").json?["listeners"] != nil)
        // Ready once the first health check has found the stub up (later under a loaded test run).
        #expect(SessionLifetimeTests.waitFor(10) { (try? Self.get(admin, "/ready", headers: "Authorization: Bearer \(secret)\r\n"))?.status == 200 })
        // The API listener keeps /health and /ready for load balancers; /stats moved to the admin listener.
        #expect(try TestClient.get(port: gateway.port, "/health").status == 200)
        #expect(try TestClient.get(port: gateway.port, "/stats").status == 404)
        #expect(!gateway.stderr.contains(secret))
    }

    @Test func aReloadThatChangesTheTokenSaysSoAndTheOldOneStopsWorking() throws {
        let stub = try Servers.stub()
        let first = "first-admin-token-0123456789", second = "second-admin-token-0123456789"
        var config: [String: Any] = [:]
        let path = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { base in
            base["admin"] = ["port": 0, "bearerToken": first]
            config = base
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try Servers.gateway(configPath: path)
        let admin = try gateway.requireListenerPort("admin")
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer \(first)\r\n").status == 200)
        config["admin"] = ["port": admin, "bearerToken": second]
        try ReloadTests.write(config, to: path)
        gateway.signal(SIGHUP)
        #expect(SessionLifetimeTests.waitFor(10) { gateway.stderr.contains("reload applied") }, "\(gateway.stderr.suffix(800))")
        #expect(gateway.stderr.contains("reload: admin: the bearer token changed") && !gateway.stderr.contains("no setting changed"),
                "\(gateway.stderr.suffix(800))")
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer \(first)\r\n").status == 401)
        #expect(try Self.get(admin, "/metrics", headers: "Authorization: Bearer \(second)\r\n").status == 200)
        #expect(!gateway.stderr.contains(first) && !gateway.stderr.contains(second), "a token was logged")
    }

    @Test func healthOnTheAPIListenersCanBeTurnedOff() throws {
        let stub = try Servers.stub()
        let (gateway, admin) = try Self.gateway(stub, admin: ["healthOnApiListeners": false])
        #expect(try TestClient.get(port: gateway.port, "/health").status == 404)
        #expect(try Self.get(admin, "/health").status == 200)
    }

    @Test func anAdminListenerOffLoopbackNeedsAGuard() throws {
        let result = try Servers.checkConfig(#"""
        {"listeners":[{"name":"a","port":0}],"upstreams":[{"name":"u","url":"http://127.0.0.1:1/api"}],
         "admin":{"address":"0.0.0.0","port":0,"bearerToken":"short"}}
        """#)
        #expect(result.status == 1)
        #expect(result.output.contains("admin.bearerToken: must be at least 16"), "\(result.output)")
        #expect(result.output.contains("admin.address: \"0.0.0.0\" is not a loopback address"), "\(result.output)")
    }

    @Test func aClientCertificateCanGuardTheAdminListenerInstead() throws {
        let pki = try TestCertificates.make()
        let stub = try Servers.stub()
        let (gateway, admin) = try Self.gateway(stub, admin: [
            "address": "127.0.0.1",
            "tls": ["certificateFilename": pki.path("server.pem"), "privateKeyFilename": pki.path("server.key"),
                    "clientCertificates": "required", "clientCertificateAuthorityFilename": pki.path("ca.pem")],
        ])
        let url = "https://127.0.0.1:\(admin)/metrics"
        let refused = try Command.run("curl", ["-sS", "--cacert", pki.path("ca.pem"), url])
        #expect(refused.status != 0, "no certificate, no metrics: \(refused.output)")
        let admitted = try Command.run("curl", ["-sS", "--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"),
                                                "--key", pki.path("client.key"), url])
        #expect(admitted.status == 0 && admitted.stdout.contains("faircom_gateway_requests_total"), "\(admitted.output.prefix(400)) \(gateway.stderr.suffix(3000))")
    }
}
