import Glibc
import GatewayJSON
import GatewaySystem
import GatewayTLS

/// `fleet`: several gateways share their sessions and limits through Redis. Without this section
/// a gateway keeps its sessions to itself, as before. Secrets (the Redis password and the key that
/// seals upstream tokens) come from files, read when gateway.json is.
public struct FleetConfiguration: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case direct(SocketAddress)
        case sentinel([SocketAddress], masterName: String)
    }

    /// What logins get while Redis cannot be reached.
    public enum LoginsWhenDown: String, Sendable, Equatable {
        /// Refused with a FairCom-shaped error saying why (the default: the limits stay exact).
        case refuse
        /// Admitted against this gateway's share of each limit (the limit divided by the gateways
        /// seen alive in the last minute), and written to Redis once it is back.
        case localShare
    }

    public var endpoint: Endpoint
    public var tls: TLSClientSettings?
    public var username: String?
    public var password: String?
    public var sentinelPassword: String?
    public var database = 0
    public var keyPrefix = "fcgw:"
    /// 32 bytes that seal upstream tokens in Redis (AES-256-GCM); every gateway of the fleet has the same.
    public var tokenKey: [UInt8] = []
    public var tokenKeyFile = ""
    public var connectTimeoutMilliseconds: Int64 = 500
    public var commandTimeoutMilliseconds: Int64 = 500
    public var breakerFailures = 3
    public var breakerOpenMilliseconds: Int64 = 1000
    /// How long a gateway forwards for a session it has not heard of from Redis (invalidations
    /// come at once; this bounds what a lost one can cost).
    public var cacheMilliseconds: Int64 = 10_000
    /// How often each gateway tells Redis which sessions it used (one script per interval, not a write per request).
    public var touchIntervalMilliseconds: Int64 = 1000
    public var loginsWhenDown = LoginsWhenDown.refuse
    /// How long sessions this gateway knows keep working while Redis is unreachable.
    public var cacheGraceMilliseconds: Int64 = 30_000

    public init(endpoint: Endpoint) { self.endpoint = endpoint }

    /// How late, at most, an idle session ends: a use is reported within one touch interval and
    /// one command timeout, and the sweep that ends sessions runs every second.
    public var expiryLatenessMilliseconds: Int64 { touchIntervalMilliseconds + commandTimeoutMilliseconds + 1000 }

    static func decode(_ value: JSONValue, problems: ProblemList) -> FleetConfiguration? {
        guard var reader = ObjectReader(value, path: "fleet", problems: problems) else { return nil }
        let redis = reader.string("redis", default: "")
        let sentinels = (reader.array("sentinels") ?? []).compactMap(\.stringValue)
        let masterName = reader.string("masterName", default: "")
        var endpoint = Endpoint.direct(SocketAddress(host: "127.0.0.1", port: 6379)!)
        var secure = false
        if !redis.isEmpty && !sentinels.isEmpty {
            reader.report("redis", "set \"redis\" (one server) or \"sentinels\" with \"masterName\", not both")
        } else if !redis.isEmpty {
            var text = redis
            if text.hasPrefix("rediss://") { secure = true; text.removeFirst(9) } else if text.hasPrefix("redis://") { text.removeFirst(8) }
            if text.contains("@") {
                reader.report("redis", "must not hold credentials (they would show in logs and errors); set \"username\" and \"password\" or \"passwordFile\"")
            } else if let address = Self.address(text, defaultPort: 6379) {
                endpoint = .direct(address)
            } else {
                reader.report("redis", "\"\(redis)\" is not redis://HOST:PORT or rediss://HOST:PORT with a numeric IPv4 or [IPv6] host")
            }
        } else if !sentinels.isEmpty {
            var addresses: [SocketAddress] = []
            for (index, text) in sentinels.enumerated() {
                if let address = Self.address(text, defaultPort: 26379) { addresses.append(address) } else {
                    reader.report("sentinels[\(index)]", "\"\(text)\" is not HOST:PORT with a numeric IPv4 or [IPv6] host")
                }
            }
            if masterName.isEmpty { reader.report("masterName", "is required with \"sentinels\" (the name the Sentinels monitor)") }
            endpoint = .sentinel(addresses, masterName: masterName)
        } else {
            reader.report("redis", "is required: \"redis\": \"redis://HOST:PORT\", or \"sentinels\" with \"masterName\"")
        }
        var fleet = FleetConfiguration(endpoint: endpoint)
        let tlsReader = reader.object("tls")
        if secure || tlsReader != nil {
            fleet.tls = UpstreamTLSDecoder.decode(tlsReader, serverName: Self.host(of: endpoint), path: "fleet")
        }
        let username = reader.string("username", default: "")
        if !username.isEmpty { fleet.username = username }
        fleet.password = Self.secret(&reader, "password", "passwordFile")
        fleet.sentinelPassword = Self.secret(&reader, "sentinelPassword", "sentinelPasswordFile")
        fleet.database = reader.int("database", default: 0, range: 0...15)
        fleet.keyPrefix = reader.string("keyPrefix", default: "fcgw:")
        if fleet.keyPrefix.isEmpty || fleet.keyPrefix.utf8.count > 64 || fleet.keyPrefix.contains(where: { $0 == " " || $0.isNewline }) {
            reader.report("keyPrefix", "\"\(fleet.keyPrefix)\" must be 1 to 64 characters without spaces")
        }
        fleet.tokenKeyFile = reader.string("tokenKeyFile", default: "")
        if fleet.tokenKeyFile.isEmpty {
            reader.report("tokenKeyFile", "is required: a file with 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`), the same on every gateway of the fleet; it seals upstream tokens in Redis")
        } else {
            switch Self.readTokenKey(fleet.tokenKeyFile) {
            case .success(let key): fleet.tokenKey = key
            case .failure(let problem): reader.report("tokenKeyFile", problem.message)
            }
        }
        fleet.connectTimeoutMilliseconds = Int64(reader.seconds("connectTimeoutSeconds", default: 0.5, range: 0.01...30) * 1000)
        fleet.commandTimeoutMilliseconds = Int64(reader.seconds("commandTimeoutSeconds", default: 0.5, range: 0.01...30) * 1000)
        fleet.breakerFailures = reader.int("breakerFailures", default: 3, range: 1...1000)
        fleet.breakerOpenMilliseconds = Int64(reader.seconds("breakerOpenSeconds", default: 1, range: 0.05...300) * 1000)
        fleet.cacheMilliseconds = Int64(reader.seconds("cacheSeconds", default: 10, range: 0.1...3600) * 1000)
        fleet.touchIntervalMilliseconds = Int64(reader.seconds("touchIntervalSeconds", default: 1, range: 0.05...60) * 1000)
        fleet.loginsWhenDown = LoginsWhenDown(rawValue: reader.string("loginsWhenRedisIsDown", default: "refuse", allowed: ["refuse", "localShare"])) ?? .refuse
        fleet.cacheGraceMilliseconds = Int64(reader.seconds("cacheGraceSeconds", default: 30, range: 0...86_400) * 1000)
        reader.finish()
        return fleet
    }

    private static func secret(_ reader: inout ObjectReader, _ key: String, _ fileKey: String) -> String? {
        let inline = reader.string(key, default: "")
        let file = reader.string(fileKey, default: "")
        if !inline.isEmpty && !file.isEmpty { reader.report(fileKey, "set \"\(key)\" or \"\(fileKey)\", not both") }
        if !file.isEmpty {
            guard let bytes = try? FileSystem.readRegularFile(file, maxBytes: 4096) else {
                reader.report(fileKey, "cannot read \"\(file)\": \(FileSystem.regularFileProblem(file, maxBytes: 4096) ?? "unreadable")")
                return nil
            }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters()
            if text.isEmpty { reader.report(fileKey, "\"\(file)\" is empty") }
            return text
        }
        return inline.isEmpty ? nil : inline
    }

    struct KeyProblem: Error { let message: String }

    static func readTokenKey(_ path: String) -> Result<[UInt8], KeyProblem> {
        guard path.hasPrefix("/") else { return .failure(KeyProblem(message: "\"\(path)\" must be an absolute path")) }
        guard let bytes = try? FileSystem.readRegularFile(path, maxBytes: 1024) else {
            return .failure(KeyProblem(message: "cannot read \"\(path)\": \(FileSystem.regularFileProblem(path, maxBytes: 1024) ?? "unreadable")"))
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            return .failure(KeyProblem(message: "\"\(path)\" is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"))
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters()
        guard text.utf8.count == 64, let key = Hex.bytes(text) else {
            return .failure(KeyProblem(message: "\"\(path)\" must hold exactly 64 hex digits (32 bytes; `openssl rand -hex 32`)"))
        }
        return .success(key)
    }

    static func address(_ text: String, defaultPort: Int) -> SocketAddress? {
        var host = Substring(text), port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { guard let p = Int(rest.dropFirst()) else { return nil }; port = p } else if !rest.isEmpty { return nil }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            guard let p = Int(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        guard (1...65535).contains(port) else { return nil }
        return SocketAddress(host: host == "localhost" ? "127.0.0.1" : String(host), port: port)
    }

    private static func host(of endpoint: Endpoint) -> String {
        if case .direct(let address) = endpoint { return address.host }
        return ""
    }
}

private extension String {
    /// Without surrounding spaces, tabs and line ends (byte-wise: "\r\n" is one Character in Swift).
    func trimmingCharacters() -> String {
        let blank: Set<UInt8> = [0x20, 0x0A, 0x0D, 0x09]
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { !blank.contains($0) }), let last = bytes.lastIndex(where: { !blank.contains($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
