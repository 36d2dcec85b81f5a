import GatewayConfig
import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayLogging
import GatewaySessions
import Glibc
import GatewaySystem
import GatewayTLS
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
    private var handlers: [GatewayRequestHandler] = []
    private var expiry: SessionExpiry?
    /// Journaled ordinary sessions not kept across this restart (persistSessions false): their
    /// upstream sessions are closed once the loops run.
    private var sessionsToClose: [SessionSnapshot] = []
    /// Sessions restored from the journal, to be confirmed with their upstreams once the loops run.
    private var restoredSessions: [SessionSnapshot] = []
    private var reconciliation: SessionReconciliation?
    private var targets: [UpstreamTarget] = []
    let services: SessionServices
    /// Each TLS listener's name, its settings and the holder its connections take contexts from.
    private var tlsListeners: [(name: String, settings: TLSServerSettings, holder: TLSContextHolder)] = []
    private var ticketRotation: TicketRotation?
    private var memoryTrimmer: MemoryTrimmer?
    private var counters: [(name: String, counter: ConnectionCounter, statistics: ListenerStatistics)] = []

    /// Binds every listener; throws (having bound nothing) if any cannot be bound.
    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        // Before anything else: a second gateway on this data folder must not even read the journal.
        let dataDirectory: DataDirectory
        do {
            dataDirectory = try DataDirectory(configuration.sessions.dataDirectory)
        } catch {
            throw GatewayStartError(message: error.message)
        }
        group = try EventLoopGroup(count: configuration.effectiveWorkers)
        let loops = group.loops

        let targets = try configuration.upstreams.map { upstream in
            UpstreamTarget(name: upstream.name, address: upstream.address, path: upstream.url.path,
                           settings: Self.poolSettings(upstream, loops: loops.count),
                           tls: try TransportSecurity.upstreamContext(upstream))
        }
        var listenerOptions: [String: ListenerOptions] = [:]
        for listener in configuration.enabledListeners {
            listenerOptions[listener.name] = try TransportSecurity.listenerOptions(listener, limits: configuration.limits)
        }
        self.targets = targets
        var toClose: [SessionSnapshot] = [], restored: [SessionSnapshot] = []
        services = try Self.openSessions(configuration, dataDirectory: dataDirectory, logger: logger, now: loops[0].now,
                                         toClose: &toClose, restored: &restored)
        sessionsToClose = toClose
        restoredSessions = restored
        let accessLogs = try Self.openAccessLogs(configuration.logging, count: loops.count)
        let refusals = RecentRefusals()
        let handlers = loops.map { [services] loop in
            let recorder = LoopRecorder(loopIndex: loop.index, accessLog: accessLogs[loop.index], refusals: refusals)
            let actions = JSONActionHandler(loop: loop, services: services,
                                            pools: targets.map { UpstreamPool(target: $0, loop: loop, logger: logger) },
                                            logger: logger, recorder: recorder)
            return GatewayRequestHandler(apiRoot: configuration.apiRoot, targets: targets, actions: actions)
        }
        self.handlers = handlers

        var bound: [(name: String, sockets: [Socket], address: SocketAddress, config: ListenerConfiguration)] = []
        do {
            for listener in configuration.enabledListeners {
                let (sockets, address) = try ListenerBinder.bind(address: listener.socketAddress, loopCount: loops.count)
                bound.append((listener.name, sockets, address, listener))
            }
        } catch {
            for entry in bound { entry.sockets.forEach { $0.close() } }
            throw error
        }
        let settings = Self.serverSettings(configuration.limits)
        let counted = bound.map { entry in
            (entry: entry, options: listenerOptions[entry.name] ?? ListenerOptions(), counter: ConnectionCounter(limit: entry.config.maxConnections))
        }
        let adminName = configuration.admin?.listener.name
        let source = FiguresSource(handlers: handlers.map(\.actions),
                                   listeners: counted.map { ($0.entry.name, $0.entry.address.description, $0.entry.config.tls != nil, $0.counter, $0.options.statistics) },
                                   targets: targets, services: services, bodyBudget: settings.bodyBudget, refusals: refusals)
        let rates = RateWindow()
        let adminHandlers: [HTTPRequestHandler] = loops.map { loop in
            AdminRequestHandler(loop: loop, source: source, rates: rates, bearerToken: configuration.admin?.bearerToken)
        }
        for (entry, options, counter) in counted {
            listeners += try ListenerBinder.start(name: entry.name, sockets: entry.sockets, loops: loops, counter: counter,
                                                  settings: settings, options: options,
                                                  handlers: entry.name == adminName ? adminHandlers : handlers, logger: logger)
            boundListeners.append((entry.name, entry.address))
            counters.append((entry.name, counter, options.statistics))
            if let holder = options.tls, let tls = entry.config.tls {
                tlsListeners.append((entry.name, tls.server, holder))
            }
        }
        // One rotation for every TLS listener, at a third of the shortest ticket lifetime among them.
        let shortestLifetime = tlsListeners.map(\.settings.ticketLifetimeSeconds).min() ?? 7200
        ticketRotation = TicketRotation(loop: loops[0], rings: tlsListeners.map(\.holder.tickets),
                                        intervalMilliseconds: Int64(max(20, shortestLifetime / 3)) * 1000)
        let statistics = counters
        for handler in handlers {
            handler.listenerStatistics = statistics
            handler.bodyBudget = settings.bodyBudget
            handler.servesHealth = configuration.admin?.healthOnApiListeners ?? true
            handler.servesStatistics = configuration.admin == nil
        }
        healthChecker = HealthChecker(loop: loops[0], targets: targets, logger: logger)
        memoryTrimmer = MemoryTrimmer(loop: loops[0], budget: settings.bodyBudget)
    }

    /// Starts the loops; the first health probes are launched before, while no loop runs yet.
    public func start() {
        healthChecker?.start()
        ticketRotation?.start()
        memoryTrimmer?.start()
        let first = handlers[0].actions
        let expiry = SessionExpiry(handler: first)
        self.expiry = expiry
        expiry.start()
        for session in sessionsToClose {
            let snapshot = first.services.table.find(session.digest)
            precondition(snapshot == nil, "a session not kept was restored")
            first.closeUpstreamSession(of: session, reason: "not kept across restart (sessions.persistSessions is false)")
            services.record(.closed(session.digest))
        }
        sessionsToClose = []
        let reconciliation = SessionReconciliation(handler: first, targets: targets, restored: restoredSessions)
        restoredSessions = []
        self.reconciliation = reconciliation
        reconciliation.start()
        group.start()
    }

    /// Stops accepting, lets requests under way finish (HTTP/2 clients get GOAWAY) for up to
    /// `limits.shutdownGraceSeconds`, then stops the loops.
    public func stop() {
        for listener in listeners {
            listener.loop.execute { listener.shutDown() }
        }
        let deadline = MonotonicClock.nowMilliseconds() + Self.milliseconds(configuration.limits.shutdownGraceSeconds)
        while counters.contains(where: { $0.counter.current > 0 }) && MonotonicClock.nowMilliseconds() < deadline {
            usleep(20_000)
        }
        group.stop()
        services.journal?.flush()
    }

    /// What a start on `configuration` would refuse beyond its JSON, as `check-config` reports it
    /// (as `nginx -t` does): TLS files missing, unreadable, not regular, too large, mismatched or
    /// expired; a data folder that cannot be created or written, or that is loose or a link; a
    /// listen port another process holds.
    public static func startProblems(_ configuration: GatewayConfiguration) -> [String] {
        var found = TransportSecurity.problems(in: configuration)
        found += DataDirectory.problems(configuration.sessions.dataDirectory).map { "sessions.dataDirectory: \($0)" }
        var named = configuration.listeners.enumerated().filter { $0.element.enabled }.map { ("listeners[\($0.offset)] '\($0.element.name)'", $0.element) }
        if let admin = configuration.admin, admin.listener.enabled { named.append(("admin", admin.listener)) }
        for (name, listener) in named where listener.socketAddress.port != 0 {
            do {
                try Socket.checkAvailable(listener.socketAddress)
            } catch {
                found.append("\(name): \(listener.socketAddress) cannot be bound: \(error.reason)\(error.errno == EADDRINUSE ? " (another process listens there; a gateway already running on this configuration would be one)" : "")")
            }
        }
        return found
    }

    /// SIGHUP: reads every TLS listener's certificate and key files again. New handshakes use the new
    /// files; established connections keep theirs. A listener whose files fail keeps its old ones.
    /// Returns one line per listener, for the log.
    public func reloadCertificates() -> [(ok: Bool, message: String)] {
        tlsListeners.map { listener in
            do {
                let context = try TLSServerContext(settings: listener.settings, tickets: listener.holder.tickets)
                listener.holder.replace(with: context)
                return (true, "listener \(listener.name): certificates reloaded")
            } catch {
                return (false, "listener \(listener.name): reload failed, keeping the certificates in use: \(error)")
            }
        }
    }

    /// SIGUSR1 (logrotate's postrotate): each loop opens the access log file again under its name.
    /// A loop whose file cannot be opened keeps writing to the old one and says so.
    public func reopenLogs() {
        let logger = self.logger
        for handler in handlers {
            let recorder = handler.actions.recorder
            handler.actions.loop.execute {
                guard let file = recorder.accessLog, let path = file.path else { return }
                do throws(SystemError) {
                    try file.reopen()
                } catch {
                    logger.error("SIGUSR1: cannot reopen the access log \"\(path)\": \(error.reason); still writing to the old file")
                }
            }
        }
    }

    /// Reads the journal back: permanent sessions always return, ordinary ones when
    /// `sessions.persistSessions` is true; the rest are handed back to be closed upstream.
    static func openSessions(_ configuration: GatewayConfiguration, dataDirectory: DataDirectory, logger: Logger, now: Int64,
                             toClose: inout [SessionSnapshot], restored restoredSessions: inout [SessionSnapshot]) throws -> SessionServices {
        let defaults = configuration.jsonActionApiDefaults
        let rules = configuration.sessions
        let table = SessionTable(limits: SessionServices.limits(defaults, rules), now: now)
        let found: SessionJournal.Loaded
        do {
            found = try SessionJournal.load(directory: dataDirectory.path, defaults: defaults)
        } catch {
            throw GatewayStartError(message: error.message)
        }
        for warning in found.warnings { logger.warning("session journal: \(warning)") }
        let upstreamNames = Set(configuration.upstreams.map(\.name))
        var restored = 0, dropped = 0
        for session in found.sessions {
            if !upstreamNames.contains(session.upstream) {
                dropped += 1
                logger.warning("session \(session.digest.fingerprint) of '\(session.username)' dropped: upstream '\(session.upstream)' is no longer configured")
            } else if session.settings.permanentSession || rules.persistSessions {
                table.restore(session, now: now)
                restoredSessions.append(session)
                restored += 1
            } else {
                toClose.append(session)
            }
        }
        let journal: SessionJournal
        do {
            journal = try SessionJournal(directory: dataDirectory.path, recordsInFile: found.records,
                                         compactAfterRecords: rules.journalCompactionRecords,
                                         source: table)
        } catch {
            throw GatewayStartError(message: "cannot open the session journal in \"\(dataDirectory.path)\": \(error)")
        }
        journal.compactIfMostlyEnded(liveSessions: table.count)
        var summary = "session journal \(journal.path): \(found.records) records, \(found.sessions.count) sessions open; \(restored) restored"
        if !toClose.isEmpty { summary += ", \(toClose.count) ordinary sessions closed (sessions.persistSessions is false)" }
        if dropped > 0 { summary += ", \(dropped) dropped (upstream no longer configured)" }
        logger.info(summary)
        return SessionServices(table: table, journal: journal, dataDirectory: dataDirectory, defaults: defaults, rules: rules, logger: logger)
    }

    /// One access log per loop (each loop writes its own lines to its own descriptor), or none.
    static func openAccessLogs(_ logging: LoggingConfiguration, count: Int) throws -> [LogFile?] {
        guard logging.accessLog else { return Array(repeating: nil, count: count) }
        guard !logging.accessLogFile.isEmpty else { return (0..<count).map { _ in LogFile() } }
        do throws(SystemError) {
            var files: [LogFile?] = []
            for _ in 0..<count { files.append(try LogFile(path: logging.accessLogFile)) }
            return files
        } catch {
            throw GatewayStartError(message: "logging.accessLogFile: cannot open \"\(logging.accessLogFile)\": \(error.reason)")
        }
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
            sendTimeoutMilliseconds: milliseconds(limits.sendTimeoutSeconds),
            bodyBudget: BodyBudget(limit: limits.maxBufferedBodyBytes))
    }

    static func milliseconds(_ seconds: Double) -> Int64 { max(1, Int64((seconds * 1000).rounded())) }
}

/// Why the gateway could not start, worded for the operator.
public struct GatewayStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
