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
        public var health = HealthPolicy()

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

    /// When the active checks and the requests themselves decide an upstream is up or down.
    public struct HealthPolicy: Sendable {
        /// The JSON action each check POSTs; any FairCom envelope answered with HTTP 200 passes.
        public var checkBody = Array(#"{"api":"admin","action":"pingSession"}"#.utf8)
        /// A check not answered (connect, TLS and answer) within this fails. Default 2 s.
        public var checkTimeoutMilliseconds: Int64 = 2000
        /// Consecutive passed checks that bring a down upstream back. Default 2.
        public var rise = 2
        /// Consecutive failed checks that take an upstream down. Default 3.
        public var fall = 3
        /// Consecutive failed requests (connect failures, timeouts, 5xx) that eject it. Default 5; 0 never.
        public var ejectAfterFailures = 5
        /// How long an ejected upstream takes no logins and no requests before it is tried again. Default 30 s.
        public var ejectMilliseconds: Int64 = 30_000
        /// Its share of new logins against the other upstreams'. Default 1.
        public var weight = 1
        public init() {}
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
    /// What the checks say, read per request without a lock.
    private let healthState = Atomic<Int>(Health.unknown.rawValue)
    /// Monotonic milliseconds until which the requests' failures keep it ejected (0: not ejected).
    private let ejectedUntil = Atomic<Int64>(0)
    /// Consecutive failed requests, across every loop.
    private let requestFailures = Atomic<Int>(0)
    /// The checks' run of passes (positive) or failures (negative); touched by the checker's loop only.
    private let checkRun = Atomic<Int>(0)

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

    /// Down while ejected, else what the checks say (unknown until the first one answers).
    public var health: Health {
        let until = ejectedUntil.load(ordering: .relaxed)
        if until != 0 && MonotonicClock.nowMilliseconds() < until { return .unhealthy }
        return Health(rawValue: healthState.load(ordering: .relaxed)) ?? .unknown
    }

    /// Whether request failures have it ejected now.
    public var isEjected: Bool {
        let until = ejectedUntil.load(ordering: .relaxed)
        return until != 0 && MonotonicClock.nowMilliseconds() < until
    }

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

    /// One active check's verdict. The first ever decides at once; after that `rise` passes in a
    /// row bring it up and `fall` failures in a row take it down. Transitions are logged.
    public func recordCheck(passed: Bool, reason: @autoclosure () -> String, logger: Logger) {
        let run = checkRun.load(ordering: .relaxed)
        let next = passed ? max(run, 0) + 1 : min(run, 0) - 1
        checkRun.store(next, ordering: .relaxed)
        let current = Health(rawValue: healthState.load(ordering: .relaxed)) ?? .unknown
        let policy = settings.health
        let verdict: Health
        switch current {
        case .unknown: verdict = passed ? .healthy : .unhealthy
        case .healthy: verdict = next <= -policy.fall ? .unhealthy : .healthy
        case .unhealthy: verdict = next >= policy.rise ? .healthy : .unhealthy
        }
        guard verdict != current else { return }
        healthState.store(verdict.rawValue, ordering: .relaxed)
        if verdict == .healthy {
            requestFailures.store(0, ordering: .relaxed)
            ejectedUntil.store(0, ordering: .relaxed)
            logger.info("upstream '\(name)' (\(address)) is up: \(reason())")
        } else {
            logger.warning("upstream '\(name)' (\(address)) is down: \(reason())")
        }
    }

    /// A request's outcome at this upstream. `failed`: it could not connect, timed out or answered
    /// 5xx. `ejectAfterFailures` in a row eject it for `ejectMilliseconds`. A success costs one
    /// relaxed load while there is no run of failures to reset.
    public func recordRequest(failed: Bool, reason: @autoclosure () -> String, logger: Logger) {
        guard failed else {
            if requestFailures.load(ordering: .relaxed) != 0 { requestFailures.store(0, ordering: .relaxed) }
            return
        }
        let policy = settings.health
        let failures = requestFailures.wrappingAdd(1, ordering: .relaxed).newValue
        guard policy.ejectAfterFailures > 0, failures >= policy.ejectAfterFailures, !isEjected else { return }
        requestFailures.store(0, ordering: .relaxed)
        ejectedUntil.store(MonotonicClock.nowMilliseconds() + policy.ejectMilliseconds, ordering: .relaxed)
        logger.warning("upstream '\(name)' (\(address)) ejected for \(policy.ejectMilliseconds / 1000) s after \(failures) failed requests in a row (upstreams[].ejectAfterFailures): \(reason())")
    }
}
