import GatewayJSON
import GatewayTLS

/// `listeners[].tls`: what the listener terminates TLS with. Key names follow FairCom's
/// services.json where it has one (`certificateFilename`, `allowedCipherSuites`).
public struct ListenerTLSConfiguration: Sendable, Equatable {
    public var server: TLSServerSettings
    /// A client that has not finished its handshake by then is dropped. Default 10 s.
    public var handshakeTimeoutSeconds: Double = 10
    /// createSession's `username` must equal the client certificate's subject CN.
    public var usernameMustMatchCertificate = false

    static func decode(_ reader: ObjectReader) -> ListenerTLSConfiguration {
        var reader = reader
        let path = reader.path
        let pair = decodePair(&reader, serverNames: [])
        var server = TLSServerSettings(defaultPair: pair, configPath: path)
        server.minimumProtocol = reader.string("minimumProtocol", default: "TLSv1.2", allowed: ["TLSv1.2", "TLSv1.3"])
        if let ciphers = reader.value("allowedCipherSuites") {
            if let text = ciphers.stringValue, !text.isEmpty { server.allowedCipherSuites = text }
            else if ciphers.stringValue == nil { reader.report("allowedCipherSuites", "\(ObjectReader.show(ciphers)) is not a string of OpenSSL cipher names") }
        }
        server.ticketLifetimeSeconds = reader.int("sessionTicketLifetimeSeconds", default: 7200, range: 60...604_800)
        let policy = reader.string("clientCertificates", default: "none", allowed: ["none", "optional", "required"])
        server.clientCertificates = ClientCertificatePolicy(rawValue: policy) ?? .none
        let authority = reader.string("clientCertificateAuthorityFilename", default: "")
        if !authority.isEmpty { server.clientCertificateAuthorityFile = authority }
        if server.clientCertificates != .none && authority.isEmpty {
            reader.report("clientCertificateAuthorityFilename", "is required when clientCertificates is \"\(policy)\" (the CA file client certificates are verified against)")
        }
        if let entries = reader.array("serverNameCertificates") {
            for (index, entry) in entries.enumerated() {
                guard var item = reader.child(entry, path: "serverNameCertificates[\(index)]") else { continue }
                var names: [String] = []
                if let list = item.array("serverNames"), !list.isEmpty {
                    names = list.compactMap(\.stringValue).filter { !$0.isEmpty }
                    if names.count != list.count { item.report("serverNames", "must be non-empty strings (host names, or *.domain)") }
                } else {
                    item.report("serverNames", "is required: the host names (SNI) this certificate answers for")
                }
                server.sniPairs.append(decodePair(&item, serverNames: names))
                item.finish()
            }
        }
        var tls = ListenerTLSConfiguration(server: server)
        tls.handshakeTimeoutSeconds = reader.seconds("handshakeTimeoutSeconds", default: 10, range: 0.1...300)
        tls.usernameMustMatchCertificate = reader.bool("usernameMustMatchCertificate", default: false)
        if tls.usernameMustMatchCertificate && server.clientCertificates == .none {
            reader.report("usernameMustMatchCertificate", "needs clientCertificates \"required\" or \"optional\"")
        }
        reader.finish()
        return tls
    }

    static func decodePair(_ reader: inout ObjectReader, serverNames: [String]) -> CertificatePair {
        let certificate = reader.string("certificateFilename", default: "")
        if certificate.isEmpty { reader.report("certificateFilename", "is required (a PEM certificate chain, server certificate first)") }
        let key = reader.string("privateKeyFilename", default: "")
        if key.isEmpty { reader.report("privateKeyFilename", "is required (the PEM private key of certificateFilename)") }
        return CertificatePair(certificateFile: certificate, privateKeyFile: key, serverNames: serverNames, configPath: reader.path)
    }
}

/// `upstreams[].tls`: how an `https://` upstream is verified and what the gateway presents to it.
enum UpstreamTLSDecoder {
    static func decode(_ reader: ObjectReader?, url: UpstreamURL, path: String) -> TLSClientSettings {
        decode(reader, serverName: url.host, path: path)
    }

    /// Also Redis's `fleet.tls`: the same keys, the server named by its address unless `serverName` says otherwise.
    static func decode(_ reader: ObjectReader?, serverName: String, path: String) -> TLSClientSettings {
        var settings = TLSClientSettings(serverName: serverName, configPath: ObjectReader.join(path, "tls"))
        guard var reader else { return settings }
        let authority = reader.string("certificateAuthorityFilename", default: "")
        if !authority.isEmpty { settings.certificateAuthorityFile = authority }
        let name = reader.string("serverName", default: "")
        if !name.isEmpty { settings.serverName = name }
        settings.verifyServer = reader.bool("verifyServerCertificate", default: true)
        let certificate = reader.string("certificateFilename", default: ""), key = reader.string("privateKeyFilename", default: "")
        if certificate.isEmpty != key.isEmpty {
            reader.report(certificate.isEmpty ? "certificateFilename" : "privateKeyFilename", "is required with \(certificate.isEmpty ? "privateKeyFilename" : "certificateFilename") (a client certificate needs both)")
        } else if !certificate.isEmpty {
            settings.clientPair = CertificatePair(certificateFile: certificate, privateKeyFile: key, configPath: reader.path)
        }
        reader.finish()
        return settings
    }
}
