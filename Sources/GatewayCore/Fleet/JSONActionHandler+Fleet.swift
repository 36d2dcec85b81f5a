import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewayRedis
import GatewaySessions
import GatewaySystem
import Glibc

/// A request waiting for Redis to vouch for its session; cancelling it cancels what it started.
final class FleetPendingRequest: HTTPExchange {
    var inner: HTTPExchange?
    private(set) var isCancelled = false
    let clientResponder: HTTPResponder?

    init(_ responder: HTTPResponder) { clientResponder = responder }

    func withdrawIfNotSent() -> Bool {
        // Still waiting for Redis, nothing sent upstream yet: withdrawn whole.
        guard let inner else {
            cancel()
            return true
        }
        return inner.withdrawIfNotSent()
    }

    func cancel() {
        isCancelled = true
        inner?.cancel()
    }
}

/// Fleet mode: before a request of a session is handled, the session must be one Redis vouched
/// for lately. A fresh cached session costs nothing more; a stale or unknown one waits for one
/// FETCH script. While Redis is unreachable, a session vouched for within `cacheGraceSeconds`
/// keeps working, and an unknown token gets a retryable 17038 rather than 12031.
extension JSONActionHandler {
    enum FleetLookup {
        case ready
        case unknown
        case unavailable(RedisError)
    }

    static func needsFleetSession(_ request: ActionRequest) -> Bool {
        switch request.kind {
        case .other, .listSessions, .describeSessions, .alterSession: return true
        case .pingSession: return !(request.authToken ?? "").isEmpty
        case .createSession, .deleteSession: return false
        }
    }

    /// Runs `then` once the session is known here and vouched for; answers the request itself otherwise.
    func withFleetSession(_ store: FleetStore, _ request: ActionRequest, responder: HTTPResponder,
                          then: @escaping () -> HTTPExchange?) -> HTTPExchange? {
        guard let digest = digest(of: request) else { return then() }
        let fleet = store.fleet
        let validatedAt: Int64?
        switch fleet.cache.use(digest, now: loop.now) {
        case .fresh where services.table.contains(digest): return then()
        case .fresh: validatedAt = nil
        case .stale(let at): validatedAt = at
        case .unknown: validatedAt = nil
        }
        let pending = FleetPendingRequest(responder)
        lookUpInFleet(store, digest, validatedAt: validatedAt, attempt: 1) { [self] outcome in
            guard !pending.isCancelled else { return }
            switch outcome {
            case .ready: pending.inner = then()
            case .unknown: reply(responder, unknownSession(request))
            case .unavailable(let error): replyStoreUnavailable(responder, request, error)
            }
        }
        return responder.isActive ? pending : nil
    }

    private func lookUpInFleet(_ store: FleetStore, _ digest: TokenDigest, validatedAt: Int64?, attempt: Int,
                               _ done: @escaping (FleetLookup) -> Void) {
        let fleet = store.fleet, table = services.table
        let ticket = fleet.cache.beginFetch(digest)
        let started = loop.now
        store.fetch(digest, defaults: services.defaults) { [self] result in
            switch result {
            case .success((let fleetId, nil, let age)) where fleetId == nil || fleetId != fleet.fleetId || age < fleet.writeBackMilliseconds:
                // Redis lost its data (the fleet record is gone or new): "unknown" means nothing
                // until the gateways have written their sessions back; the cache's grace applies.
                fleet.cache.abandonFetch(digest, ticket: ticket)
                if let validatedAt, loop.now - validatedAt <= fleet.configuration.cacheGraceMilliseconds, table.contains(digest) {
                    recorder.metrics.fleetGraceServed += 1
                    done(.ready)
                } else {
                    done(.unavailable(.unavailable("the fleet record in Redis is \(fleetId == nil ? "gone" : "new") (Redis lost its data); the gateways are writing their sessions back")))
                }
            case .success((_, nil, _)) where fleet.isUnpublished(digest) && table.contains(digest):
                // Admitted by the local share while Redis was away, and not yet written to it.
                fleet.cache.abandonFetch(digest, ticket: ticket)
                done(.ready)
            case .success((_, let session, _)):
                guard fleet.cache.finishFetch(digest, ticket: ticket, found: session, startedAt: started, table: table, now: loop.now) else {
                    // An invalidation crossed the answer: ask again, the second answer is newer than it.
                    if attempt < 3 { lookUpInFleet(store, digest, validatedAt: nil, attempt: attempt + 1, done) } else { done(.unknown) }
                    return
                }
                done(session == nil ? .unknown : .ready)
            case .failure(let error):
                fleet.cache.abandonFetch(digest, ticket: ticket)
                if error.isOutage, let validatedAt, loop.now - validatedAt <= fleet.configuration.cacheGraceMilliseconds, table.contains(digest) {
                    recorder.metrics.fleetGraceServed += 1
                    done(.ready)
                } else {
                    done(.unavailable(error))
                }
            }
        }
    }

    func replyStoreUnavailable(_ responder: HTTPResponder, _ request: ActionRequest, _ error: RedisError) {
        recorder.metrics.fleetStoreUnavailable += 1
        responder.respond(status: 503, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("Retry-After", "1")],
                          body: failure(request, .sessionStoreUnavailable,
                                        "The fleet's session store (Redis) cannot be reached (\(error)); the session is not known to be ended. Retry shortly.").bytes)
    }

    /// deleteSession in fleet mode: one script ends it everywhere and tells every gateway at once;
    /// whoever ends it closes its upstream session, exactly once.
    func deleteFleetSession(_ store: FleetStore, _ request: ActionRequest, responder: HTTPResponder) {
        guard let digest = digest(of: request) else {
            deleteSession(request, responder: responder)
            return
        }
        let known = services.table.find(digest)
        store.delete(digest) { [self] result in
            switch result {
            case .failure(let error):
                replyStoreUnavailable(responder, request, error)
            case .success(nil):
                store.fleet.cache.invalidate(digest, table: services.table)
                deleteSession(request, responder: responder)
            case .success(_?):
                store.fleet.cache.invalidate(digest, table: services.table)
                logger.info("session \(digest.fingerprint)\(known.map { " of '\($0.username)'" } ?? "") deleted")
                reply(responder, envelope(for: request, session: known))
                closeQueuedUpstreamSessions(store)
            }
        }
    }

    /// What `services.record` does for the journal, for a session change in fleet mode.
    func recordInFleet(_ store: FleetStore, altered session: SessionSnapshot, then: @escaping (SystemError?) -> Void) {
        store.alter(session) { [self] result in
            switch result {
            case .success(true): then(nil)
            case .success(false):
                store.fleet.cache.invalidate(session.digest, table: services.table)
                then(SystemError(call: "alterSession in Redis: the session is gone", errno: ENOENT))
            case .failure:
                then(SystemError(call: "alterSession in Redis", errno: EIO))
            }
        }
    }

    /// The sessions a caller may list, from Redis (every gateway's), in start order.
    func withFleetVisibleSessions(_ store: FleetStore, caller: SessionSnapshot, request: ActionRequest, responder: HTTPResponder,
                                  _ body: @escaping ([SessionSnapshot]) -> Void) {
        let key: String? = services.isAdministrator(caller.username) ? nil : caller.username.lowercased()
        store.list(usernameKey: key, defaults: services.defaults) { [self] result in
            switch result {
            case .failure(let error): replyStoreUnavailable(responder, request, error)
            case .success(let sessions):
                if sessions.count >= 10_000 { logger.warning("listSessions: the fleet has 10,000 sessions or more; only the 10,000 idling out first are listed") }
                body(sessions.sorted { ($0.startedAt, $0.digest.hex) < ($1.startedAt, $1.digest.hex) })
            }
        }
    }

    /// What this gateway's configuration says the fleet's record must hold.
    var fleetLimits: FleetStore.FleetRecordLimits {
        let defaults = services.defaults
        return FleetStore.FleetRecordLimits(maxSessions: defaults.maxJsonApiSessions, maxPerAddress: defaults.maxJsonApiSessionsPerIpAddress,
                                            maxPerUsername: defaults.maxJsonApiSessionsPerUsername,
                                            upstreams: poolsForScrape.map(\.target.name).sorted().joined(separator: ","),
                                            touchMilliseconds: fleetStore?.fleet.configuration.touchIntervalMilliseconds ?? 0,
                                            keyCheck: fleetStore?.fleet.keyCheck ?? "")
    }

    /// Ends a session the upstream no longer knows (12031), fleet-wide (nothing to close upstream).
    func upstreamLostInFleet(_ store: FleetStore, _ digest: TokenDigest) {
        forgetInFleet(store, digest)
        store.fleet.cache.invalidate(digest, table: services.table)
    }

    /// FORGET, retried by the fleet's maintenance until Redis has it.
    func forgetInFleet(_ store: FleetStore, _ digest: TokenDigest) {
        store.forget(digest) { result in
            if case .failure = result { store.fleet.pendingForgets.withLock { $0.append(digest) } }
        }
    }

    /// Closes the upstream sessions the fleet's queue hands this gateway (ended by deleteSession or
    /// an expiry anywhere, their scripts answered or not).
    func closeQueuedUpstreamSessions(_ store: FleetStore) {
        // A lease long enough for a close to be answered, short enough that a lost one is soon retried.
        let lease = max(3000, 10 * store.fleet.configuration.commandTimeoutMilliseconds)
        store.takeCloses(leaseMilliseconds: lease) { [self] result in
            guard case .success(let closes) = result else { return }
            for close in closes {
                closeUpstreamSession(upstream: close.upstream, upstreamToken: close.upstreamToken, name: "session \(close.digest.fingerprint)",
                                     reason: "ended in the fleet") { closedUpstream in
                    // Not acknowledged: the lease runs out and a gateway tries again.
                    if closedUpstream { store.closed(close.digest) }
                }
            }
            if closes.count == 200 { closeQueuedUpstreamSessions(store) }
        }
    }
}
