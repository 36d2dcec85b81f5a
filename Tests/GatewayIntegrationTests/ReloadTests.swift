import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// SIGHUP and `gateway reload`: gateway.json applied while clients keep working.
@Suite struct ReloadTests {
    static func write(_ config: [String: Any], to path: String) throws {
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
    }

    static func count(_ text: String, in gateway: ServerProcess) -> Int {
        gateway.stderr.components(separatedBy: text).count - 1
    }

    /// Logs `username` in until the gateway refuses; returns how many got in and the refusal's code,
    /// then ends those sessions again.
    static func fill(_ port: Int, username: String, password: String) throws -> (Int, Int?) {
        var tokens: [String] = [], refusal: Int?
        while tokens.count < 20 {
            let answer = try SessionTests.login(port, #""username":"\#(username)","password":"\#(password)""#)
            guard let token = answer["authToken"]?.stringValue, answer["errorCode"]?.intValue == 0 else {
                refusal = answer["errorCode"]?.intValue
                break
            }
            tokens.append(token)
        }
        for token in tokens { _ = try SessionTests.call(port, token, "deleteSession") }
        return (tokens.count, refusal)
    }

    @Test func twentyReloadsUnderLoadFailNoRequestAndEachNewLimitApplies() throws {
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let accounts = folder + "/accounts.json"
        try #"{"admin":"ADMIN","probe":"PROBE"}"#.write(toFile: accounts, atomically: true, encoding: .utf8)
        let stub = try Servers.stub(["--accounts", accounts])
        var config: [String: Any] = [:]
        let path = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { base in
            base["workers"] = 2
            base["logging"] = ["level": "info"]
            base["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": 3, "maxJsonApiSessionsPerIpAddress": 100]
            config = base
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try Servers.gateway(configPath: path)
        #expect(try Self.fill(gateway.port, username: "probe", password: "PROBE") == (3, 17032))

        let stop = folder + "/stop"
        let load = try Command.start("python3", [Command.repository.appendingPathComponent("scripts/e2e/session_load.py").path,
                                                 String(gateway.port), "admin", "ADMIN", stop])
        var limit = 3
        for round in 0..<20 {
            var next = config
            let valid = round % 2 == 0
            if valid {
                limit = 3 + (round / 2) % 3
                next["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": limit, "maxJsonApiSessionsPerIpAddress": 100]
            } else {
                // Two problems: a limit out of range and an upstream URL that is not one.
                next["jsonActionApiDefaults"] = ["maxJsonApiSessionsPerUsername": -1]
                next["upstreams"] = [["name": "stub0", "url": "ftp://nowhere"]]
            }
            try Self.write(next, to: path)
            let (applied, refused) = (Self.count("reload applied", in: gateway), Self.count("the running configuration stays in force", in: gateway))
            gateway.signal(SIGHUP)
            #expect(SessionLifetimeTests.waitFor(10) {
                valid ? Self.count("reload applied", in: gateway) > applied : Self.count("the running configuration stays in force", in: gateway) > refused
            }, "reload \(round) was not answered: \(gateway.stderr.suffix(1500))")
            // The limit in force is the last valid file's, whatever came after it.
            let (admitted, code) = try Self.fill(gateway.port, username: "probe", password: "PROBE")
            #expect(admitted == limit && code == 17032, "round \(round): \(admitted) logins admitted under a limit of \(limit)")
        }
        try "".write(toFile: stop, atomically: true, encoding: .utf8)
        let report = load.finish()
        let lines = report.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("http1 ok ") && $0.hasSuffix(" failed 0") }, "\(report)")
        #expect(lines.contains { $0.hasPrefix("http2 ok ") && $0.hasSuffix(" failed 0") }, "\(report)")
        for line in lines where line.hasPrefix("http") && line.contains(" ok ") {
            #expect((Int(line.split(separator: " ")[2]) ?? 0) >= 40, "too little load ran across the reloads: \(line)")
        }
        let stderr = gateway.stderr
        #expect(stderr.contains("jsonActionApiDefaults.maxJsonApiSessionsPerUsername") && stderr.contains("upstreams[0].url"),
                "a refused file's problems are logged as check-config prints them")
        #expect(gateway.process.isRunning)
    }

    @Test func listenersAndUpstreamsComeAndGoWhileEstablishedConnectionsGoOn() throws {
        let first = try Servers.stub(), second = try Servers.stub()
        var config: [String: Any] = [:]
        let path = try Servers.gatewayConfig(upstreamPorts: [first.port]) { base in
            base["pidFile"] = try! Servers.temporaryDirectory() + "/gateway.pid"
            config = base
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try Servers.gateway(configPath: path)
        let token = try TestClient.login(port: gateway.port)
        let kept = try TestClient(port: gateway.port)

        // Added: a second listener and a second upstream, through `gateway reload` and the pid file.
        var next = config
        next["listeners"] = (config["listeners"] as! [[String: Any]]) + [["name": "extra", "address": "127.0.0.1", "port": 0]]
        next["upstreams"] = (config["upstreams"] as! [[String: Any]]) + [["name": "stub1", "url": "http://127.0.0.1:\(second.port)/api",
                                                                            "healthCheckIntervalSeconds": 0.5]]
        try Self.write(next, to: path)
        let reload = try Command.run(ServerProcess.binary("gateway"), ["reload", "--config", path])
        #expect(reload.status == 0 && reload.stdout.contains("sent SIGHUP to pid \(gateway.process.processIdentifier)"), "\(reload.output)")
        #expect(SessionLifetimeTests.waitFor(10) { Self.count("reload applied", in: gateway) == 1 }, "\(gateway.stderr.suffix(1500))")
        let line = try #require(gateway.stderr.split(separator: "\n").first { $0.contains("listener extra: listening on") })
        let extraPort = try #require(Int(line.split(separator: ":").last ?? ""))
        #expect(SessionLifetimeTests.waitFor(5) {
            (try? TestClient.get(port: extraPort, "/ready").json?["upstreams"]?.arrayValue?.count) == 2
        })
        // New logins spread over both upstreams; the old session still works on the first.
        for _ in 0..<4 { _ = try TestClient.login(port: extraPort) }
        #expect(try SessionTests.stubStats(second)["sessions"]?.intValue ?? 0 >= 1, "the added upstream takes logins")
        kept.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#)
        #expect(kept.readResponse()?.json?["errorCode"]?.intValue == 0, "a connection made before the reload goes on")

        // Removed again: the extra listener stops accepting, a connection it accepted goes on.
        let onExtra = try TestClient(port: extraPort)
        try Self.write(config, to: path)
        gateway.signal(SIGHUP)
        #expect(SessionLifetimeTests.waitFor(10) { Self.count("reload applied", in: gateway) == 2 })
        #expect(gateway.stderr.contains("listener extra: removed") && gateway.stderr.contains("upstream stub1: removed"))
        #expect(throws: (any Error).self) { _ = try TestClient(port: extraPort) }
        onExtra.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#)
        #expect(onExtra.readResponse()?.json?["errorCode"]?.intValue == 0)
        kept.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#)
        #expect(kept.readResponse()?.json?["errorCode"]?.intValue == 0)
    }

    @Test func reloadWithoutARunningGatewaySaysWhy() throws {
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Servers.gatewayConfig(upstreamPorts: [1]) { $0["pidFile"] = folder + "/gateway.pid" }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let missing = try Command.run(ServerProcess.binary("gateway"), ["reload", "--config", path])
        #expect(missing.status == 1 && missing.stderr.contains("cannot read the pid file"), "\(missing.output)")
        try "999999999\n".write(toFile: folder + "/gateway.pid", atomically: true, encoding: .utf8)
        let stale = try Command.run(ServerProcess.binary("gateway"), ["reload", "--config", path])
        #expect(stale.status == 1 && stale.stderr.contains("is stale"), "\(stale.output)")
    }

    @Test func changingAnUpstreamUnderHTTP2LoadRetiresItsPoolSafely() throws {
        let first = try Servers.stub(["--latency-ms", "2"]), second = try Servers.stub()
        var config: [String: Any] = [:]
        let path = try Servers.gatewayConfig(upstreamPorts: [first.port, second.port]) { base in
            base["workers"] = 2
            base["logging"] = ["level": "info"]
            config = base
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gateway = try Servers.gateway(configPath: path)
        let token = try TestClient.login(port: gateway.port)
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #"{"action":"listDatabases","authToken":"\#(token)"}"#.write(toFile: folder + "/body.json", atomically: true, encoding: .utf8)
        let load = try Command.start("h2load", ["-D", "5", "-c", "100", "-m", "5", "-d", folder + "/body.json", "http://127.0.0.1:\(gateway.port)/api"])
        // Each reload changes both upstreams' pool settings: their pools are retired with exchanges in flight.
        for round in 0..<24 {
            var next = config
            var upstreams = config["upstreams"] as! [[String: Any]]
            for index in upstreams.indices { upstreams[index]["maxConnections"] = round % 2 == 0 ? 2 : 8 }
            next["upstreams"] = upstreams
            try Self.write(next, to: path)
            gateway.signal(SIGHUP)
            #expect(SessionLifetimeTests.waitFor(10) { Self.count("reload applied", in: gateway) == round + 1 }, "\(gateway.stderr.suffix(2000))")
        }
        let report = load.finish()
        #expect(gateway.process.isRunning, "\(gateway.stderr.suffix(3000))")
        #expect(report.contains("0 errored") && report.contains("0 failed"), "\(report.suffix(800))")
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
    }
}
