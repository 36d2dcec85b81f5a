import Foundation
import GatewayJSON
import GatewayTestSupport
import Glibc
import Testing

/// The journal never loses an acknowledged session and never brings back a revoked one: after a
/// kill -9 with a torn tail, with damage in the middle, and on a full disk.
@Suite(.serialized) struct JournalDurabilityTests {
    static func code(_ answer: JSONValue) -> Int? { answer["errorCode"]?.intValue }

    static func token(_ answer: JSONValue) throws -> String {
        try #require(answer["authToken"]?.stringValue, "login failed: \(answer)")
    }

    /// Runs the gateway binary to its exit (a start that must be refused, or a subcommand).
    static func runGateway(_ arguments: [String]) throws -> Command.Result {
        try Command.run(ServerProcess.binary("gateway"), arguments, timeout: 20)
    }

    @Test func aLoginAfterATornTailSurvivesTheNextRestart() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory() + "/data"
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": data] }
        var gateway = try Servers.gateway(configPath: config)
        let first = try Self.token(SessionTests.login(gateway.port))
        _ = try Self.token(SessionTests.login(gateway.port))
        gateway.kill()
        // A crash mid-write: the last 300 bytes never reached the disk, so the space the journal
        // had claimed for them still holds its zeros.
        let journal = data + "/sessions.journal"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: journal)))
        let contentEnd = try #require(bytes.lastIndex { $0 != 0 }) + 1
        #expect(contentEnd < bytes.count, "the journal claims space ahead of its records")
        for index in (contentEnd - 300)..<contentEnd { bytes[index] = 0 }
        try Data(bytes).write(to: URL(fileURLWithPath: journal))

        gateway = try Servers.gateway(configPath: config)
        #expect(gateway.stderr.contains("cut off a torn tail"), "\(gateway.stderr)")
        #expect(Self.code(try SessionTests.call(gateway.port, first, "listDatabases")) == 0)
        let after = try Self.token(SessionTests.login(gateway.port))
        gateway.kill()
        gateway = try Servers.gateway(configPath: config)
        #expect(Self.code(try SessionTests.call(gateway.port, after, "listDatabases")) == 0, "the login after the cut was lost")
        #expect(Self.code(try SessionTests.call(gateway.port, first, "listDatabases")) == 0)
        #expect(!gateway.stderr.contains("torn"), "a clean journal after the cut")
    }

    @Test func damageInTheMiddleStopsTheStartUntilRepaired() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory() + "/data"
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": data] }
        var gateway = try Servers.gateway(configPath: config)
        let tokens = try (0..<3).map { _ in try Self.token(SessionTests.login(gateway.port)) }
        gateway.stop()
        let journal = data + "/sessions.journal"
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: journal)))
        let second = try #require(bytes.firstIndex(of: 10)) + 1
        bytes[second + 30] ^= 0x20
        try Data(bytes).write(to: URL(fileURLWithPath: journal))

        let refused = try Self.runGateway(["--config", config])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("record 2 at byte \(second)") && refused.stderr.contains("repair-journal"), "\(refused.stderr)")

        let repair = try Self.runGateway(["repair-journal", "--config", config])
        #expect(repair.status == 0, "\(repair.output)")
        #expect(repair.stdout.contains("kept 2 whole records, dropped 1") && repair.stdout.contains("record 2 at byte \(second)"), "\(repair.stdout)")
        gateway = try Servers.gateway(configPath: config)
        #expect(Self.code(try SessionTests.call(gateway.port, tokens[0], "listDatabases")) == 0)
        #expect(Self.code(try SessionTests.call(gateway.port, tokens[1], "listDatabases")) == 12031)
        #expect(Self.code(try SessionTests.call(gateway.port, tokens[2], "listDatabases")) == 0)
        // A repair does not run under a live gateway.
        let busy = try Self.runGateway(["repair-journal", "--config", config])
        #expect(busy.status == 1 && busy.stderr.contains("in use by process \(gateway.process.processIdentifier)"), "\(busy.output)")
    }

    @Test func aFullDiskRefusesLoginsButNeverLosesOrResurrectsASession() throws {
        try TestDisks.withTinyDisk("1m") { mountPoint in
            let data = mountPoint + "/data"
            let stub = try Servers.stub()
            let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": data] }
            var gateway = try Servers.gateway(configPath: config)
            let kept = try Self.token(SessionTests.login(gateway.port))
            let revoked = try Self.token(SessionTests.login(gateway.port))
            let expiring = try Self.token(SessionTests.login(gateway.port, #""username":"admin","password":"ADMIN","idleConnectionTimeoutSeconds":1"#))

            let filler = mountPoint + "/filler"
            _ = try Command.run("dd", ["if=/dev/zero", "of=\(filler)", "bs=4096"])
            let full = try SessionTests.login(gateway.port)
            #expect(Self.code(full) == 17034, "a login on a full disk: \(full)")
            // An alteration that cannot be recorded changes nothing, upstream included.
            let alter = try SessionTests.call(gateway.port, kept, "alterSession", #","params":{"defaultResponseOptions":{"dataFormat":"arrays"}}"#)
            #expect(Self.code(alter) == 17034, "\(alter)")
            #expect(SessionLifetimeTests.waitFor(5) {
                let rows = try? SessionTests.call(gateway.port, kept, "getRecordsUsingSQL", #","params":{"sql":"select * from athlete"}"#)
                return rows?["result"]?["dataFormat"]?.stringValue == "objects"
            }, "the upstream session kept its settings")
            #expect(Self.code(try SessionTests.call(gateway.port, revoked, "deleteSession")) == 0, "a revocation on a full disk")
            #expect(Self.code(try SessionTests.call(gateway.port, revoked, "listDatabases")) == 12031)
            #expect(SessionLifetimeTests.waitFor(10) { gateway.stderr.contains("expired after 1 s idle") })
            #expect(Self.code(try SessionTests.call(gateway.port, kept, "listDatabases")) == 0)

            gateway.kill()
            gateway = try Servers.gateway(configPath: config)
            #expect(Self.code(try SessionTests.call(gateway.port, revoked, "listDatabases")) == 12031, "a revoked session came back")
            #expect(Self.code(try SessionTests.call(gateway.port, expiring, "listDatabases")) == 12031, "an expired session came back")
            #expect(Self.code(try SessionTests.call(gateway.port, kept, "listDatabases")) == 0)
            #expect(Self.code(try SessionTests.login(gateway.port)) == 17034, "still full")

            try FileManager.default.removeItem(atPath: filler)
            let late = try Self.token(SessionTests.login(gateway.port))
            gateway.kill()
            gateway = try Servers.gateway(configPath: config)
            #expect(Self.code(try SessionTests.call(gateway.port, late, "listDatabases")) == 0, "a login acknowledged after space returned was lost")
            #expect(Self.code(try SessionTests.call(gateway.port, kept, "listDatabases")) == 0)
            #expect(Self.code(try SessionTests.call(gateway.port, revoked, "listDatabases")) == 12031)
            gateway.stop()
        }
    }

    @Test func aSecondGatewayOnTheSameDataFolderOrPortIsRefused() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory() + "/data"
        let config = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": data] }
        let gateway = try Servers.gateway(configPath: config)
        let second = try Self.runGateway(["--config", config])
        #expect(second.status == 1)
        #expect(second.stderr.contains("data folder \(data) is in use by process \(gateway.process.processIdentifier)"), "\(second.stderr)")

        let samePort = try Servers.gatewayConfig(upstreamPorts: [stub.port]) {
            $0["listeners"] = [["name": "test", "address": "127.0.0.1", "port": gateway.port]]
        }
        let third = try Self.runGateway(["--config", samePort])
        #expect(third.status == 1)
        #expect(third.stderr.contains("Address already in use"), "\(third.stderr)")
        // The first gateway still answers every request alone.
        let token = try Self.token(SessionTests.login(gateway.port))
        for _ in 0..<20 { #expect(Self.code(try SessionTests.call(gateway.port, token, "listDatabases")) == 0) }
    }

    @Test func twoGatewaysStartedAtTheSameMomentNeverShareAPort() throws {
        let stub = try Servers.stub()
        for round in 0..<5 {
            // A port that was free a moment ago.
            let probe = try Servers.stub()
            let port = probe.port
            probe.stop()
            let configs = try (0..<2).map { _ in
                try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["listeners"] = [["name": "test", "address": "127.0.0.1", "port": port]] }
            }
            final class Started: @unchecked Sendable { var gateways: [ServerProcess?] = [nil, nil] }
            let started = Started()
            DispatchQueue.concurrentPerform(iterations: 2) { index in
                started.gateways[index] = try? Servers.gateway(configPath: configs[index])
            }
            let running = started.gateways.compactMap { $0 }
            #expect(running.count == 1, "round \(round): \(running.count) gateways listen on port \(port)")
        }
    }

    @Test func aLooseOrLinkedDataFolderIsRefusedWithTheFix() throws {
        let stub = try Servers.stub()
        let base = try Servers.temporaryDirectory()
        let loose = base + "/loose"
        try FileManager.default.createDirectory(atPath: loose, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let looseConfig = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": loose] }
        let refused = try Self.runGateway(["--config", looseConfig])
        #expect(refused.status == 1 && refused.stderr.contains("open to group or others (mode 755)") && refused.stderr.contains("chmod 700 \(loose)"),
                "\(refused.stderr)")

        let real = base + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: base + "/link", withDestinationPath: real)
        let linkConfig = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": base + "/link"] }
        let linked = try Self.runGateway(["--config", linkConfig])
        #expect(linked.status == 1 && linked.stderr.contains("is a symbolic link"), "\(linked.stderr)")

        let journal = real + "/sessions.journal"
        _ = FileManager.default.createFile(atPath: journal, contents: Data(), attributes: [.posixPermissions: 0o644])
        let journalConfig = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": real] }
        let openJournal = try Self.runGateway(["--config", journalConfig])
        #expect(openJournal.status == 1 && openJournal.stderr.contains("chmod 600 \(journal)"), "\(openJournal.stderr)")
    }

    @Test func aRelativeDataFolderIsResolvedAgainstTheConfigurationFilesFolder() throws {
        let stub = try Servers.stub()
        let folder = try Servers.temporaryDirectory()
        let config = folder + "/gateway.json"
        let written = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { $0["sessions"] = ["dataDirectory": "state/sessions"] }
        try FileManager.default.moveItem(atPath: written, toPath: config)
        // Started through a link from elsewhere: the folder is the real file's.
        let elsewhere = try Servers.temporaryDirectory()
        try FileManager.default.createSymbolicLink(atPath: elsewhere + "/linked.json", withDestinationPath: config)
        let gateway = try Servers.gateway(configPath: elsewhere + "/linked.json")
        _ = try Self.token(SessionTests.login(gateway.port))
        #expect(FileManager.default.fileExists(atPath: folder + "/state/sessions/sessions.journal"))
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/state"))
    }
}
