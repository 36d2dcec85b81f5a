import GatewayJSON
import GatewaySystem

/// `admin`: the operator's listener, apart from the API listeners: /metrics (Prometheus), the
/// status page at /, /health, /ready and /stats. Loopback by default; elsewhere it needs a bearer
/// token or required client certificates, since it shows usernames and client addresses.
/// `bearerTokenFile` is read when gateway.json is (at start and at each reload).
public struct AdminConfiguration: Sendable, Equatable {
    /// The listener itself (named "admin"; HTTP/1.1 only).
    public var listener: ListenerConfiguration
    /// When set, every admin request must carry `Authorization: Bearer <token>`.
    public var bearerToken: String?
    /// A file holding the token instead, read at start and at each reload (so the secret stays out
    /// of gateway.json, and a missing file is a start problem that check-config reports).
    public var bearerTokenFile: String?
    /// Whether the API listeners answer /health and /ready too (for load balancers). Default true.
    public var healthOnApiListeners = true

    public static let defaultPort = 9180

    static func decode(_ value: JSONValue, problems: ProblemList) -> AdminConfiguration? {
        guard var reader = ObjectReader(value, path: "admin", problems: problems) else { return nil }
        let address = reader.string("address", default: "127.0.0.1")
        let port = reader.int("port", default: defaultPort, range: 0...65535)
        if SocketAddress(host: address, port: port) == nil {
            reader.report("address", "\"\(address)\" is not a numeric IPv4 or IPv6 address")
        }
        var listener = ListenerConfiguration(name: "admin", address: address, port: port,
                                             enabled: reader.bool("enabled", default: true),
                                             maxConnections: reader.int("maxConnections", default: 64, range: 1...10_000))
        listener.http2 = false
        if let tls = reader.object("tls") {
            listener.tls = ListenerTLSConfiguration.decode(tls)
            listener.tls?.server.applicationProtocols = ["http/1.1"]
        }
        var admin = AdminConfiguration(listener: listener)
        let token = reader.string("bearerToken", default: "")
        let tokenFile = reader.string("bearerTokenFile", default: "")
        if !tokenFile.isEmpty {
            if !token.isEmpty { reader.report("bearerTokenFile", "set \"bearerToken\" or \"bearerTokenFile\", not both") }
            if !tokenFile.hasPrefix("/") { reader.report("bearerTokenFile", "\"\(tokenFile)\" must be an absolute path") }
            admin.bearerTokenFile = tokenFile
        }
        if !token.isEmpty {
            if let problem = Self.problem(withToken: token) { reader.report("bearerToken", problem) } else { admin.bearerToken = token }
        }
        admin.healthOnApiListeners = reader.bool("healthOnApiListeners", default: true)
        let loopback = address == "::1" || address.hasPrefix("127.")
        let certificatesRequired = listener.tls?.server.clientCertificates == .required
        if listener.enabled && !loopback && admin.bearerToken == nil && admin.bearerTokenFile == nil && !certificatesRequired {
            reader.report("address", "\"\(address)\" is not a loopback address: the admin listener shows usernames and client addresses, so set \"bearerToken\" or \"tls\" with \"clientCertificates\": \"required\"")
        }
        reader.finish()
        return admin
    }
}

extension AdminConfiguration {
    static func problem(withToken token: String) -> String? {
        token.utf8.count < 16 || !token.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
            ? "must be at least 16 visible ASCII characters (no spaces)" : nil
    }

    /// The token in force: `bearerToken`, or what `bearerTokenFile` holds, or what is wrong with the file.
    public func resolvedBearerToken() -> Result<String?, AdminTokenError> {
        guard let file = bearerTokenFile else { return .success(bearerToken) }
        guard let bytes = try? FileSystem.readRegularFile(file, maxBytes: 4096) else {
            let reason = FileSystem.regularFileProblem(file, maxBytes: 4096) ?? "unreadable"
            return .failure(AdminTokenError(message: "admin.bearerTokenFile: cannot read \"\(file)\": \(reason)"))
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: [" ", "\n", "\r", "\t"])
        if let problem = Self.problem(withToken: token) {
            return .failure(AdminTokenError(message: "admin.bearerTokenFile: the token in \"\(file)\" \(problem)"))
        }
        return .success(token)
    }
}

public struct AdminTokenError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

private extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
