/// One certificate chain and its private key, chosen by SNI when `serverNames` is not empty.
public struct CertificatePair: Sendable, Equatable {
    public var certificateFile: String
    public var privateKeyFile: String
    /// Host names this pair answers for (`*.example.com` matches one label); empty for the default pair.
    public var serverNames: [String]
    /// Where the pair sits in gateway.json (e.g. `listeners[0].tls`), used in messages.
    public var configPath: String

    public init(certificateFile: String, privateKeyFile: String, serverNames: [String] = [], configPath: String) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.serverNames = serverNames
        self.configPath = configPath
    }
}

/// Whether a listener asks for client certificates.
public enum ClientCertificatePolicy: String, Sendable, Equatable {
    case none, optional, required
}

/// Everything a TLS listener needs, as plain values (gateway.json's `listeners[].tls`).
public struct TLSServerSettings: Sendable, Equatable {
    public var defaultPair: CertificatePair
    public var sniPairs: [CertificatePair] = []
    /// "TLSv1.2" (default) or "TLSv1.3".
    public var minimumProtocol = "TLSv1.2"
    /// OpenSSL cipher names separated by colons; `TLS_…` names set the TLS 1.3 suites.
    public var allowedCipherSuites: String?
    /// ALPN protocols in preference order.
    public var applicationProtocols = ["h2", "http/1.1"]
    public var clientCertificates = ClientCertificatePolicy.none
    public var clientCertificateAuthorityFile: String?
    /// How long a session ticket stays usable; keys rotate at a third of it.
    public var ticketLifetimeSeconds = 7200
    public var configPath: String

    public init(defaultPair: CertificatePair, configPath: String) {
        self.defaultPair = defaultPair
        self.configPath = configPath
    }

    /// TLS 1.2 suites with forward secrecy and AEAD only (Mozilla's "intermediate" without DHE).
    public static let defaultCipherList = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    public static let defaultTLS13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
}

/// How the gateway connects to an `https://` upstream.
public struct TLSClientSettings: Sendable, Equatable {
    /// CA bundle that must have issued the upstream's certificate; nil uses the system's store.
    public var certificateAuthorityFile: String?
    /// A client certificate for upstreams that require one (mTLS to FairCom).
    public var clientPair: CertificatePair?
    /// Checked against the certificate (DNS or IP subjectAltName); sent as SNI when it is a name.
    public var serverName: String
    public var verifyServer = true
    public var configPath: String

    public init(serverName: String, configPath: String) {
        self.serverName = serverName
        self.configPath = configPath
    }
}
