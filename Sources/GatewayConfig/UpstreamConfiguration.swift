import GatewayJSON
import GatewaySystem
import GatewayTLS

/// An upstream's URL: `http://host:port/path`.
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    public var path: String

    /// Parses `http://` and `https://` URLs with a numeric host (or localhost) and an optional port and path.
    public init?(_ text: String) {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") { scheme = "http"; rest = text.dropFirst(7) }
        else if lower.hasPrefix("https://") { scheme = "https"; rest = text.dropFirst(8) }
        else { return nil }
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest[authority.endIndex...]) : "/"
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var hostPart = authority[...]
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty { return nil }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        if let portPart {
            guard let p = Int(portPart), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            port = scheme == "https" ? 443 : 80
        }
        host = String(hostPart)
        guard !host.isEmpty, !path.contains(" ") else { return nil }
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(h):\(port)\(path)"
    }
}

/// One `upstreams[]` entry: a FairCom-style backend and its keep-alive pool.
public struct UpstreamConfiguration: Sendable, Equatable {
    public var name: String
    public var url: UpstreamURL
    /// Connections to this upstream across all loops. Default 64.
    public var maxConnections: Int
    /// Requests that may wait for a busy pool per loop before 503. Default 1024.
    public var maxQueuedRequests: Int
    /// Default 2 s.
    public var connectTimeoutSeconds: Double
    /// Longest silence while waiting for the response. Default 30 s; then 504.
    public var responseTimeoutSeconds: Double
    /// A pooled connection unused this long is closed. Default 60 s.
    public var idleTimeoutSeconds: Double
    /// How often a JSON check (a pingSession POST) probes the upstream for /ready and routing. Default 5 s.
    public var healthCheckIntervalSeconds: Double
    /// A check not answered within this fails. Default 2 s.
    public var healthCheckTimeoutSeconds: Double = 2
    /// The admin action each check sends. Default "pingSession".
    public var healthCheckAction = "pingSession"
    /// Passed checks in a row that bring a down upstream back. Default 2.
    public var healthCheckRise = 2
    /// Failed checks in a row that take it down. Default 3.
    public var healthCheckFall = 3
    /// Failed requests in a row (connect failures, timeouts, 5xx) that eject it. Default 5; 0 never ejects.
    public var ejectAfterFailures = 5
    /// How long an ejected upstream is left alone. Default 30 s.
    public var ejectSeconds: Double = 30
    /// Its share of new logins. Default 1.
    public var weight = 1

    /// How an `https://` upstream is verified (`tls`); nil for `http://`.
    public var tls: TLSClientSettings?

    public var address: SocketAddress { SocketAddress(host: url.host, port: url.port)! }

    static func decode(_ value: JSONValue, path: String, problems: ProblemList) -> UpstreamConfiguration? {
        guard var reader = ObjectReader(value, path: path, problems: problems) else { return nil }
        let name = reader.string("name", default: "")
        if name.isEmpty { reader.report("name", "is required (a non-empty string)") }
        let text = reader.string("url", default: "")
        var url = UpstreamURL("http://127.0.0.1:18080/api")!
        if text.isEmpty {
            reader.report("url", "is required, e.g. \"http://127.0.0.1:18080/api\"")
        } else if let parsed = UpstreamURL(text) {
            url = parsed
            if SocketAddress(host: parsed.host, port: parsed.port) == nil {
                reader.report("url", "\"\(text)\": host must be a numeric IPv4 or IPv6 address or localhost")
            }
        } else {
            reader.report("url", "\"\(text)\" is not an http or https URL")
        }
        var tls: TLSClientSettings?
        let tlsReader = reader.object("tls")
        if url.scheme == "https" {
            tls = UpstreamTLSDecoder.decode(tlsReader, url: url, path: path)
        } else if tlsReader != nil {
            reader.report("tls", "applies to https:// upstreams only; \"\(text)\" is http")
        }
        var upstream = UpstreamConfiguration(
            name: name, url: url,
            maxConnections: reader.int("maxConnections", default: 64, range: 1...100_000),
            maxQueuedRequests: reader.int("maxQueuedRequests", default: 1024, range: 0...1_000_000),
            connectTimeoutSeconds: reader.seconds("connectTimeoutSeconds", default: 2, range: 0.001...600),
            responseTimeoutSeconds: reader.seconds("responseTimeoutSeconds", default: 30, range: 0.001...86_400),
            idleTimeoutSeconds: reader.seconds("idleTimeoutSeconds", default: 60, range: 0.001...86_400),
            healthCheckIntervalSeconds: reader.seconds("healthCheckIntervalSeconds", default: 5, range: 0.1...3600))
        upstream.tls = tls
        upstream.healthCheckTimeoutSeconds = reader.seconds("healthCheckTimeoutSeconds", default: 2, range: 0.01...600)
        upstream.healthCheckAction = reader.string("healthCheckAction", default: "pingSession")
        if upstream.healthCheckAction.isEmpty || !upstream.healthCheckAction.allSatisfy({ $0.isASCII && $0.isLetter }) {
            reader.report("healthCheckAction", "\"\(upstream.healthCheckAction)\" must be an action name such as \"pingSession\"")
        }
        upstream.healthCheckRise = reader.int("healthCheckRise", default: 2, range: 1...100)
        upstream.healthCheckFall = reader.int("healthCheckFall", default: 3, range: 1...100)
        upstream.ejectAfterFailures = reader.int("ejectAfterFailures", default: 5, range: 0...100_000)
        upstream.ejectSeconds = reader.seconds("ejectSeconds", default: 30, range: 0.1...86_400)
        upstream.weight = reader.int("weight", default: 1, range: 1...1000)
        reader.finish()
        return upstream
    }
}
