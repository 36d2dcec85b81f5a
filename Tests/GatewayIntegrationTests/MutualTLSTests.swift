import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

/// A listener that requires client certificates (FairCom's port 8444 convention) and binds the
/// createSession username to the certificate's CN.
@Suite(.serialized) struct MutualTLSTests {
    static func setup() throws -> TLSGateway {
        let certificates = try TestCertificates.make()
        return try TLSGateway(tls: ["clientCertificates": "required", "clientCertificateAuthorityFilename": certificates.path("ca.pem"),
                                    "usernameMustMatchCertificate": true])
    }

    func withCertificate(_ setup: TLSGateway, _ name: String) -> [String] {
        ["--cert", setup.certificates.path("\(name).pem"), "--key", setup.certificates.path("\(name).key")]
    }

    @Test func aVerifiedCertificateWhoseCNIsTheUsernameLogsIn() throws {
        let setup = try Self.setup()
        let answer = bodyAndVersion(try setup.curl(body: loginBody, withCertificate(setup, "client")))
        #expect(answer.json?["errorCode"] == .number("0"), "\(String(describing: answer.json))")
    }

    @Test func aUsernameOtherThanTheCertificatesCNIsRefused() throws {
        let setup = try Self.setup()
        let body = #"{"action":"createSession","params":{"username":"bob","password":"x"}}"#
        let answer = bodyAndVersion(try setup.curl(body: body, withCertificate(setup, "client")))
        #expect(answer.json?["errorCode"] == .number("17035"))
        guard case .string(let message)? = answer.json?["errorMessage"] else { Issue.record("no message"); return }
        #expect(message.contains("'bob'") && message.contains("'admin'") && message.contains("usernameMustMatchCertificate"))
        #expect(try TestClient.get(port: setup.stub.port, "/stub/stats").json?["sessions"] == .number("0"))
    }

    @Test func handshakesWithoutAGoodCertificateFailAndAreCountedAndLogged() throws {
        let setup = try Self.setup()
        let cases: [(certificate: String?, logged: String)] = [
            (nil, "peer did not return a certificate"),
            ("expired", "certificate has expired"),
            ("selfsigned", "self-signed certificate"),
            ("foreign", "unable to get local issuer certificate"),
        ]
        for (certificate, logged) in cases {
            let result = try setup.curl(body: loginBody, certificate.map { withCertificate(setup, $0) } ?? [])
            #expect(result.status != 0, "\(certificate ?? "no certificate") was let in: \(result.output)")
            #expect(!result.stdout.contains("authToken"))
            #expect(setup.gateway.stderr.contains(logged), "log lacks \(logged)")
        }
        let counters = try setup.statistics()
        #expect(counters["tlsClientCertificateRejections"] == 4)
        #expect(counters["tlsHandshakes"] == 0)
        #expect(try TestClient.get(port: setup.stub.port, "/stub/stats").json?["sessions"] == .number("0"))
    }

    @Test func theAlertNamesTheProblemToTheClient() throws {
        let setup = try Self.setup()
        let expired = try Command.run("openssl", ["s_client", "-connect", "127.0.0.1:\(setup.tlsPort)", "-CAfile", setup.certificates.path("ca.pem"),
                                                  "-cert", setup.certificates.path("expired.pem"), "-key", setup.certificates.path("expired.key"), "-tls1_2"])
        #expect(expired.output.contains("certificate expired"), "\(expired.output.suffix(300))")
        let foreign = try Command.run("openssl", ["s_client", "-connect", "127.0.0.1:\(setup.tlsPort)", "-CAfile", setup.certificates.path("ca.pem"),
                                                  "-cert", setup.certificates.path("foreign.pem"), "-key", setup.certificates.path("foreign.key"), "-tls1_2"])
        #expect(foreign.output.contains("unknown ca"), "\(foreign.output.suffix(300))")
    }
}
