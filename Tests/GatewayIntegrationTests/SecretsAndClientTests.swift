import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

@Suite struct SecretsAndClientTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func passwordsAndUpstreamTokensAppearInNoAnswerAndNoLog() throws {
        let stub = try Servers.stub()
        let dataDirectory = try Servers.temporaryDirectory()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["sessions"] = ["dataDirectory": dataDirectory]
            config["logging"] = ["level": "debug", "accessLog": true]
        }
        let password = "ADMIN"
        let login = try TestClient.post(port: gateway.port,
            #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"\#(password)"},"debug":"max","requestId":1}"#)
        let json = try #require(login.json)
        let token = try #require(json["authToken"]?.stringValue)
        #expect(json["debugInfo"]?["request"]?["params"]?["password"]?.stringValue == "********")
        #expect(!login.text.contains(password), "the password came back")

        var texts = [login.text]
        texts.append(try TestClient.post(port: gateway.port, #"{"action":"listDatabases","authToken":"\#(token)","debug":"max"}"#).text)
        texts.append(try TestClient.post(port: gateway.port, #"{"action":"describeSessions","authToken":"\#(token)","debug":"max"}"#).text)
        texts.append(try TestClient.post(port: gateway.port, #"{"action":"alterSession","authToken":"\#(token)","params":{"description":"d"},"debug":"max"}"#).text)
        let refused = try TestClient.post(port: gateway.port,
            #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"not-\#(password)"},"debug":"max"}"#)
        #expect(refused.json?["errorCode"]?.intValue == 1215 && !refused.text.contains("not-\(password)"))
        texts.append(refused.text)

        // The upstream's token is in the journal (the gateway needs it to act for the session) and nowhere else.
        let journal = try String(contentsOfFile: dataDirectory + "/sessions.journal", encoding: .utf8)
        let record = try JSONParser.parse(String(journal.split(separator: "\n")[0].split(separator: "\t")[0]))
        let upstreamToken = try #require(record["upstreamToken"]?.stringValue)
        for text in texts { #expect(!text.contains(upstreamToken), "an upstream token reached a client") }
        #expect(SessionLifetimeTests.waitFor(5) { gateway.stderr.contains("opened for 'admin'") })
        let log = gateway.stderr
        #expect(log.contains("opened for 'admin'"), "the log has the session events")
        for secret in [password, "not-\(password)", token, upstreamToken] {
            #expect(!log.contains(secret), "a secret reached the log")
        }
    }

    @Test func faircomsOwnPythonClientWorksThroughTheGateway() throws {
        let stub = try Servers.stub()
        let gateway = try Servers.gateway(upstreamPorts: [stub.port])
        let process = Process()
        process.environment = Scratch.childEnvironment
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.repository.appendingPathComponent("scripts/e2e/faircom_client_e2e.py").path,
                             "http://127.0.0.1:\(gateway.port)/api"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "the client failed: \(problems)")
        let report = try #require(try? JSONParser.parse(Array(data)), "no report: \(problems)")
        #expect(report["tokenLength"]?.intValue == 64)
        #expect(report["databases"] == .array([.string("ctreeSQL"), .string("faircom")]))
        #expect(report["echoedToken"] == .bool(true))
        #expect(report["description"]?.stringValue == "e2e" && report["idleConnectionTimeoutSeconds"]?.intValue == 30)
        #expect(report["loggedOut"] == .bool(true) && report["afterLogout"]?.intValue == 12031)
        #expect(try SessionLifetimeTests.waitFor(3) { try SessionTests.stubStats(stub)["sessions"]?.intValue == 0 },
                "logout closed the upstream session")
    }
}
