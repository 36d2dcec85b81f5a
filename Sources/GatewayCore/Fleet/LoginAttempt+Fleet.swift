import GatewayHTTP1
import GatewayHTTPServer
import GatewayRedis
import GatewaySessions
import GatewaySystem

extension LoginAttempt {
    /// Fleet mode: the limits are decided by one script in Redis, which also stores the session
    /// (Redis's append-only file makes it durable before the answer, with `appendfsync always`).
    func issueInFleet(_ store: FleetStore, upstreamToken: String, settings: SessionSettings) {
        let services = handler.services
        if let problem = store.fleet.joinProblem.withLock({ $0 }) {
            done = true
            handler.closeUpstreamSession(upstream: pool.target.name, upstreamToken: upstreamToken, name: "login of '\(parameters.username)'",
                                         reason: "this gateway does not match the fleet")
            handler.reply(responder, handler.failure(request, .sessionStoreUnavailable, "This gateway cannot admit sessions: \(problem). Another gateway of the fleet can."))
            return
        }
        let token = SessionToken.generate()
        let digest = TokenDigest(token: token)
        let session = SessionSnapshot(digest: digest, username: parameters.username, clientAddress: client, upstream: pool.target.name,
                                      upstreamToken: upstreamToken, settings: settings, startedAt: WallClock.nowSeconds())
        let addressKey: String? = services.rules.exemptAddresses.containsAddress(client) ? nil : client
        let started = handler.loop.now
        store.admit(session, usernameKey: parameters.username.lowercased(), addressKey: addressKey) { [self] result in
            switch result {
            case .success(.admitted):
                services.table.restore(session, now: handler.loop.now)
                store.fleet.cache.vouch([digest], at: started)
                recorded(session, token: token, error: nil)
            case .success(.refused(let refusal)):
                refuseByLimit(refusal, upstreamToken: upstreamToken, reason: "refused by the fleet's limits")
            case .failure(let error) where error.isOutage && store.fleet.configuration.loginsWhenDown == .localShare:
                admitByLocalShare(store, session: session, token: token, why: error)
            case .success(.noFleet), .failure:
                done = true
                handler.recorder.metrics.countRefusal(.upstreamFailure)
                var why = "Redis has no fleet record (it lost its data; the gateways are restoring it)"
                if case .failure(let error) = result { why = "\(error)" }
                handler.logger.warning("login of '\(parameters.username)' from \(client) refused: the fleet's session store cannot decide the limits: \(why)")
                handler.closeUpstreamSession(upstream: pool.target.name, upstreamToken: upstreamToken, name: "login of '\(parameters.username)'",
                                             reason: "the fleet's session store is unavailable")
                // The ADMIT may still run once Redis gets to it: make sure it creates nothing.
                if case .failure = result { handler.forgetInFleet(store, digest) }
                handler.recorder.metrics.fleetStoreUnavailable += 1
                responder.respond(status: 503, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("Retry-After", "1")],
                                  body: handler.failure(request, .sessionStoreUnavailable,
                                                        "The fleet's session store (Redis) cannot decide the session limits now (\(why)); no session was created. Retry shortly (fleet.loginsWhenRedisIsDown is \"refuse\").").bytes)
            }
        }
    }

    /// `loginsWhenRedisIsDown: "localShare"`: this gateway admits against its share of each limit
    /// (the limit divided by the gateways Redis last saw alive), counted in its own table, and
    /// writes the session to Redis once Redis is back. Approximate by design: said in the README.
    private func admitByLocalShare(_ store: FleetStore, session: SessionSnapshot, token: String, why: RedisError) {
        let services = handler.services
        let gateways = store.fleet.gatewaysAlive
        let full = services.table.limits
        var share = full
        share.maxSessions = max(1, full.maxSessions / gateways)
        share.maxPerAddress = max(1, full.maxPerAddress / gateways)
        share.maxPerUsername = max(1, full.maxPerUsername / gateways)
        switch services.table.reserve(username: session.username, address: session.clientAddress, limits: share) {
        case .failure(let refusal):
            refuseByLimit(refusal, upstreamToken: session.upstreamToken, reason: "refused by the local share of the limits",
                          note: " (Redis is unreachable: this gateway admits its share of 1/\(gateways) of each limit.)")
            // Its unanswered ADMIT may still run once Redis is back: it must create nothing.
            handler.forgetInFleet(store, session.digest)
        case .success(let reservation):
            let admitted = services.table.commit(reservation, digest: session.digest, username: session.username, clientAddress: session.clientAddress,
                                                 upstream: session.upstream, upstreamToken: session.upstreamToken, settings: session.settings,
                                                 startedAt: session.startedAt, now: handler.loop.now)
            store.fleet.unpublished.withLock { $0.append(session.digest) }
            store.fleet.cache.vouch([session.digest], at: handler.loop.now)
            handler.logger.warning("login of '\(session.username)' admitted by this gateway's share (1/\(gateways)) of the limits: Redis is unreachable (\(why)); it is written to Redis once Redis answers")
            recorded(admitted, token: token, error: nil)
        }
    }

}
