import Testing
@testable import GatewayConfig
import GatewayTLS

@Suite struct TLSConfigurationTests {
    static func listener(_ tls: String, extra: String = "") -> String {
        #"{"listeners":[{"name":"s","port":8443,"tls":\#(tls)\#(extra)}],"upstreams":[{"name":"u","url":"http://127.0.0.1:18080/api"}]}"#
    }

    @Test func aTLSListenerReadsFairComsNamesAndGetsSafeDefaults() throws {
        let config = try GatewayConfiguration.parse(Array(Self.listener(#"{"certificateFilename":"c.pem","privateKeyFilename":"k.pem"}"#).utf8))
        let tls = try #require(config.listeners[0].tls)
        #expect(tls.server.defaultPair.certificateFile == "c.pem" && tls.server.defaultPair.privateKeyFile == "k.pem")
        #expect(tls.server.minimumProtocol == "TLSv1.2")
        #expect(tls.server.allowedCipherSuites == nil)
        #expect(tls.server.applicationProtocols == ["h2", "http/1.1"])
        #expect(tls.server.clientCertificates == .none)
        #expect(tls.handshakeTimeoutSeconds == 10)
        #expect(tls.server.configPath == "listeners[0].tls")
    }

    @Test func theComposeConfigurationHasAnHTTPSListener() throws {
        let path = ConfigurationTests.repoConfig.replacingOccurrences(of: "gateway.json", with: "deploy/gateway.compose.json")
        let config = try GatewayConfiguration.load(path: path)
        #expect(config.listeners.map(\.name) == ["http8080", "https8443"])
        #expect(config.listeners[1].tls?.server.defaultPair.certificateFile == "/etc/gateway/certs/gateway.pem")
    }

    @Test func switchingHTTP2OffLeavesOnlyHTTP1InALPN() throws {
        let config = try GatewayConfiguration.parse(Array(Self.listener(#"{"certificateFilename":"c","privateKeyFilename":"k"}"#, extra: #","http2":false"#).utf8))
        #expect(config.listeners[0].tls?.server.applicationProtocols == ["http/1.1"])
    }

    @Test func everyMistakeIsNamedByItsPath() {
        let problems = ConfigurationTests.problems(Self.listener(
            #"{"privateKeyFilename":3,"minimumProtocol":"TLSv1.0","clientCertificates":"always","usernameMustMatchCertificate":true,"colour":1,"#
            + #""serverNameCertificates":[{"certificateFilename":"a","privateKeyFilename":"b"}]}"#))
        #expect(problems.contains("listeners[0].tls.certificateFilename: is required (a PEM certificate chain, server certificate first)"))
        #expect(problems.contains("listeners[0].tls.privateKeyFilename: 3 is not a string"))
        #expect(problems.contains(#"listeners[0].tls.minimumProtocol: "TLSv1.0" is not one of "TLSv1.2", "TLSv1.3""#))
        #expect(problems.contains(#"listeners[0].tls.clientCertificates: "always" is not one of "none", "optional", "required""#))
        #expect(problems.contains("listeners[0].tls.usernameMustMatchCertificate: needs clientCertificates \"required\" or \"optional\""))
        #expect(problems.contains("listeners[0].tls.colour: unknown key"))
        #expect(problems.contains("listeners[0].tls.serverNameCertificates[0].serverNames: is required: the host names (SNI) this certificate answers for"))
    }

    @Test func clientCertificatesNeedAnAuthority() {
        let problems = ConfigurationTests.problems(Self.listener(#"{"certificateFilename":"c","privateKeyFilename":"k","clientCertificates":"required"}"#))
        #expect(problems == ["listeners[0].tls.clientCertificateAuthorityFilename: is required when clientCertificates is \"required\" (the CA file client certificates are verified against)"])
    }

    @Test func httpsUpstreamsGetVerificationSettingsAndHTTPOnesRefuseThem() throws {
        let https = #"{"listeners":[{"name":"a"}],"upstreams":[{"name":"u","url":"https://127.0.0.1:8443/api","tls":{"certificateAuthorityFilename":"ca.pem","serverName":"fc.example"}}]}"#
        let upstream = try GatewayConfiguration.parse(Array(https.utf8)).upstreams[0]
        #expect(upstream.tls?.certificateAuthorityFile == "ca.pem")
        #expect(upstream.tls?.serverName == "fc.example")
        #expect(upstream.tls?.verifyServer == true)
        let plain = #"{"listeners":[{"name":"a"}],"upstreams":[{"name":"u","url":"http://127.0.0.1:8080/api","tls":{}}]}"#
        #expect(ConfigurationTests.problems(plain) == [#"upstreams[0].tls: applies to https:// upstreams only; "http://127.0.0.1:8080/api" is http"#])
        let halfPair = #"{"listeners":[{"name":"a"}],"upstreams":[{"name":"u","url":"https://127.0.0.1:8443/api","tls":{"certificateFilename":"c.pem"}}]}"#
        #expect(ConfigurationTests.problems(halfPair) == ["upstreams[0].tls.privateKeyFilename: is required with certificateFilename (a client certificate needs both)"])
    }
}
