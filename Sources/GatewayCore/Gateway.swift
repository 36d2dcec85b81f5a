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
import Synchronization

/// The running gateway: one event loop per worker, each with its own listener sockets
/// (SO_REUSEPORT), its own upstream pools and its own request handler, so a request never
/// leaves the loop that accepted it. Only the upstream health flags and the per-listener
/// connection counters are shared, and both are atomics.
public final class Gateway {
    /// The configuration in force: the one started with, or the last reload applied.
    public internal(set) var configuration: GatewayConfiguration
    let group: EventLoopGroup
    let logger: Logger
    /// Each bound listener, API and admin, in configuration order.
    var active: [ActiveListener] = []
    /// Listeners a reload removed or replaced: their sockets are closed, but their connections
    /// still get GOAWAY (or are cut) at shutdown.
    var retired: [Listener] { retiredListeners.flatMap(\.listeners) }
    /// Each retired listener's per-loop Listeners and its connection counter; dropped at the next
    /// reload once its last connection has closed, so many reloads do not pile them up.
    var retiredListeners: [(listeners: [Listener], counter: ConnectionCounter)] = []
    var healthChecker: HealthChecker?
    var handlers: [GatewayRequestHandler] = []
    var adminHandlers: [AdminRequestHandler] = []
    private var expiry: SessionExpiry?
    /// Journaled ordinary sessions not kept across this restart (persistSessions false): their
    /// upstream sessions are closed once the loops run.
    private var sessionsToClose: [SessionSnapshot] = []
    /// Sessions restored from the journal, to be confirmed with their upstreams once the loops run.
    private var restoredSessions: [SessionSnapshot] = []
    private var reconciliation: SessionReconciliation?
    var targets: [UpstreamTarget] = []
    let services: SessionServices
    var ticketRotations: [TicketRotation] = []
    private var memoryTrimmer: MemoryTrimmer?
    private var fleetMaintenance: FleetMaintenance?
    private var fleetJoined = false
    let bodyBudget: BodyBudget
    /// The admin token in force, to tell a reload whether it changed (its file may change alone).
    var adminBearerToken: String?
    let figures: FiguresSource
    let reloads = ReloadCounters()
    /// Connections still open on listeners a reload retired.
    var retiredConnections: Int { retiredListeners.reduce(0) { $0 + $1.counter.current } }

    /// Each enabled listener's name and the address it actually bound (port 0 resolved).
    public var boundListeners: [(name: String, address: SocketAddress)] { active.map { ($0.config.name, $0.address) } }

    /// Binds every listener; throws (having bound nothing) if any cannot be bound.
    public init(configuration: GatewayConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        // Before anything else: a second gateway on this data folder must not even read the journal.
        // In fleet mode there is no journal: Redis holds the sessions (see README, fleet mode).
        var dataDirectory: DataDirectory?
        let fleet = try configuration.fleet.map { try Fleet(configuration: $0, logger: logger) }
        if fleet == nil {
            do {
                dataDirectory = try DataDirectory(configuration.sessions.dataDirectory, handedTo: Self.heir(of: configuration)?.uid)
            } catch {
                throw GatewayStartError(message: error.message)
            }
        }
        group = try EventLoopGroup(count: configuration.effectiveWorkers)
        let loops = group.loops

        let targets = try Self.makeTargets(configuration, loops: loops.count)
        var listenerOptions: [String: ListenerOptions] = [:]
        for listener in configuration.enabledListeners {
            listenerOptions[listener.name] = try TransportSecurity.listenerOptions(listener, limits: configuration.limits)
        }
        self.targets = targets
        var toClose: [SessionSnapshot] = [], restored: [SessionSnapshot] = []
        if let dataDirectory {
            services = try Self.openSessions(configuration, dataDirectory: dataDirectory, logger: logger, now: loops[0].now,
                                             toClose: &toClose, restored: &restored)
        } else {
            let defaults = configuration.jsonActionApiDefaults, rules = configuration.sessions
            services = SessionServices(table: SessionTable(limits: SessionServices.limits(defaults, rules), now: loops[0].now), journal: nil,
                                       dataDirectory: nil, defaults: defaults, rules: rules, logger: logger)
        }
        sessionsToClose = toClose
        restoredSessions = restored
        let accessLogs = try Self.openAccessLogs(configuration.logging, count: loops.count)
        let refusals = RecentRefusals()
        let handlers = loops.map { [services] loop in
            let recorder = LoopRecorder(loopIndex: loop.index, accessLog: accessLogs[loop.index], refusals: refusals)
            let actions = JSONActionHandler(loop: loop, services: services,
                                            pools: targets.map { UpstreamPool(target: $0, loop: loop, logger: logger) },
                                            logger: logger, recorder: recorder)
            actions.fleetStore = fleet.map { FleetStore(fleet: $0, loop: loop, logger: logger) }
            return GatewayRequestHandler(apiRoot: configuration.apiRoot, targets: targets, actions: actions)
        }
        self.handlers = handlers
        // Before any port is bound: a gateway that does not match its fleet does not start.
        if let fleet { fleetJoined = try FleetJoin.atStart(fleet, ours: handlers[0].actions.fleetLimits, logger: logger) }
        let settings = Self.serverSettings(configuration.limits)
        bodyBudget = settings.bodyBudget
        figures = FiguresSource(handlers: handlers.map(\.actions), targets: targets, services: services,
                                bodyBudget: settings.bodyBudget, refusals: refusals, reloads: reloads)
        let rates = RateWindow()
        var bearer: String?
        switch configuration.admin?.resolvedBearerToken() {
        case .failure(let problem)?: throw GatewayStartError(message: problem.message)
        case .success(let token)?: bearer = token
        case nil: bearer = nil
        }
        adminBearerToken = bearer
        adminHandlers = loops.map { [figures] loop in
            AdminRequestHandler(loop: loop, source: figures, rates: rates, bearerToken: bearer)
        }

        var bound: [(config: ListenerConfiguration, sockets: [Socket], address: SocketAddress)] = []
        do {
            for listener in configuration.enabledListeners {
                let (sockets, address) = try ListenerBinder.bind(address: listener.socketAddress, loopCount: loops.count)
                bound.append((listener, sockets, address))
            }
        } catch {
            for entry in bound { entry.sockets.forEach { $0.close() } }
            throw error
        }
        for entry in bound {
            active.append(try startListener(entry.config, sockets: entry.sockets, address: entry.address,
                                            options: listenerOptions[entry.config.name] ?? ListenerOptions(),
                                            settings: settings, loopsRunning: false))
        }
        publishListeners()
        for handler in handlers {
            handler.bodyBudget = settings.bodyBudget
            handler.servesHealth = configuration.admin?.healthOnApiListeners ?? true
            handler.servesStatistics = configuration.admin == nil
        }
        healthChecker = HealthChecker(loop: loops[0], targets: targets, logger: logger)
        memoryTrimmer = MemoryTrimmer(loop: loops[0])
    }

    static func makeTargets(_ configuration: GatewayConfiguration, loops: Int, keeping current: [(UpstreamConfiguration, UpstreamTarget)] = []) throws(TLSError) -> [UpstreamTarget] {
        var targets: [UpstreamTarget] = []
        for upstream in configuration.upstreams {
            if let kept = current.first(where: { $0.0 == upstream })?.1 {
                targets.append(kept)
                continue
            }
            targets.append(UpstreamTarget(name: upstream.name, address: upstream.address, path: upstream.url.path,
                                          settings: Self.poolSettings(upstream, loops: loops),
                                          tls: try TransportSecurity.upstreamContext(upstream)))
        }
        return targets
    }

    /// Starts the loops; the first health probes are launched before, while no loop runs yet.
    public func start() {
        healthChecker?.start()
        for rotation in ticketRotations { rotation.start() }
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
        if let store = first.fleetStore {
            let maintenance = FleetMaintenance(handler: first, store: store)
            fleetMaintenance = maintenance
            maintenance.start(joined: fleetJoined)
        }
        let reconciliation = SessionReconciliation(handler: first, targets: targets, restored: restoredSessions)
        restoredSessions = []
        self.reconciliation = reconciliation
        reconciliation.start()
        group.start()
    }

    /// Stops accepting, lets requests under way finish (HTTP/2 clients get GOAWAY) for up to
    /// `limits.shutdownGraceSeconds`, then stops the loops.
    public func stop() {
        for listener in active.flatMap(\.listeners) + retired {
            listener.loop.execute { listener.shutDown() }
        }
        let deadline = MonotonicClock.nowMilliseconds() + Self.milliseconds(configuration.limits.shutdownGraceSeconds)
        func open() -> Int { active.reduce(0) { $0 + $1.counter.current } + retiredConnections }
        while open() > 0 && MonotonicClock.nowMilliseconds() < deadline {
            usleep(20_000)
        }
        if open() > 0 {
            let cut = Mutex((connections: 0, requests: 0))
            let everyListener = active.flatMap(\.listeners) + retired
            onEveryLoop { loop in
                for listener in everyListener where listener.loop === loop {
                    let (connections, requests) = listener.cutAll()
                    cut.withLock { $0.connections += connections; $0.requests += requests }
                }
            }
            let (connections, requests) = cut.withLock { $0 }
            logger.warning("shutdown: the grace period of \(configuration.limits.shutdownGraceSeconds) s is over; cut \(requests) request\(requests == 1 ? "" : "s") on \(connections) connection\(connections == 1 ? "" : "s") (HTTP/1.1: 503, HTTP/2: RST_STREAM)")
            // A moment for the 503s and resets to go out.
            let flushed = MonotonicClock.nowMilliseconds() + 1000
            while open() > 0 && MonotonicClock.nowMilliseconds() < flushed { usleep(10_000) }
        }
        group.stop()
        services.journal?.flush()
    }

    /// The access log opened as a start or a reload opens it (nginx -t opens its logs too): a FIFO
    /// with no reader, a folder that is not there.
    static func accessLogProblems(_ logging: LoggingConfiguration) -> [String] {
        guard logging.accessLog && !logging.accessLogFile.isEmpty, let problem = LogFile.problem(logging.accessLogFile) else { return [] }
        return ["logging.accessLogFile: cannot open \"\(logging.accessLogFile)\": \(problem)"]
    }

    /// The account a gateway started as root switches to once its ports are bound (`user`).
    static func heir(of configuration: GatewayConfiguration) -> AccountSwitch.Account? {
        guard !configuration.user.isEmpty, AccountSwitch.isRoot else { return nil }
        return AccountSwitch.lookUp(configuration.user)
    }

    /// What `user` would refuse: an account that does not exist, or a pid file it could not write
    /// (the pid file is written after the switch, and removed by that account at the stop).
    public static func accountProblems(_ configuration: GatewayConfiguration) -> [String] {
        guard !configuration.user.isEmpty else { return [] }
        guard let account = AccountSwitch.lookUp(configuration.user) else { return ["user: no account \"\(configuration.user)\" on this machine"] }
        guard AccountSwitch.isRoot else { return [] }
        var found: [String] = []
        let accessLog = configuration.logging.accessLogFile
        if !accessLog.isEmpty {
            if let problem = AccountSwitch.foreignLinkProblem(accessLog) {
                found.append("logging.accessLogFile: \(problem)")
            } else if (try? FileSystem.status(accessLog))??.kind == .regular, let problem = AccountSwitch.handOverProblem(accessLog, to: account) {
                found.append("logging.accessLogFile: \(problem)")
            }
        }
        if configuration.fleet == nil {
            // What the start hands over, checked the same way (a link the account planted is refused before any open).
            let data = configuration.sessions.dataDirectory
            for name in FileSystem.entries(of: data) {
                if let problem = AccountSwitch.handOverProblem(data + "/" + name, to: account) { found.append("sessions.dataDirectory: \(problem)") }
            }
        }
        return found + pidFileProblems(configuration, account)
    }

    private static func pidFileProblems(_ configuration: GatewayConfiguration, _ account: AccountSwitch.Account) -> [String] {
        guard !configuration.pidFile.isEmpty else { return [] }
        let path = configuration.pidFile
        let folder = FileSystem.folder(of: path)
        return AccountSwitch.writeProblem(account, directory: folder).map {
            ["pidFile: \(path) is written and removed by user \"\(account.name)\" after the switch, but \($0); give it a folder that account may write (systemd: RuntimeDirectory=)"]
        } ?? []
    }

    /// What a start on `configuration` would refuse beyond its JSON, as `check-config` reports it
    /// (as `nginx -t` does): TLS files missing, unreadable, not regular, too large, mismatched or
    /// expired; a data folder that cannot be created or written, or that is loose or a link; a
    /// listen port another process holds.
    public static func startProblems(_ configuration: GatewayConfiguration) -> [String] {
        var found = TransportSecurity.problems(in: configuration)
        if case .failure(let problem)? = configuration.admin?.resolvedBearerToken() { found.append(problem.message) }
        found += accountProblems(configuration)
        found += accessLogProblems(configuration.logging)
        if configuration.fleet == nil {
            let heir = heir(of: configuration)?.uid
            found += DataDirectory.problems(configuration.sessions.dataDirectory, handedTo: heir).map { "sessions.dataDirectory: \($0)" }
        }
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
    public func reloadCertificates(only names: Set<String>? = nil) -> [(ok: Bool, message: String)] {
        active.compactMap { listener -> (Bool, String)? in
            guard let holder = listener.options.tls, let tls = listener.config.tls, names?.contains(listener.config.name) ?? true else { return nil }
            do {
                let context = try TLSServerContext(settings: tls.server, tickets: holder.tickets)
                holder.replace(with: context)
                return (true, "listener \(listener.config.name): certificates reloaded")
            } catch {
                return (false, "listener \(listener.config.name): reload failed, keeping the certificates in use: \(error)")
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
        var settings = UpstreamTarget.Settings(
            maxConnectionsPerLoop: max(1, upstream.maxConnections / loops),
            maxQueuedRequests: upstream.maxQueuedRequests,
            connectTimeoutMilliseconds: milliseconds(upstream.connectTimeoutSeconds),
            responseTimeoutMilliseconds: milliseconds(upstream.responseTimeoutSeconds),
            idleTimeoutMilliseconds: milliseconds(upstream.idleTimeoutSeconds),
            healthCheckIntervalMilliseconds: milliseconds(upstream.healthCheckIntervalSeconds))
        settings.health.checkBody = Array(#"{"api":"admin","action":"\#(upstream.healthCheckAction)"}"#.utf8)
        settings.health.checkTimeoutMilliseconds = milliseconds(upstream.healthCheckTimeoutSeconds)
        settings.health.rise = upstream.healthCheckRise
        settings.health.fall = upstream.healthCheckFall
        settings.health.ejectAfterFailures = upstream.ejectAfterFailures
        settings.health.ejectMilliseconds = milliseconds(upstream.ejectSeconds)
        settings.health.weight = upstream.weight
        return settings
    }

    static func serverSettings(_ limits: LimitsConfiguration, budget: BodyBudget? = nil) -> HTTPServerSettings {
        HTTPServerSettings(
            limits: HTTP1Limits(maxHeaderBytes: limits.maxHeaderBytes, maxHeaderCount: limits.maxHeaderCount, maxBodyBytes: limits.maxBodyBytes),
            headerTimeoutMilliseconds: milliseconds(limits.headerTimeoutSeconds),
            bodyTimeoutMilliseconds: milliseconds(limits.bodyTimeoutSeconds),
            keepAliveTimeoutMilliseconds: milliseconds(limits.keepAliveTimeoutSeconds),
            sendTimeoutMilliseconds: milliseconds(limits.sendTimeoutSeconds),
            bodyBudget: budget ?? BodyBudget(limit: limits.maxBufferedBodyBytes))
    }

    static func milliseconds(_ seconds: Double) -> Int64 { max(1, Int64((seconds * 1000).rounded())) }
}

/// Why the gateway could not start, worded for the operator.
public struct GatewayStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
