import Foundation
import GatewayTestSupport
import Glibc
import Testing

/// check-config on TLS files, and certificate reload on SIGHUP under a running client loop.
@Suite(.serialized) struct TLSReloadAndConfigTests {
    func config(certificate: String, key: String, extra: String = "") -> String {
        #"{"listeners":[{"name":"tls","port":8443,"tls":{"certificateFilename":"\#(certificate)","privateKeyFilename":"\#(key)"\#(extra)}}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}]}"#
    }

    @Test func checkConfigNamesTheFileAndTheReasonForEachTLSProblem() throws {
        let pki = try TestCertificates.make()
        let missing = try Servers.checkConfig(config(certificate: "/nonexistent/cert.pem", key: pki.path("server.key")))
        #expect(missing.status == 1)
        #expect(missing.output.contains(#"listeners[0].tls.certificateFilename "/nonexistent/cert.pem": cannot read: No such file or directory"#), "\(missing.output)")

        let mismatched = try Servers.checkConfig(config(certificate: pki.path("server.pem"), key: pki.path("sni.key")))
        #expect(mismatched.status == 1)
        #expect(mismatched.output.contains(#"listeners[0].tls.privateKeyFilename "\#(pki.path("sni.key"))": does not match the certificate"#), "\(mismatched.output)")

        let expired = try Servers.checkConfig(config(certificate: pki.path("expired.pem"), key: pki.path("expired.key")))
        #expect(expired.status == 1)
        #expect(expired.output.contains("certificate /CN=admin expired on"), "\(expired.output)")

        let notACertificate = try Servers.checkConfig(config(certificate: pki.path("server.key"), key: pki.path("server.key")))
        #expect(notACertificate.output.contains("no PEM certificate found"), "\(notACertificate.output)")

        let directory = try Servers.temporaryDirectory()
        chmod(directory, 0o755)
        let readableCertificate = directory + "/server.pem", unreadable = directory + "/secret.key"
        try Data(contentsOf: URL(fileURLWithPath: pki.path("server.pem"))).write(to: URL(fileURLWithPath: readableCertificate))
        try Data(contentsOf: URL(fileURLWithPath: pki.path("server.key"))).write(to: URL(fileURLWithPath: unreadable))
        chmod(readableCertificate, 0o644)
        chmod(unreadable, 0)
        let denied = try Servers.checkConfig(config(certificate: readableCertificate, key: unreadable), unprivileged: true)
        #expect(denied.status == 1)
        #expect(denied.output.contains(#"listeners[0].tls.privateKeyFilename "\#(unreadable)": cannot read: Permission denied"#), "\(denied.output)")

        let ciphers = try Servers.checkConfig(config(certificate: pki.path("server.pem"), key: pki.path("server.key"), extra: #","allowedCipherSuites":"NOPE-CIPHER""#))
        #expect(ciphers.output.contains(#"listeners[0].tls.allowedCipherSuites "NOPE-CIPHER""#), "\(ciphers.output)")

        let noAuthority = try Servers.checkConfig(config(certificate: pki.path("server.pem"), key: pki.path("server.key"), extra: #","clientCertificates":"required""#))
        #expect(noAuthority.output.contains("listeners[0].tls.clientCertificateAuthorityFilename: is required"), "\(noAuthority.output)")

        let good = try Servers.checkConfig(config(certificate: pki.path("server.pem"), key: pki.path("server.key")))
        #expect(good.status == 0, "\(good.output)")
    }

    @Test func sighupSwapsCertificatesWithoutFailingOneHandshakeAndKeepsThemWhenFilesAreBad() throws {
        let pki = try TestCertificates.make()
        let directory = try Servers.temporaryDirectory()
        let certificate = directory + "/live.pem", key = directory + "/live.key"
        func install(_ name: String) throws {
            try Data(contentsOf: URL(fileURLWithPath: pki.path("\(name).pem"))).write(to: URL(fileURLWithPath: certificate + ".new"))
            try Data(contentsOf: URL(fileURLWithPath: pki.path("\(name).key"))).write(to: URL(fileURLWithPath: key + ".new"))
            rename(certificate + ".new", certificate)
            rename(key + ".new", key)
        }
        try install("server")
        let setup = try TLSGateway(tls: ["certificateFilename": certificate, "privateKeyFilename": key])
        let before = try setup.probe(["serial"]).stdout

        // Three client loops of fresh handshakes run in parallel while the files change and SIGHUPs
        // arrive, and a connection made before the reload is used again after it.
        let script = Command.repository.appendingPathComponent("scripts/e2e/tls_probe.py").path
        let target = ["127.0.0.1", String(setup.tlsPort), pki.path("ca.pem")]
        func handshakes() -> Int { (try? setup.statistics()["tlsHandshakes"]) ?? 0 }
        func logged(_ text: String, times: Int = 1) -> Bool { setup.gateway.stderr.components(separatedBy: text).count - 1 >= times }
        let base = handshakes()
        let kept = try Command.start("python3", [script, "keepalive"] + target + ["1.5"])
        #expect(SessionLifetimeTests.waitFor(10) { handshakes() > base }, "the kept connection was made")
        let loops = try (0..<3).map { _ in try Command.start("python3", [script, "loop"] + target + ["3"]) }
        #expect(SessionLifetimeTests.waitFor(10) { handshakes() >= base + 4 }, "the loops are under way")
        try install("server2")
        setup.gateway.signal(SIGHUP)
        #expect(SessionLifetimeTests.waitFor(10) { logged("listener tls: certificates reloaded") })
        try "not a key".write(toFile: key, atomically: false, encoding: .utf8)
        setup.gateway.signal(SIGHUP)
        // A broken key refuses the whole reload: the certificates in use stay.
        #expect(SessionLifetimeTests.waitFor(10) { logged("reload refused: the running configuration stays in force") })
        setup.gateway.signal(SIGHUP)
        #expect(SessionLifetimeTests.waitFor(10) { logged("reload refused: the running configuration stays in force", times: 2) })
        let reports = loops.map { $0.finish() }
        for report in reports {
            #expect(report.contains("failed 0 "), "\(report)")
        }
        let keptReport = kept.finish()
        #expect(keptReport == "kept \(before)", "the connection made before the reload should go on with the old certificate: \(keptReport)")
        #expect(reports.contains { $0.contains("certificates 2") }, "both certificates should have been served: \(reports)")
        let after = try setup.probe(["serial"]).stdout
        #expect(after != before && !after.isEmpty)
        #expect(setup.gateway.stderr.contains("listener tls: certificates reloaded"))
        #expect(setup.gateway.stderr.contains("privateKeyFilename \"\(key)\": not a usable private key"))
    }
}
