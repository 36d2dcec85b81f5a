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
}
