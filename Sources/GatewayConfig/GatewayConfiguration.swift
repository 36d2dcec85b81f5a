import GatewayJSON
import GatewaySystem

/// gateway.json as plain values. Key names follow FairCom's services.json where FairCom has one.
public struct GatewayConfiguration: Sendable {
    /// Event loops (threads). 0, the default, means one per online CPU.
    public var workers: Int = 0
    /// The JSON Action endpoint; `<apiRoot>/<anything>` is the same endpoint. Default "/api".
    public var apiRoot: String = "/api"
    public var listeners: [ListenerConfiguration] = []
    public var upstreams: [UpstreamConfiguration] = []
    public var jsonActionApiDefaults = JSONActionAPIDefaults()
    public var sessions = SessionsConfiguration()
    public var limits = LimitsConfiguration()
    public var logging = LoggingConfiguration()
    /// The admin listener; nil when gateway.json has no `admin` section.
    public var admin: AdminConfiguration?
    /// Sessions and limits shared with other gateways through Redis; nil: this gateway alone.
    public var fleet: FleetConfiguration?
    /// Where the running gateway writes its process ID (`gateway reload` reads it); none when empty.
    /// Relative to the configuration file's folder.
    public var pidFile = ""
    /// The account the gateway switches to once its ports are bound, when started as root; none when empty.
    public var user = ""

    public init() {}

    /// The listeners to bind: the enabled API listeners, then the admin listener if enabled.
    public var enabledListeners: [ListenerConfiguration] {
        listeners.filter(\.enabled) + (admin.map { $0.listener.enabled ? [$0.listener] : [] } ?? [])
    }

    /// The loop count actually used.
    public var effectiveWorkers: Int { workers == 0 ? ProcessSetup.onlineProcessorCount : workers }

    /// Reads and validates a file; throws every problem at once.
    public static func load(path: String) throws(ConfigError) -> GatewayConfiguration {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readRegularFile(path, maxBytes: maxFileBytes)
        } catch {
            throw ConfigError(source: path, problems: [ConfigProblem(path: "", message: "cannot read: \(error.message)")])
        }
        var configuration = try parse(bytes, source: path)
        configuration.resolvePaths(relativeTo: path)
        return configuration
    }

    /// A configuration file larger than this is refused rather than read (`check-config /dev/zero`).
    public static let maxFileBytes = 4 << 20

    /// A relative `sessions.dataDirectory` names a folder beside the configuration file, whatever
    /// the current directory of whoever starts the gateway (systemd, a shell, a test).
    /// The configuration file's links are resolved first: the folder is the real file's, and logs name absolute paths.
    mutating func resolvePaths(relativeTo configurationPath: String) {
        let file = FileSystem.realPath(configurationPath) ?? configurationPath
        let folder = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        func resolve(_ path: inout String) {
            guard !path.isEmpty, !path.hasPrefix("/") else { return }
            path = (folder.isEmpty ? "/" : folder + "/") + path
        }
        resolve(&sessions.dataDirectory)
        resolve(&logging.accessLogFile)
        resolve(&pidFile)
    }

    public static func parse(_ bytes: [UInt8], source: String = "gateway.json") throws(ConfigError) -> GatewayConfiguration {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes)
        } catch {
            let (line, column) = Self.lineAndColumn(of: error.offset, in: bytes)
            throw ConfigError(source: source, problems: [ConfigProblem(path: "", message: "not valid JSON: \(error.message) at line \(line), column \(column)")])
        }
        let problems = ProblemList()
        let configuration = decode(document, problems: problems)
        if problems.items.isEmpty { configuration.validate(problems) }
        guard problems.items.isEmpty else { throw ConfigError(source: source, problems: problems.items) }
        return configuration
    }

    static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (Int, Int) {
        var line = 1, column = 1
        for byte in bytes.prefix(offset) {
            if byte == 10 { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }

    static func decode(_ document: JSONValue, problems: ProblemList) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        guard var root = ObjectReader(document, path: "", problems: problems) else { return configuration }
        configuration.workers = root.int("workers", default: 0, range: 0...256)
        configuration.apiRoot = root.string("apiRoot", default: "/api")
        configuration.pidFile = root.string("pidFile", default: "")
        configuration.user = root.string("user", default: "")
        if let listeners = root.array("listeners") {
            configuration.listeners = listeners.enumerated().compactMap { index, value in
                ListenerConfiguration.decode(value, path: "listeners[\(index)]", problems: problems)
            }
        } else {
            problems.add("listeners", "is required: at least one listener")
        }
        if let upstreams = root.array("upstreams") {
            configuration.upstreams = upstreams.enumerated().compactMap { index, value in
                UpstreamConfiguration.decode(value, path: "upstreams[\(index)]", problems: problems)
            }
        } else {
            problems.add("upstreams", "is required: at least one upstream")
        }
        if let defaults = root.object("jsonActionApiDefaults") {
            configuration.jsonActionApiDefaults = JSONActionAPIDefaults.decode(defaults)
        }
        if let sessions = root.object("sessions") { configuration.sessions = SessionsConfiguration.decode(sessions) }
        if let limits = root.object("limits") { configuration.limits = LimitsConfiguration.decode(limits) }
        if let logging = root.object("logging") { configuration.logging = LoggingConfiguration.decode(logging) }
        if let admin = root.value("admin") { configuration.admin = AdminConfiguration.decode(admin, problems: problems) }
        if let fleet = root.value("fleet") { configuration.fleet = FleetConfiguration.decode(fleet, problems: problems) }
        root.finish()
        return configuration
    }

    /// Checks that need the whole document: names unique, something enabled, the root well formed.
    func validate(_ problems: ProblemList) {
        if !apiRoot.hasPrefix("/") || apiRoot.count < 2 || apiRoot.hasSuffix("/") || apiRoot.contains(" ") || apiRoot.contains("?") {
            problems.add("apiRoot", "\"\(apiRoot)\" must be a path such as \"/api\" (leading slash, no trailing slash)")
        }
        if listeners.isEmpty { problems.add("listeners", "needs at least one listener") }
        if !listeners.isEmpty && !listeners.contains(where: \.enabled) { problems.add("listeners", "every listener is disabled") }
        if upstreams.isEmpty { problems.add("upstreams", "needs at least one upstream") }
        for (index, listener) in listeners.enumerated() where admin != nil && listener.name == "admin" {
            problems.add("listeners[\(index)].name", "\"admin\" is the admin listener's name; choose another")
        }
        for (index, listener) in listeners.enumerated() where listeners[..<index].contains(where: { $0.name == listener.name }) {
            problems.add("listeners[\(index)].name", "\"\(listener.name)\" is used by an earlier listener")
        }
        for (index, listener) in listeners.enumerated() where listener.port != 0 && listener.enabled {
            if listeners[..<index].contains(where: { $0.enabled && $0.port == listener.port && $0.address == listener.address }) {
                problems.add("listeners[\(index)].port", "\(listener.address):\(listener.port) is used by an earlier listener")
            }
        }
        if let admin, admin.listener.enabled, admin.listener.port != 0,
           listeners.contains(where: { $0.enabled && $0.port == admin.listener.port && $0.address == admin.listener.address }) {
            problems.add("admin.port", "\(admin.listener.address):\(admin.listener.port) is used by a listener")
        }
        for (index, upstream) in upstreams.enumerated() where upstreams[..<index].contains(where: { $0.name == upstream.name }) {
            problems.add("upstreams[\(index)].name", "\"\(upstream.name)\" is used by an earlier upstream")
        }
    }
}

/// One `listeners[]` entry (FairCom: a service with a port).
public struct ListenerConfiguration: Sendable, Equatable {
    public var name: String
    public var address: String
    /// 0 binds a free port (tests); the bound port is logged.
    public var port: Int
    public var enabled: Bool
    /// Open connections beyond which new ones get 503 and are closed. Default 10,000.
    public var maxConnections: Int
    /// TLS termination (FairCom's `tls` object); nil for a plain listener.
    public var tls: ListenerTLSConfiguration?
    /// HTTP/2: by ALPN on TLS listeners, with prior knowledge (h2c) on plain ones. Default true.
    public var http2 = true

    public var socketAddress: SocketAddress { SocketAddress(host: address, port: port)! }

    static func decode(_ value: JSONValue, path: String, problems: ProblemList) -> ListenerConfiguration? {
        guard var reader = ObjectReader(value, path: path, problems: problems) else { return nil }
        let name = reader.string("name", default: "")
        if name.isEmpty { reader.report("name", "is required (a non-empty string)") }
        let address = reader.string("address", default: "127.0.0.1")
        let port = reader.int("port", default: 8080, range: 0...65535)
        if SocketAddress(host: address, port: port) == nil {
            reader.report("address", "\"\(address)\" is not a numeric IPv4 or IPv6 address")
        }
        let listener = ListenerConfiguration(name: name, address: address, port: port,
                                             enabled: reader.bool("enabled", default: true),
                                             maxConnections: reader.int("maxConnections", default: 10_000, range: 1...1_000_000))
        var result = listener
        if let tls = reader.object("tls") { result.tls = ListenerTLSConfiguration.decode(tls) }
        result.http2 = reader.bool("http2", default: true)
        if !result.http2 { result.tls?.server.applicationProtocols = ["http/1.1"] }
        reader.finish()
        return result
    }
}

/// `logging`: level and access log.
public struct LoggingConfiguration: Sendable, Equatable {
    /// "debug", "info" (default), "warning" or "error".
    public var level = "info"
    /// One JSON object per request, answered or forwarded. Default off.
    public var accessLog = false
    /// Where the access log goes: a file opened for appending (reopened on SIGUSR1), or standard
    /// error when empty (the default). Relative to the configuration file's folder.
    public var accessLogFile = ""

    static func decode(_ reader: ObjectReader) -> LoggingConfiguration {
        var reader = reader
        var logging = LoggingConfiguration()
        logging.level = reader.string("level", default: "info", allowed: ["debug", "info", "warning", "error"])
        logging.accessLog = reader.bool("accessLog", default: false)
        logging.accessLogFile = reader.string("accessLogFile", default: "")
        if logging.accessLogFile.contains("\0") { reader.report("accessLogFile", "must be a file path") }
        reader.finish()
        return logging
    }
}
