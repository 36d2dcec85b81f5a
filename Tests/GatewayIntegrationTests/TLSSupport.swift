import Foundation
import GatewayJSON
import GatewayTestSupport

/// A gateway with a plain listener ("test") and a TLS listener ("tls") in front of a stub.
struct TLSGateway {
    let stub: ServerProcess
    let gateway: ServerProcess
    let certificates: TestCertificates
    let tlsPort: Int
    let plainPort: Int

    /// `tls` is merged into the TLS listener's `tls` object; `listener` into the listener itself.
    init(tls: [String: Any] = [:], listener: [String: Any] = [:], stubArguments: [String] = [],
         tweak: (inout [String: Any]) -> Void = { _ in }) throws {
        certificates = try TestCertificates.make()
        stub = try Servers.stub(stubArguments)
        let certificates = self.certificates
        var tlsObject: [String: Any] = ["certificateFilename": certificates.path("server.pem"), "privateKeyFilename": certificates.path("server.key")]
        tlsObject.merge(tls) { $1 }
        var tlsListener: [String: Any] = ["name": "tls", "address": "127.0.0.1", "port": 0, "tls": tlsObject]
        tlsListener.merge(listener) { $1 }
        gateway = try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["listeners"] = [["name": "test", "address": "127.0.0.1", "port": 0], tlsListener]
            tweak(&config)
        }
        tlsPort = try gateway.requireListenerPort("tls")
        plainPort = try gateway.requireListenerPort("test")
    }

    /// curl against the TLS listener as https://localhost:PORT, verifying with the test CA.
    /// Prints the body, then a line with the HTTP version.
    func curl(_ path: String = "/api", body: String? = nil, _ extra: [String] = []) throws -> Command.Result {
        var arguments = ["-sS", "--max-time", "10", "--cacert", certificates.path("ca.pem"),
                         "--resolve", "localhost:\(tlsPort):127.0.0.1", "-w", "\n%{http_version}"]
        if let body { arguments += ["-d", body, "-H", "Content-Type: application/json"] }
        return try Command.run("curl", arguments + extra + ["https://localhost:\(tlsPort)\(path)"])
    }

    func probe(_ arguments: [String]) throws -> Command.Result {
        let script = Command.repository.appendingPathComponent("scripts/e2e/tls_probe.py").path
        return try Command.run("python3", [script, arguments[0], "127.0.0.1", String(tlsPort), certificates.path("ca.pem")] + arguments.dropFirst())
    }

    func statistics(_ listener: String = "tls") throws -> [String: Int] {
        let response = try TestClient.get(port: plainPort, "/stats")
        guard case .array(let listeners)? = response.json?["listeners"] else { return [:] }
        var counters: [String: Int] = [:]
        for case .object(let members) in listeners where members.contains(where: { $0.0 == "name" && $0.1 == .string(listener) }) {
            for (key, value) in members { if case .number(let text) = value, let number = Int(text) { counters[key] = number } }
        }
        return counters
    }
}

/// Splits curl's output (body, then the `-w` line) into the parsed body and the HTTP version.
func bodyAndVersion(_ result: Command.Result) -> (json: JSONValue?, version: String) {
    let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
    let version = lines.last.map(String.init) ?? ""
    let body = lines.dropLast().joined(separator: "\n")
    return (try? JSONParser.parse(Array(body.utf8)), version)
}

let loginBody = #"{"action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#
