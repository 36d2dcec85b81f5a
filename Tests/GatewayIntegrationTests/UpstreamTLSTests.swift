import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// `https://` upstreams: verified against a CA file with the name checked, a client certificate
/// presented (mTLS to FairCom), and connections reused from the pool.
@Suite(.serialized) struct UpstreamTLSTests {
    /// A stub serving HTTPS that requires client certificates from the test CA.
    static func secureStub(_ pki: TestCertificates) throws -> ServerProcess {
        try Servers.stub(["--tls-cert", pki.path("server.pem"), "--tls-key", pki.path("server.key"), "--tls-client-ca", pki.path("ca.pem")])
    }

    static func gateway(stub: ServerProcess, tls: [String: Any], healthCheckInterval: Double = 0.5) throws -> ServerProcess {
        try Servers.gateway(upstreamPorts: [stub.port]) { config in
            config["upstreams"] = [["name": "secure", "url": "https://127.0.0.1:\(stub.port)/api", "tls": tls,
                                    "connectTimeoutSeconds": 1, "responseTimeoutSeconds": 5, "healthCheckIntervalSeconds": healthCheckInterval] as [String: Any]]
        }
    }

    @Test func verifiedMutualTLSUpstreamCarriesSessionsOverReusedConnections() throws {
        let pki = try TestCertificates.make()
        let stub = try Self.secureStub(pki)
        let gateway = try Self.gateway(stub: stub, tls: ["certificateAuthorityFilename": pki.path("ca.pem"),
                                                         "certificateFilename": pki.path("gateway-client.pem"),
                                                         "privateKeyFilename": pki.path("gateway-client.key")],
                                   healthCheckInterval: 3600)
        // Ready before any request: only the health probe (a verified handshake) can have said so. A
        // login first could mark the upstream reachable through its pooled connection instead.
        #expect(SessionLifetimeTests.waitFor(10) { (try? TestClient.get(port: gateway.port, "/ready").status) == 200 })
        #expect(gateway.stderr.contains("is up: check answered with a FairCom envelope over verified TLS"), "\(gateway.stderr.suffix(400))")
        let token = try TestClient.login(port: gateway.port)
        let client = try TestClient(port: gateway.port)
        for _ in 0..<20 {
            client.sendPost(#"{"action":"listDatabases","authToken":"\#(token)"}"#)
            let response = client.readResponse()
            #expect(response?.json?["errorCode"] == .number("0"))
        }
        let stats = try stubStats(stub, pki)
        #expect(stats["requests"] == .number("21"))
        // The start-up health probe (a TLS handshake), one pooled TLS connection for all 21 requests, and this curl.
        #expect(stats["connectionsAccepted"] == .number("3"), "\(stats)")
    }

    @Test func anUpstreamCertificateFromAnotherCAIsRefused() throws {
        let pki = try TestCertificates.make()
        let stub = try Self.secureStub(pki)
        let gateway = try Self.gateway(stub: stub, tls: ["certificateAuthorityFilename": pki.path("other-ca.pem"),
                                                         "certificateFilename": pki.path("gateway-client.pem"),
                                                         "privateKeyFilename": pki.path("gateway-client.key")])
        // The health probe's handshake already fails: /ready says so before any request is sent.
        // (Before the first probe ends /ready is 503 too, so the test waits for the probe's verdict.)
        let probed = SessionLifetimeTests.waitFor(10) { gateway.stderr.contains("is down: TLS handshake failed: server certificate rejected: ") }
        #expect(probed, "\(gateway.stderr.suffix(600))")
        let ready = try TestClient.get(port: gateway.port, "/ready")
        #expect(ready.status == 503 && ready.text.contains("secure"), "\(ready.text)")
        let response = try TestClient.post(port: gateway.port, loginBody)
        #expect(response.json?["errorCode"] != .number("0"))
        #expect(response.json?["authToken"] == nil)
    }

    @Test func theUpstreamsNameIsChecked() throws {
        let pki = try TestCertificates.make()
        let stub = try Self.secureStub(pki)
        let gateway = try Self.gateway(stub: stub, tls: ["certificateAuthorityFilename": pki.path("ca.pem"), "serverName": "faircom.example",
                                                         "certificateFilename": pki.path("gateway-client.pem"),
                                                         "privateKeyFilename": pki.path("gateway-client.key")])
        let response = try TestClient.post(port: gateway.port, loginBody)
        #expect(response.json?["authToken"] == nil)
        #expect(gateway.stderr.contains("hostname mismatch"), "\(gateway.stderr.suffix(600))")
    }

    @Test func withoutAClientCertificateTheUpstreamRefusesTheGateway() throws {
        let pki = try TestCertificates.make()
        let stub = try Self.secureStub(pki)
        let gateway = try Self.gateway(stub: stub, tls: ["certificateAuthorityFilename": pki.path("ca.pem")])
        let response = try TestClient.post(port: gateway.port, loginBody)
        #expect(response.json?["authToken"] == nil)
        #expect(response.json?["errorCode"] != .number("0"))
    }

    func stubStats(_ stub: ServerProcess, _ pki: TestCertificates) throws -> [String: JSONValue] {
        let result = try Command.run("curl", ["-sS", "--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"), "--key", pki.path("client.key"),
                                              "https://127.0.0.1:\(stub.port)/stub/stats"])
        guard case .object(let members)? = try? JSONParser.parse(Array(result.stdout.utf8)) else { return [:] }
        return Dictionary(members, uniquingKeysWith: { $1 })
    }
}
