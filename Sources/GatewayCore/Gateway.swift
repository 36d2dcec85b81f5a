import GatewayConfig
import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayLogging
import GatewaySystem
import GatewayUpstreams

/// The running gateway: one event loop per worker, each with its own listener sockets
/// (SO_REUSEPORT), its own upstream pools and its own request handler, so a request never
/// leaves the loop that accepted it. Only the upstream health flags and the per-listener
/// connection counters are shared, and both are atomics.
public final class Gateway {
    public let configuration: GatewayConfiguration
    /// Each enabled listener's name and the address it actually bound (port 0 resolved).
    public private(set) var boundListeners: [(name: String, address: SocketAddress)] = []
    private let group: EventLoopGroup
    private let logger: Logger
    private var listeners: [Listener] = []
    private var healthChecker: HealthChecker?

    /// Binds every listener; throws (having bound nothing) if any cannot be bound.
    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        group = try EventLoopGroup(count: configuration.effectiveWorkers)
        let loops = group.loops

        let targets = configuration.upstreams.map { upstream in
            UpstreamTarget(name: upstream.name, address: upstream.address, path: upstream.url.path,
                           settings: Self.poolSettings(upstream, loops: loops.count))
        }
        let handlers = loops.map { loop in
            GatewayRequestHandler(loop: loop, apiRoot: configuration.apiRoot,
                                  pools: targets.map { UpstreamPool(target: $0, loop: loop, logger: logger) },
                                  logger: logger, accessLog: configuration.logging.accessLog)
        }

        var bound: [(name: String, sockets: [Socket], address: SocketAddress, config: ListenerConfiguration)] = []
        do {
            for listener in configuration.listeners where listener.enabled {
                let (sockets, address) = try ListenerBinder.bind(address: listener.socketAddress, loopCount: loops.count)
                bound.append((listener.name, sockets, address, listener))
            }
        } catch {
            for entry in bound { entry.sockets.forEach { $0.close() } }
            throw error
        }
        let settings = Self.serverSettings(configuration.limits)
        for entry in bound {
            listeners += try ListenerBinder.start(name: entry.name, sockets: entry.sockets, loops: loops,
                                                  counter: ConnectionCounter(limit: entry.config.maxConnections),
                                                  settings: settings, handlers: handlers, logger: logger)
            boundListeners.append((entry.name, entry.address))
        }
        healthChecker = HealthChecker(loop: loops[0], targets: targets, logger: logger)
    }

    /// Starts the loops; the first health probes are launched before, while no loop runs yet.
    public func start() {
        healthChecker?.start()
        group.start()
    }

    public func stop() {
        group.stop()
    }

    /// Pool limits are per loop; the configured totals are split evenly (at least one each).
    static func poolSettings(_ upstream: UpstreamConfiguration, loops: Int) -> UpstreamTarget.Settings {
        UpstreamTarget.Settings(
            maxConnectionsPerLoop: max(1, upstream.maxConnections / loops),
            maxQueuedRequests: upstream.maxQueuedRequests,
            connectTimeoutMilliseconds: milliseconds(upstream.connectTimeoutSeconds),
            responseTimeoutMilliseconds: milliseconds(upstream.responseTimeoutSeconds),
            idleTimeoutMilliseconds: milliseconds(upstream.idleTimeoutSeconds),
            healthCheckIntervalMilliseconds: milliseconds(upstream.healthCheckIntervalSeconds))
    }

    static func serverSettings(_ limits: LimitsConfiguration) -> HTTPServerSettings {
        HTTPServerSettings(
            limits: HTTP1Limits(maxHeaderBytes: limits.maxHeaderBytes, maxHeaderCount: limits.maxHeaderCount, maxBodyBytes: limits.maxBodyBytes),
            headerTimeoutMilliseconds: milliseconds(limits.headerTimeoutSeconds),
            bodyTimeoutMilliseconds: milliseconds(limits.bodyTimeoutSeconds),
            keepAliveTimeoutMilliseconds: milliseconds(limits.keepAliveTimeoutSeconds),
            sendTimeoutMilliseconds: milliseconds(limits.sendTimeoutSeconds))
    }

    static func milliseconds(_ seconds: Double) -> Int64 { max(1, Int64((seconds * 1000).rounded())) }
}
