import GatewayEventLoop
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// Where Redis is and how to talk to it; shared by every loop's client.
public struct RedisSettings: Sendable {
    public enum Endpoint: Sendable {
        case direct(SocketAddress)
        /// Asked of the Sentinels in turn (`SENTINEL get-master-addr-by-name`), again after every lost connection.
        case sentinel([SocketAddress], masterName: String)
    }

    public var endpoint: Endpoint
    public var tls: TLSClientContext?
    public var username: String?
    public var password: String?
    public var sentinelPassword: String?
    public var database = 0
    public var connectTimeoutMilliseconds: Int64 = 500
    public var commandTimeoutMilliseconds: Int64 = 500
    public var breakerFailures = 3
    public var breakerOpenMilliseconds: Int64 = 1000
    /// Commands that may wait for a connection; more fail at once.
    public var maxWaiting = 10_000

    public init(endpoint: Endpoint) { self.endpoint = endpoint }

    /// For messages: "127.0.0.1:6379", or "the master 'name' of Sentinels a, b".
    public var endpointDescription: String {
        switch endpoint {
        case .direct(let address): "\(address)"
        case .sentinel(let sentinels, let name): "master '\(name)' of Sentinels \(sentinels.map(\.description).joined(separator: ", "))"
        }
    }
}

/// A script Redis runs atomically, sent by its SHA-1 (EVALSHA) and in full only when the server
/// does not have it yet (NOSCRIPT: after a restart, a failover or SCRIPT FLUSH).
public struct RedisScript: Sendable {
    public let source: [UInt8]
    public let sha1: [UInt8]

    public init(_ source: String) {
        self.source = Array(source.utf8)
        sha1 = Array(SHA1Digest.hex(self.source).utf8)
    }
}

/// One loop's client of Redis: one pipelined connection, opened on first use and again after a
/// loss, behind a circuit breaker. Everything runs on `loop`; `@unchecked Sendable` only so that
/// another thread can hand it to its loop with `loop.execute`.
public final class RedisClient: @unchecked Sendable {
    public let loop: EventLoop
    public let settings: RedisSettings
    private let logger: Logger
    private var connection: RedisConnection?
    private var breaker: CircuitBreaker
    private var waiting: [(arguments: [[UInt8]], completion: RedisConnection.Completion)] = []
    private var resolving = false
    /// Outages since the last success, for the log: the first and the opening of the breaker are logged.
    private var loggedOutage = false

    public init(loop: EventLoop, settings: RedisSettings, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.logger = logger
        breaker = CircuitBreaker(failuresToOpen: settings.breakerFailures, openMilliseconds: settings.breakerOpenMilliseconds)
    }

    /// Whether commands go out now (the breaker is not open).
    public var isAvailable: Bool { breaker.isClosed }

    /// Closes the breaker because Redis is known to answer again (another loop's client heard it),
    /// so that this loop does not wait out its open period.
    public func closeBreaker() {
        guard !breaker.isClosed else { return }
        breaker.succeeded()
    }

    public func send(_ arguments: [[UInt8]], completion: @escaping RedisConnection.Completion) {
        guard breaker.allows(now: MonotonicClock.nowMilliseconds()) else {
            completion(.failure(.circuitOpen))
            return
        }
        let tracked: RedisConnection.Completion = { [weak self] result in
            self?.observe(result)
            completion(result)
        }
        if let connection, !connection.isClosed {
            connection.send(arguments, completion: tracked)
            return
        }
        guard waiting.count < settings.maxWaiting else {
            completion(.failure(.overloaded(waiting.count)))
            return
        }
        waiting.append((arguments, tracked))
        connect()
    }

    public func send(_ arguments: [String], completion: @escaping RedisConnection.Completion) {
        send(arguments.map { Array($0.utf8) }, completion: completion)
    }

    /// Runs `script` with EVALSHA, and with EVAL once when Redis does not know it.
    public func evaluate(_ script: RedisScript, keys: [[UInt8]], arguments: [[UInt8]], completion: @escaping RedisConnection.Completion) {
        let tail = [Array(String(keys.count).utf8)] + keys + arguments
        send([Array("EVALSHA".utf8), script.sha1] + tail) { [weak self] result in
            if case .failure(.reply(let text)) = result, text.hasPrefix("NOSCRIPT"), let self {
                self.send([Array("EVAL".utf8), script.source] + tail, completion: completion)
            } else {
                completion(result)
            }
        }
    }

    /// Closes the connection (a reload, a shutdown); what is pending fails as lost.
    public func disconnect() {
        connection?.fail("closed by the gateway", nil)
        connection = nil
    }

    private func observe(_ result: Result<RESPValue, RedisError>) {
        let now = MonotonicClock.nowMilliseconds()
        switch result {
        case .failure(let error) where error.isOutage:
            if case .circuitOpen = error { return }
            if case .unavailable(let text) = error, text.hasPrefix("READONLY") {
                // A replica since a failover: the next connection asks the Sentinels again.
                connection?.fail("the server is a replica now", nil)
            }
            if breaker.failed(now: now) {
                logger.warning("Redis: \(error); commands fail at once for \(settings.breakerOpenMilliseconds) ms (fleet.breakerOpenSeconds)")
            } else if !loggedOutage {
                logger.warning("Redis: \(error)")
            }
            loggedOutage = true
        default:
            let wasOpen = !breaker.isClosed
            breaker.succeeded()
            if wasOpen { logger.info("Redis answers again") }
            loggedOutage = false
        }
    }

    // MARK: connecting

    private func connect() {
        guard !resolving, connection == nil || connection!.isClosed else { return }
        resolving = true
        RedisConnector(loop: loop, settings: settings).connect { [weak self] result in
            guard let self else { return }
            self.resolving = false
            switch result {
            case .failure(let error): self.failWaiting(error)
            case .success(let connection):
                self.connection = connection
                connection.onClose = { [weak self, weak connection] _ in
                    guard let self, self.connection === connection else { return }
                    self.connection = nil
                }
                let queued = self.waiting
                self.waiting.removeAll()
                for (arguments, completion) in queued { connection.send(arguments, completion: completion) }
            }
        }
    }

    private func failWaiting(_ error: RedisError) {
        let queued = waiting
        waiting.removeAll()
        for (_, completion) in queued { completion(.failure(error)) }
    }
}
