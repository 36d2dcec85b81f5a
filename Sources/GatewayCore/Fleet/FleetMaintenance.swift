import Dispatch
import GatewayEventLoop
import GatewayLogging
import GatewayRedis
import GatewaySessions
import GatewaySystem
import Synchronization

/// Fleet mode's background work, on the first loop: listens for invalidations, reports the
/// sessions used here once per touch interval (one script for all of them, so a request never
/// costs a Redis write), ends the fleet's sessions idle past their deadline once a second (each
/// claimed by exactly one gateway, which closes its upstream session), and notices a Redis that
/// came back empty (its fleet record is gone or new) to write back what this gateway holds.
final class FleetMaintenance: TimerHandler {
    private enum Tag: Int { case report, sweep, join }
    private let handler: JSONActionHandler
    private let store: FleetStore
    private let subscriber: RedisSubscriber
    private var fleet: Fleet { store.fleet }
    private var reporting = false
    private var sweeping = false
    /// A rejoin and write-back after Redis lost its data is under way.
    private var restoring = false
    /// Whether the fleet record is known to match this gateway's settings.
    private(set) var joined = false

    init(handler: JSONActionHandler, store: FleetStore) {
        self.handler = handler
        self.store = store
        subscriber = RedisSubscriber(loop: handler.loop, settings: store.fleet.redis, channel: store.fleet.prefix + "invalidate", logger: handler.logger)
        subscriber.pingIntervalMilliseconds = 1000
    }

    func start(joined: Bool) {
        self.joined = joined
        let cache = fleet.cache, table = handler.services.table, loop = handler.loop
        subscriber.onMessage = { payload in
            if let digest = TokenDigest(hex: String(decoding: payload, as: UTF8.self)) { cache.invalidate(digest, table: table) }
        }
        subscriber.onLost = { _ in cache.distrustAll(now: MonotonicClock.nowMilliseconds()) }
        subscriber.onSubscribed = { [weak self] in
            // Invalidations may have been missed while the channel was down: ask about everything cached.
            self?.revalidate(cache.cachedDigests)
        }
        subscriber.start()
        _ = loop.schedule(after: fleet.configuration.touchIntervalMilliseconds, handler: self, tag: Tag.report.rawValue)
        _ = loop.schedule(after: 1000, handler: self, tag: Tag.sweep.rawValue)
        if !joined { _ = loop.schedule(after: 500, handler: self, tag: Tag.join.rawValue) }
    }

    func stop() { subscriber.stop() }

    func timerFired(_ tag: Int) {
        switch Tag(rawValue: tag) {
        case .report?:
            report()
            _ = handler.loop.schedule(after: fleet.configuration.touchIntervalMilliseconds, handler: self, tag: tag)
        case .sweep?:
            sweep()
            fleet.cache.prune(keeping: handler.services.table)
            _ = handler.loop.schedule(after: 1000, handler: self, tag: tag)
        case .join?:
            rejoin(restoring: false)
        case nil: break
        }
    }

    private func report() {
        guard !reporting else { return }
        let used = fleet.cache.takeTouched()
        reporting = true
        let started = handler.loop.now
        report(used[...], touch: true, started: started) { [self] in reporting = false }
    }

    private func revalidate(_ digests: [TokenDigest]) {
        report(digests[...], touch: false, started: handler.loop.now) {}
    }

    /// In chunks of 500 digests, so that no script holds Redis for long.
    private func report(_ digests: ArraySlice<TokenDigest>, touch: Bool, started: Int64, done: @escaping () -> Void) {
        let chunk = digests.prefix(500)
        store.report(Array(chunk), touch: touch) { [self] result in
            guard case .success(let answer) = result else {
                // Reported with the next report instead, so a use while Redis was away still counts.
                if touch { fleet.cache.retouch(Array(digests)) }
                done()
                return
            }
            let table = handler.services.table
            // First the fleet id: sessions "missing" from a Redis that lost its data are written back, not dropped.
            guard !noteFleetId(answer.fleetId, gateways: answer.gateways) else {
                if touch { fleet.cache.retouch(Array(digests)) }
                done()
                return
            }
            // Sessions the local share admitted are not in Redis yet: missing there, but not ended.
            let unpublished = Set(fleet.unpublished.withLock { $0 })
            for digest in answer.missing where !unpublished.contains(digest) { fleet.cache.invalidate(digest, table: table) }
            let missing = Set(answer.missing)
            fleet.cache.vouch(chunk.filter { !missing.contains($0) && table.contains($0) }, at: started)
            publishLocalShare()
            let rest = digests.dropFirst(chunk.count)
            if rest.isEmpty { done() } else { report(rest, touch: touch, started: started, done: done) }
        }
    }

    private func retryForgets() {
        let digests = fleet.pendingForgets.withLock { pending -> [TokenDigest] in
            let taken = pending
            pending.removeAll()
            return taken
        }
        for digest in digests { handler.forgetInFleet(store, digest) }
    }

    /// Sessions the local share admitted while Redis was down, now written to it (not limited again).
    private func publishLocalShare() {
        let digests = fleet.unpublished.withLock { pending -> [TokenDigest] in
            let taken = pending
            pending.removeAll()
            return taken
        }
        guard !digests.isEmpty else { return }
        let services = handler.services
        let started = handler.loop.now
        let sessions = services.table.sessions(digests[...])
        for session in sessions {
            let addressKey: String? = services.rules.exemptAddresses.containsAddress(session.clientAddress) ? nil : session.clientAddress
            store.restore(session, usernameKey: session.username.lowercased(), addressKey: addressKey) { [self] result in
                switch result {
                case .success: fleet.cache.vouch([session.digest], at: started)
                case .failure: fleet.unpublished.withLock { $0.append(session.digest) }
                }
            }
        }
        handler.logger.info("fleet: writing to Redis the \(sessions.count) sessions admitted while it was unreachable")
    }

    private func sweep() {
        guard !sweeping else { return }
        sweeping = true
        store.claimExpired(defaults: handler.services.defaults) { [self] result in
            sweeping = false
            guard case .success(let (fleetId, claimed)) = result else { return }
            for session in claimed {
                fleet.cache.invalidate(session.digest, table: handler.services.table)
                handler.recorder.metrics.sessionsExpired += 1
                handler.logger.info("session \(session.digest.fingerprint) of '\(session.username)' expired after \(session.idleSeconds) s idle (claimed by this gateway for the fleet)")
            }
            noteFleetId(fleetId, gateways: nil)
            if claimed.count == 500 { sweep() }
            // The queue holds the upstream sessions of everything ended, here or by any gateway.
            handler.closeQueuedUpstreamSessions(store)
            retryForgets()
        }
    }

    /// A fleet id other than the one known, or none: Redis lost its data (restarted empty, flushed).
    /// Returns true then (a rejoin and a write-back are under way).
    @discardableResult
    private func noteFleetId(_ id: String?, gateways: Int?) -> Bool {
        guard fleet.observe(fleetId: id, gateways: gateways) else { return false }
        if !restoring {
            handler.logger.warning("Redis: the fleet record \(id == nil ? "is gone" : "changed") (Redis lost its data?); writing back the \(handler.services.table.count) sessions this gateway holds")
            rejoin(restoring: true)
        }
        return true
    }

    private func rejoin(restoring writeBack: Bool) {
        if writeBack { restoring = true }
        store.join(handler.fleetLimits, restoring: writeBack) { [self] result in
            switch result {
            case .failure:
                restoring = false
                _ = handler.loop.schedule(after: 1000, handler: self, tag: Tag.join.rawValue)
            case .success(let outcome):
                if let difference = FleetJoin.difference(ours: handler.fleetLimits, theirs: outcome.theirs) {
                    handler.logger.error("fleet: \(difference); logins through this gateway are refused until it is reloaded with the fleet's settings")
                    fleet.joinProblem.withLock { $0 = difference }
                    joined = false
                    restoring = false
                    _ = handler.loop.schedule(after: 5000, handler: self, tag: Tag.join.rawValue)
                    return
                }
                joined = true
                fleet.joinProblem.withLock { $0 = nil }
                if writeBack { restoreAll(then: { [self] in fleet.setFleetId(outcome.id); restoring = false }) } else { fleet.setFleetId(outcome.id) }
            }
        }
    }

    /// Writes back every session this gateway holds, then runs `then` (the new fleet id is taken only
    /// then, so that until the write-back is done, "unknown" answers are not believed).
    private func restoreAll(then: @escaping () -> Void) {
        let services = handler.services
        var restored = 0, pending = 0
        let sessions = services.table.all()
        guard !sessions.isEmpty else { then(); return }
        for session in sessions {
            let addressKey: String? = services.rules.exemptAddresses.containsAddress(session.clientAddress) ? nil : session.clientAddress
            pending += 1
            store.restore(session, usernameKey: session.username.lowercased(), addressKey: addressKey) { [self] result in
                pending -= 1
                if case .success(true) = result { restored += 1 }
                if pending == 0 {
                    handler.logger.info("fleet: \(restored) sessions written back to Redis")
                    then()
                }
            }
        }
    }
}

/// Joining the fleet: this gateway's limits and upstream names must be the fleet's.
enum FleetJoin {
    static func difference(ours: FleetStore.FleetRecordLimits, theirs: FleetStore.FleetRecordLimits) -> String? {
        var differences: [String] = []
        if ours.maxSessions != theirs.maxSessions { differences.append("maxJsonApiSessions is \(ours.maxSessions) here, \(theirs.maxSessions) in the fleet") }
        if ours.maxPerAddress != theirs.maxPerAddress { differences.append("maxJsonApiSessionsPerIpAddress is \(ours.maxPerAddress) here, \(theirs.maxPerAddress) in the fleet") }
        if ours.maxPerUsername != theirs.maxPerUsername { differences.append("maxJsonApiSessionsPerUsername is \(ours.maxPerUsername) here, \(theirs.maxPerUsername) in the fleet") }
        if ours.upstreams != theirs.upstreams { differences.append("the upstreams are [\(ours.upstreams)] here, [\(theirs.upstreams)] in the fleet") }
        if ours.touchMilliseconds != theirs.touchMilliseconds {
            differences.append("fleet.touchIntervalSeconds is \(Double(ours.touchMilliseconds) / 1000) here, \(Double(theirs.touchMilliseconds) / 1000) in the fleet")
        }
        if ours.keyCheck != theirs.keyCheck {
            differences.append("fleet.tokenKeyFile holds another key than the fleet's (key check \(ours.keyCheck) here, \(theirs.keyCheck.isEmpty ? "none" : theirs.keyCheck) in the fleet): upstream tokens sealed by one could not be opened by the other")
        }
        return differences.isEmpty ? nil : "this gateway's settings differ from the fleet's: " + differences.joined(separator: "; ")
    }
}

extension FleetJoin {
    /// Joins before the gateway starts serving, on a loop of its own: a gateway whose settings
    /// differ from the fleet's does not start. A Redis that cannot be reached does not stop the
    /// start (logins are refused until it answers; the first loop keeps trying).
    static func atStart(_ fleet: Fleet, ours: FleetStore.FleetRecordLimits, logger: Logger) throws -> Bool {
        let group = try EventLoopGroup(count: 1)
        let loop = group.loops[0]
        let outcome = Mutex<Result<(created: Bool, id: String, theirs: FleetStore.FleetRecordLimits), RedisError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        group.start()
        defer { group.stop() }
        loop.execute {
            let store = FleetStore(fleet: fleet, loop: loop, logger: logger)
            store.join(ours) { result in
                outcome.withLock { $0 = result }
                store.client.disconnect()
                done.signal()
            }
        }
        let wait = Int(fleet.configuration.connectTimeoutMilliseconds + fleet.configuration.commandTimeoutMilliseconds) * 2 + 500
        _ = done.wait(timeout: .now() + .milliseconds(wait))
        switch outcome.withLock({ $0 }) {
        case .success(let joined)?:
            if let difference = difference(ours: ours, theirs: joined.theirs) {
                throw GatewayStartError(message: "fleet: \(difference) (Redis \(fleet.redis.endpointDescription), key prefix \"\(fleet.prefix)\"); use the same jsonActionApiDefaults limits, upstream names, fleet.touchIntervalSeconds and fleet.tokenKeyFile on every gateway of a fleet")
            }
            fleet.setFleetId(joined.id)
            logger.info("fleet: \(joined.created ? "created" : "joined") fleet \(joined.id) in Redis \(fleet.redis.endpointDescription) (key prefix \"\(fleet.prefix)\"), gateway \(fleet.gatewayId)")
            return true
        case .failure(let error)? where "\(error)".contains("AUTH refused") || "\(error)".contains("NOAUTH") || "\(error)".contains("unauthenticated"):
            throw GatewayStartError(message: "fleet: Redis \(fleet.redis.endpointDescription) refuses this gateway's credentials (\(fleet.redis.password == nil ? "none are set: set fleet.password or fleet.passwordFile" : "check fleet.username and fleet.password or fleet.passwordFile")): \(error)")
        case .failure(let error)?:
            logger.warning("fleet: Redis \(fleet.redis.endpointDescription) cannot be reached at start (\(error)); logins are refused until it answers")
            return false
        case nil:
            logger.warning("fleet: Redis \(fleet.redis.endpointDescription) did not answer at start; logins are refused until it answers")
            return false
        }
    }
}
