import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// The pid file and the switch to an unprivileged account once the ports are bound.
@Suite struct ProcessIdentityTests {
    static func uid(of pid: Int32) -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
            .flatMap { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first }.flatMap { Int($0) }
    }

    @Test func thePidFileNamesTheRunningGatewayAndGoesAwayAtStop() throws {
        let stub = try Servers.stub()
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { $0["pidFile"] = folder + "/gateway.pid" }
        let text = try String(contentsOfFile: folder + "/gateway.pid", encoding: .utf8)
        #expect(text == "\(gateway.process.processIdentifier)\n")
        gateway.stop()
        #expect(!FileManager.default.fileExists(atPath: folder + "/gateway.pid"))
    }

    @Test(.enabled(if: getuid() == 0, "switching accounts needs root"))
    func startedAsRootItRunsAsTheConfiguredUserAndKeepsItsJournal() throws {
        let stub = try Servers.stub()
        let data = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["user"] = "nobody"
            config["sessions"] = ["dataDirectory": data]
        }
        #expect(Self.uid(of: gateway.process.processIdentifier) == 65534, "\(gateway.stderr.suffix(500))")
        #expect(gateway.stderr.contains("now running as nobody"))
        // The journal, opened as root, is the new account's: logins are still made durable.
        let token = try TestClient.login(port: gateway.port)
        #expect(try SessionTests.call(gateway.port, token, "listDatabases")["errorCode"]?.intValue == 0)
        var status = stat()
        #expect(stat(data, &status) == 0 && status.st_uid == 65534)
    }

    @Test(.enabled(if: getuid() == 0, "switching accounts needs root"))
    func aGatewayThatSwitchesAccountsStartsAgainOnItsOwnFolderAndPidFile() throws {
        let stub = try Servers.stub()
        let folder = try Servers.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = folder + "/run", data = folder + "/data"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: false)
        #expect(chown(run, 65534, 65534) == 0 && chmod(folder, 0o755) == 0)
        let path = try Servers.gatewayConfig(upstreamPorts: [stub.port]) { config in
            config["user"] = "nobody"
            config["pidFile"] = run + "/gateway.pid"
            config["sessions"] = ["dataDirectory": data]
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try Servers.gateway(configPath: path)
        let token = try TestClient.login(port: first.port)
        first.stop()
        #expect(!FileManager.default.fileExists(atPath: run + "/gateway.pid"), "the account it switched to removed its pid file")
        // The folder now belongs to nobody: the next start accepts it, and the session lives on.
        let checked = try CheckConfigTests.checkConfigFile(path)
        #expect(checked.status == 0, "\(checked.output)")
        let second = try Servers.gateway(configPath: path)
        #expect(Self.uid(of: second.process.processIdentifier) == 65534, "\(second.stderr.suffix(500))")
        #expect(try SessionTests.call(second.port, token, "listDatabases")["errorCode"]?.intValue == 0)
        #expect((try? String(contentsOfFile: run + "/gateway.pid", encoding: .utf8)) == "\(second.process.processIdentifier)\n")
        second.stop()

        // The account may write in its data folder: a link it plants there, or at the access log's
        // name, must not hand it what the link names at the next start as root.
        let secret = folder + "/root-only"
        try "secret\n".write(toFile: secret, atomically: false, encoding: .utf8)
        #expect(chmod(secret, 0o600) == 0 && symlink(secret, data + "/planted") == 0 && lchown(data + "/planted", 65534, 65534) == 0)
        let planted = try CheckConfigTests.checkConfigFile(path)
        #expect(planted.status == 1 && planted.stderr.contains("\(data)/planted is a symbolic link; the gateway follows none"), "\(planted.output)")
        let linkStart = try Command.run(ServerProcess.binary("gateway"), ["--config", path], timeout: 20)
        #expect(linkStart.status == 1 && linkStart.stderr.contains("planted is a symbolic link"), "\(linkStart.output)")
        // Even a link root made is not followed when the files are handed over.
        #expect(lchown(data + "/planted", 0, 0) == 0)
        let rootLink = try Command.run(ServerProcess.binary("gateway"), ["--config", path], timeout: 20)
        #expect(rootLink.status == 1 && rootLink.stderr.contains("the gateway follows none"), "\(rootLink.output)")
        var owner = stat()
        #expect(stat(secret, &owner) == 0 && owner.st_uid == 0, "the link's target was given away")
        #expect(unlink(data + "/planted") == 0)
        // check-config refuses what the start would refuse to hand over: a second name, a FIFO.
        #expect(link(secret, data + "/second-name") == 0 && mkfifo(data + "/fifo", 0o600) == 0)
        let odd = try CheckConfigTests.checkConfigFile(path)
        #expect(odd.status == 1 && odd.stderr.contains("second-name has 2 names") && odd.stderr.contains("fifo is neither a folder nor a regular file"),
                "\(odd.output)")
        #expect(unlink(data + "/second-name") == 0 && unlink(data + "/fifo") == 0)

        // A pid file where nobody may not write is refused before anything starts, by check-config too.
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        config["pidFile"] = folder + "/gateway.pid"
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        let refused = try CheckConfigTests.checkConfigFile(path)
        #expect(refused.status == 1 && refused.stderr.contains(#"pidFile: \#(folder)/gateway.pid is written and removed by user "nobody""#)
                && refused.stderr.contains("cannot write in \(folder)"), "\(refused.output)")
        let start = try Command.run(ServerProcess.binary("gateway"), ["--config", path], timeout: 20)
        #expect(start.status == 1 && start.stderr.contains("cannot start: pidFile:"), "\(start.output)")
    }
}
