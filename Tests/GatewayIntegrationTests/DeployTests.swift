import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// deploy/: the systemd unit as systemd itself reads it, and the compose topology run end to end
/// as plain processes (no container engine runs here).
@Suite struct DeployTests {
    static let deploy = Command.repository.appendingPathComponent("deploy")

    @Test func theSystemdUnitVerifiesAndIsLockedDown() throws {
        let unit = try String(contentsOf: Self.deploy.appendingPathComponent("gateway.service"), encoding: .utf8)
        #expect(!unit.contains("\nDynamicUser=yes"), "DynamicUser makes the state directory a link, which the gateway refuses")
        for directive in ["User=faircom-gateway", "StateDirectory=faircom-gateway", "ExecReload=/bin/kill -HUP $MAINPID",
                          "NoNewPrivileges=yes", "ProtectSystem=strict", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                          "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"] {
            #expect(unit.contains("\n\(directive)\n"), "the unit lacks \(directive)")
        }
        // systemd-analyze checks that the binaries exist: a copy names the one just built.
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let copy = folder + "/faircom-gateway.service"
        try unit.replacingOccurrences(of: "/usr/local/bin/gateway", with: ServerProcess.binary("gateway")).write(toFile: copy, atomically: true, encoding: .utf8)
        let verify = try Command.run("systemd-analyze", ["verify", copy])
        #expect(verify.status == 0 && verify.output.isEmpty, "\(verify.output)")
        let security = try Command.run("systemd-analyze", ["security", "--offline=yes", copy])
        let score = security.output.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        #expect((score ?? 10) <= 2.5, "exposure \(String(describing: score)): \(security.output.suffix(600))")
    }

    @Test func theComposeTopologyRunsAsPlainProcessesAndPrometheusScrapesTheGateway() throws {
        let output = Scratch.root.appendingPathComponent("compose-local-\(UUID().uuidString).out").path
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.environment = Scratch.childEnvironment
        process.executableURL = Self.deploy.appendingPathComponent("compose-local")
        process.arguments = ["--bin", URL(fileURLWithPath: ServerProcess.binary("gateway")).deletingLastPathComponent().path, "--ephemeral-ports"]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = process.standardOutput
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        var ready: JSONValue?
        _ = SessionLifetimeTests.waitFor(90) {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("compose-local ready ") }) {
                ready = try? JSONParser.parse(Array(line.dropFirst("compose-local ready ".count).utf8))
            }
            return ready != nil || !process.isRunning
        }
        let summary = try #require(ready, "compose-local did not come up: \((try? String(contentsOfFile: output, encoding: .utf8)) ?? "")")
        func port(_ key: String) throws -> Int { try #require(summary[key]?.stringValue?.split(separator: ":").last.flatMap { Int($0) }) }
        let volumes = try #require(summary["volumes"]?.stringValue)

        // A login through the gateway, over plain HTTP and over TLS with the certificate the certs service made.
        let token = try TestClient.login(port: try port("gateway"))
        #expect(try SessionTests.call(try port("gateway"), token, "listDatabases")["errorCode"]?.intValue == 0)
        let secure = try Command.run("curl", ["-sS", "--http2", "--cacert", volumes + "/gateway-certs/gateway.pem", "-w", "\n%{http_version}",
                                              "-d", #"{"action":"listDatabases","authToken":"\#(token)"}"#, "https://127.0.0.1:\(try port("https"))/api"])
        #expect(secure.stdout.contains("\"errorCode\":0") && secure.stdout.hasSuffix("\n2"), "\(secure.output)")
        // The admin listener wants the token from the certs volume.
        let adminToken = try String(contentsOfFile: volumes + "/gateway-certs/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try AdminListenerTests.get(try port("admin"), "/metrics").status == 401)
        #expect(try AdminListenerTests.get(try port("admin"), "/metrics", headers: "Authorization: Bearer \(adminToken)\r\n").status == 200)

        // Prometheus scrapes it: the target is up and the login is counted.
        let prometheus = try port("prometheus")
        func query(_ expression: String) -> String? {
            let url = "http://127.0.0.1:\(prometheus)/api/v1/query?query=\(expression)"
            return try? Command.run("curl", ["-sS", url]).stdout
        }
        let scraped = SessionLifetimeTests.waitFor(30) {
            (query("faircom_gateway_logins_accepted_total") ?? "").contains(#""job":"gateway"},"value":["#)
        }
        #expect(scraped, "\(query("up") ?? "no answer from Prometheus")")
        #expect(query("up")?.hasSuffix(#""1"]}]}}"#) == true, "\(query("up") ?? "")")

        // SIGHUP, a closed terminal, stops every process and removes the temporary directory, as
        // SIGTERM and SIGINT do (it once left every service running).
        kill(process.processIdentifier, SIGHUP)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: volumes))
        let left = try Command.run("pgrep", ["-f", volumes])
        #expect(left.stdout.isEmpty, "processes left behind: \(left.stdout)")
    }
}
