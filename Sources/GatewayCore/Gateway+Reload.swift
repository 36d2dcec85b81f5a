import GatewayConfig
import Glibc
import GatewayEventLoop
import GatewayHTTPServer
import GatewayLogging
import GatewaySystem
import GatewayTLS
import GatewayUpstreams

/// What a reload did, line by line, for the log.
public struct ReloadOutcome: Sendable {
    public var applied: Bool
    /// The problems that refused it (as check-config prints them), or what changed.
    public var lines: [String]
}

/// SIGHUP and `gateway reload`: gateway.json read again and applied while everything runs.
///
/// In two phases. First everything that can fail is done aside: the file read and checked as
/// check-config checks it, TLS files loaded, upstream TLS contexts made, access log files opened,
/// new listen sockets bound. Any problem refuses the whole reload and nothing changes. Then the
/// new settings are handed to each loop: sessions, established connections and requests under
/// way go on as they were; new connections, logins and requests meet the new settings.
extension Gateway {
    public func reload(from path: String) -> ReloadOutcome {
        let loaded: GatewayConfiguration
        do {
            loaded = try GatewayConfiguration.load(path: path)
        } catch {
            return refuse(["\(path): \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")"] + error.problems.map { "  \($0)" })
        }
        var problems = reloadProblems(loaded)
        var prepared: Prepared?
        if problems.isEmpty {
            do throws(ReloadProblem) {
                prepared = try prepare(loaded)
            } catch {
                problems.append(error.message)
            }
        }
        guard let prepared, problems.isEmpty else {
            return refuse(["\(path): \(problems.count) problem\(problems.count == 1 ? "" : "s")"] + problems.map { "  \($0)" })
        }
        let changes = apply(loaded, prepared)
        reloads.applied.wrappingAdd(1, ordering: .relaxed)
        return ReloadOutcome(applied: true, lines: changes)
    }

    private func refuse(_ lines: [String]) -> ReloadOutcome {
        reloads.refused.wrappingAdd(1, ordering: .relaxed)
        return ReloadOutcome(applied: false, lines: lines + ["the running configuration stays in force"])
    }

    private struct ReloadProblem: Error {
        let message: String
    }

    /// What a start would refuse, less what this running gateway itself holds (its own ports), plus
    /// what only a restart can change.
    func reloadProblems(_ new: GatewayConfiguration) -> [String] {
        var found = TransportSecurity.problems(in: new)
        if case .failure(let problem)? = new.admin?.resolvedBearerToken() { found.append(problem.message) }
        if new.fleet != configuration.fleet {
            found.append(configuration.fleet == nil || new.fleet == nil
                ? "fleet: \(new.fleet == nil ? "leaving" : "joining") a fleet takes a restart (sessions move between this gateway's journal and Redis)"
                : "fleet: the fleet section differs from the running one; changing how the fleet is reached takes a restart")
        }
        if new.fleet == nil && new.sessions.dataDirectory != configuration.sessions.dataDirectory {
            found.append("sessions.dataDirectory: \"\(new.sessions.dataDirectory)\" differs from the running \"\(configuration.sessions.dataDirectory)\"; moving the session journal needs a restart")
        }
        found += Self.accessLogProblems(new.logging)
        for listener in new.enabledListeners where listener.socketAddress.port != 0 && !ownsPort(listener.port) {
            do {
                try Socket.checkAvailable(listener.socketAddress)
            } catch {
                found.append("listener '\(listener.name)': \(listener.socketAddress) cannot be bound: \(error.reason)\(error.errno == EADDRINUSE ? " (another process listens there)" : "")")
            }
        }
        return found
    }

    /// Whether one of this gateway's own listeners holds `port` (on any address, as bound: a
    /// listener configured with port 0 holds the port it was given).
    func ownsPort(_ port: Int) -> Bool { active.contains { $0.address.port == port } }

    /// Everything the new configuration needs that could fail, made before anything changes.
    struct Prepared {
        var targets: [UpstreamTarget]
        var accessLogs: [LogFile?]
        /// New listeners on addresses no running listener holds, bound already.
        var bound: [String: (sockets: [Socket], address: SocketAddress, options: ListenerOptions)]
        /// New listeners replacing a running one on the same address: bound once it has closed.
        var rebinding: [String: ListenerOptions]
    }

    private func prepare(_ new: GatewayConfiguration) throws(ReloadProblem) -> Prepared {
        let current = zip(configuration.upstreams, targets).map { ($0, $1) }
        let newTargets: [UpstreamTarget]
        do {
            newTargets = try Self.makeTargets(new, loops: group.loops.count, keeping: current)
        } catch {
            throw ReloadProblem(message: error.message)
        }
        let logs: [LogFile?]
        do {
            logs = try Self.openAccessLogs(new.logging, count: group.loops.count)
        } catch {
            throw ReloadProblem(message: "\(error)")
        }
        var prepared = Prepared(targets: newTargets, accessLogs: logs, bound: [:], rebinding: [:])
        do {
            for listener in new.enabledListeners where !active.contains(where: { $0.config == listener }) {
                let options = try TransportSecurity.listenerOptions(listener, limits: new.limits)
                if listener.socketAddress.port != 0 && ownsPort(listener.port) {
                    prepared.rebinding[listener.name] = options
                } else {
                    let (sockets, address) = try ListenerBinder.bind(address: listener.socketAddress, loopCount: group.loops.count)
                    prepared.bound[listener.name] = (sockets, address, options)
                }
            }
        } catch let error as TLSError {
            closeBound(prepared)
            throw ReloadProblem(message: error.message)
        } catch let error as SystemError {
            closeBound(prepared)
            throw ReloadProblem(message: "a new listener cannot be bound: \(error)")
        } catch {
            closeBound(prepared)
            throw ReloadProblem(message: "\(error)")
        }
        return prepared
    }

    private func closeBound(_ prepared: Prepared) {
        for entry in prepared.bound.values { entry.sockets.forEach { $0.close() } }
    }

    /// Hands the new settings to every loop. Returns what changed, one line each.
    private func apply(_ new: GatewayConfiguration, _ prepared: Prepared) -> [String] {
        let old = configuration
        var changes: [String] = []
        configuration = new
        if new.workers != old.workers { changes.append("workers: \(new.workers) takes a restart; \(group.loops.count) event loops keep running") }
        if new.sessions.journalCompactionRecords != old.sessions.journalCompactionRecords {
            changes.append("sessions.journalCompactionRecords takes a restart; \(old.sessions.journalCompactionRecords) stays in force")
        }
        if new.logging.level != old.logging.level {
            logger.level = Logger.Level(name: new.logging.level) ?? .info
            changes.append("logging.level: \(old.logging.level) → \(new.logging.level)")
        }

        // Limits: new connections get them; the body budget is one for every listener.
        let settings = Self.serverSettings(new.limits, budget: bodyBudget)
        bodyBudget.setLimit(new.limits.maxBufferedBodyBytes)
        if new.limits != old.limits { changes.append("limits: new connections and requests meet the new limits") }

        // Session rules: the next login meets them; open sessions keep their own settings.
        services.reconfigure(defaults: new.jsonActionApiDefaults, rules: new.sessions)
        if new.jsonActionApiDefaults != old.jsonActionApiDefaults { changes.append("jsonActionApiDefaults: applied to new logins") }
        if new.sessions != old.sessions { changes.append("sessions: applied to new logins") }

        // Upstreams: kept ones keep their pools; changed and removed ones finish what they began.
        let newTargets = prepared.targets
        let targetsChanged = newTargets.count != targets.count || zip(newTargets, targets).contains { $0 !== $1 }
        let trusted = new.sessions.trustedProxies, apiRoot = new.apiRoot, accessLogs = prepared.accessLogs
        let servesHealth = new.admin?.healthOnApiListeners ?? true, servesStatistics = new.admin == nil
        onEveryLoop { [handlers] loop in
            let handler = handlers[loop.index]
            handler.actions.trustedProxies = trusted
            handler.apiRoot = apiRoot
            handler.servesHealth = servesHealth
            handler.servesStatistics = servesStatistics
            handler.actions.recorder.accessLog = accessLogs[loop.index]
            if targetsChanged {
                handler.actions.replaceUpstreams(newTargets)
                handler.targets = newTargets
            }
        }
        if targetsChanged {
            let previous = healthChecker
            let checker = HealthChecker(loop: group.loops[0], targets: newTargets, logger: logger)
            healthChecker = checker
            onLoop(0) {
                previous?.stop()
                checker.start()
            }
            let names = Set(newTargets.map(\.name)), oldNames = Set(targets.map(\.name))
            for name in names.subtracting(oldNames).sorted() { changes.append("upstream \(name): added") }
            for name in oldNames.subtracting(names).sorted() { changes.append("upstream \(name): removed; its sessions end at their next request") }
            for (target, kept) in zip(newTargets, newTargets.map { t in targets.contains { $0 === t } }) where !kept && oldNames.contains(target.name) {
                changes.append("upstream \(target.name): changed; new requests use the new settings")
            }
            targets = newTargets
            figures.setTargets(newTargets)
        }
        let bearer = try? new.admin?.resolvedBearerToken().get()
        onEveryLoop { [adminHandlers] loop in adminHandlers[loop.index].setBearerToken(bearer) }
        if bearer != adminBearerToken {
            changes.append("admin: \(bearer == nil ? "the bearer token is no longer required" : adminBearerToken == nil ? "a bearer token is now required" : "the bearer token changed")")
            adminBearerToken = bearer
        }
        if let admin = new.admin, let before = old.admin, admin.healthOnApiListeners != before.healthOnApiListeners {
            changes.append("admin.healthOnApiListeners: \(before.healthOnApiListeners) → \(admin.healthOnApiListeners)")
        }
        if new.logging.accessLog != old.logging.accessLog || new.logging.accessLogFile != old.logging.accessLogFile {
            let target = new.logging.accessLogFile.isEmpty ? "standard error" : new.logging.accessLogFile
            changes.append("logging: the access log is \(new.logging.accessLog ? "on, to \(target)" : "off")")
        }
        if new.apiRoot != old.apiRoot { changes.append("apiRoot: \(old.apiRoot) → \(new.apiRoot)") }

        if let store = handlers.first?.actions.fleetStore,
           new.jsonActionApiDefaults.maxJsonApiSessions != old.jsonActionApiDefaults.maxJsonApiSessions
            || new.jsonActionApiDefaults.maxJsonApiSessionsPerIpAddress != old.jsonActionApiDefaults.maxJsonApiSessionsPerIpAddress
            || new.jsonActionApiDefaults.maxJsonApiSessionsPerUsername != old.jsonActionApiDefaults.maxJsonApiSessionsPerUsername
            || targetsChanged {
            // The fleet's limits live in its Redis record, which every gateway's admissions read.
            let first = handlers[0].actions, logger = self.logger
            onLoop(0) {
                store.setLimits(first.fleetLimits) { result in
                    if case .failure(let error) = result { logger.error("fleet: the new limits could not be written to Redis (\(error)); the fleet keeps its old ones") }
                    else { logger.warning("fleet: this reload set the fleet's limits and upstream names in Redis for every gateway; reload the others with the same file") }
                }
            }
            changes.append("fleet: the limits and upstream names in Redis now follow this file, for every gateway")
        }
        changes += applyListeners(new, prepared, settings: settings)
        if changes.isEmpty { changes.append("no setting changed") }
        return changes
    }

    private func applyListeners(_ new: GatewayConfiguration, _ prepared: Prepared, settings: HTTPServerSettings) -> [String] {
        var changes: [String] = []
        let wanted = new.enabledListeners
        retiredListeners.removeAll { $0.counter.current == 0 }
        // Removed or changed: stop accepting; their connections go on.
        for entry in active where !wanted.contains(entry.config) {
            let listeners = entry.listeners
            onEveryLoop { loop in listeners[loop.index].stopAccepting() }
            retiredListeners.append((listeners, entry.counter))
            let replaced = wanted.contains { $0.name == entry.config.name }
            changes.append("listener \(entry.config.name): \(replaced ? "changed; established connections keep the old settings" : "removed; established connections go on")")
        }
        active.removeAll { !wanted.contains($0.config) }
        // Kept: the new limits for new connections, and TLS files read again.
        for index in active.indices {
            let entry = active[index]
            let options = TransportSecurity.reloadedOptions(entry.options, entry.config, limits: new.limits)
            active[index].options = options
            let listeners = entry.listeners
            onEveryLoop { loop in listeners[loop.index].update(settings: settings, options: options) }
        }
        for result in reloadCertificates(only: Set(active.map(\.config.name))) {
            changes.append(result.message)
        }
        // Added or changed: started on every loop.
        var started: [ActiveListener] = []
        for listener in wanted where !active.contains(where: { $0.config == listener }) {
            do {
                if let bound = prepared.bound[listener.name] {
                    started.append(try startListener(listener, sockets: bound.sockets, address: bound.address, options: bound.options,
                                                     settings: settings, loopsRunning: true))
                } else if let options = prepared.rebinding[listener.name] {
                    let (sockets, address) = try ListenerBinder.bind(address: listener.socketAddress, loopCount: group.loops.count)
                    started.append(try startListener(listener, sockets: sockets, address: address, options: options,
                                                     settings: settings, loopsRunning: true))
                }
                changes.append("listener \(listener.name): listening on \(started.last.map { $0.address.description } ?? "?")")
            } catch {
                changes.append("listener \(listener.name): could not start: \(error)")
                logger.error("reload: listener \(listener.name) could not start: \(error)")
            }
        }
        // Configuration order, as /stats and /metrics list them.
        active = wanted.compactMap { config in active.first { $0.config == config } ?? started.first { $0.config == config } }
        publishListeners()
        return changes
    }
}
