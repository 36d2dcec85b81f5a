import GatewayLogging
import GatewaySystem
import GatewayTLS
import Synchronization

/// Why a connection to an upstream could not even be started.
struct UpstreamOpenError: Error {
    let reason: String
}

/// One configured backend, shared by every loop: where it is, its pool settings, and its health.
public final class UpstreamTarget: Sendable {
    public enum Health: Int, Sendable { case unknown = 0, healthy = 1, unhealthy = 2 }

    public struct Settings: Sendable {
        public var maxConnectionsPerLoop: Int
        public var maxQueuedRequests: Int
        public var connectTimeoutMilliseconds: Int64
        public var responseTimeoutMilliseconds: Int64
        public var idleTimeoutMilliseconds: Int64
        public var healthCheckIntervalMilliseconds: Int64

        public init(maxConnectionsPerLoop: Int, maxQueuedRequests: Int, connectTimeoutMilliseconds: Int64,
                    responseTimeoutMilliseconds: Int64, idleTimeoutMilliseconds: Int64, healthCheckIntervalMilliseconds: Int64) {
            self.maxConnectionsPerLoop = maxConnectionsPerLoop
            self.maxQueuedRequests = maxQueuedRequests
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.responseTimeoutMilliseconds = responseTimeoutMilliseconds
            self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
            self.healthCheckIntervalMilliseconds = healthCheckIntervalMilliseconds
        }
    }

    public let name: String
    public let address: SocketAddress
    /// The request path prefix, e.g. "/api".
    public let path: String
    /// The Host header value sent upstream.
    public let hostHeader: String
    public let settings: Settings
    /// TLS for `https://` upstreams (verification, client certificate, session reuse); nil for http.
    public let tls: TLSClientContext?
    private let healthState = Atomic<Int>(Health.unknown.rawValue)

    public init(name: String, address: SocketAddress, path: String, settings: Settings, tls: TLSClientContext? = nil) {
        self.name = name
        self.address = address
        self.path = path
        self.tls = tls
        if let name = tls?.settings.serverName, !name.isEmpty, !name.contains(":") {
            hostHeader = address.port == 443 ? name : "\(name):\(address.port)"
        } else {
            hostHeader = address.description
        }
        self.settings = settings
    }

    public var health: Health { Health(rawValue: healthState.load(ordering: .relaxed)) ?? .unknown }

    /// Starts a non-blocking connect and, for an `https://` upstream, puts a TLS channel on the socket
    /// (its handshake runs once connected). `connected` tells that the connect finished at once.
    func openSocket() throws(UpstreamOpenError) -> (socket: Socket, connected: Bool, channel: TLSChannel?) {
        let socket: Socket, state: IOResult<Void>
        do { (socket, state) = try Socket.connect(to: address) } catch { throw UpstreamOpenError(reason: error.reason) }
        let connected: Bool
        if case .processed = state { connected = true } else { connected = false }
        guard let tls else { return (socket, connected, nil) }
        do {
            return (socket, connected, try TLSChannel(client: tls, descriptor: socket.fd))
        } catch {
            socket.close()
            throw UpstreamOpenError(reason: error.message)
        }
    }

    /// Records the latest evidence; returns the previous state so callers can log transitions.
    @discardableResult
    public func record(_ health: Health) -> Health {
        Health(rawValue: healthState.exchange(health.rawValue, ordering: .relaxed)) ?? .unknown
    }

    /// Records the health and logs a transition (reachable at info, unreachable at warning).
    public func note(_ health: Health, reason: @autoclosure () -> String, logger: Logger) {
        let previous = record(health)
        guard previous != health else { return }
        let level: Logger.Level = health == .healthy ? .info : .warning
        logger.log(level, "upstream '\(name)' (\(address)) is now \(health == .healthy ? "reachable" : "unreachable"): \(reason())")
    }
}
