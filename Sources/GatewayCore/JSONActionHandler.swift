import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewayLogging
import GatewaySessions
import GatewaySystem
import GatewayUpstreams

/// The JSON Action endpoint on one loop, in phases: read the envelope, answer the session actions
/// here (createSession, pingSession, listSessions, describeSessions, deleteSession, alterSession),
/// and forward every other action to the session's upstream with the tokens swapped.
final class JSONActionHandler {
    let loop: EventLoop
    let services: SessionServices
    let logger: Logger
    let recorder: LoopRecorder
    private var selector: UpstreamSelector
    private var poolsByName: [String: UpstreamPool]
    /// `sessions.trustedProxies`, kept per loop because every forwarded request reads it.
    var trustedProxies: [AddressRange]
    /// Fleet mode: this loop's door to the sessions in Redis; nil when the gateway is alone.
    var fleetStore: FleetStore?

    static let unknownSessionMessage = "'authToken' does not match any existing session. Use a valid 'authToken' or use 'createSession' to create a valid 'authToken'."

    init(loop: EventLoop, services: SessionServices, pools: [UpstreamPool], logger: Logger, recorder: LoopRecorder) {
        self.loop = loop
        self.services = services
        self.logger = logger
        self.recorder = recorder
        selector = UpstreamSelector(pools: pools)
        poolsByName = Dictionary(pools.map { ($0.target.name, $0) }, uniquingKeysWith: { first, _ in first })
        trustedProxies = services.rules.trustedProxies
    }

    func handle(_ http: HTTPRequest, responder: HTTPResponder, suffix: Substring, record: RequestRecord) -> HTTPExchange? {
        let request: ActionRequest
        switch ActionRequest.parse(http.body) {
        case .success(let parsed): request = parsed
        case .failure(let rejection):
            reply(responder, FairComEnvelope.error(rejection.code, rejection.message, requestId: rejection.requestId))
            return nil
        }
        request.name(into: record, logging: recorder.accessLog != nil)
        if let fleetStore, Self.needsFleetSession(request) {
            return withFleetSession(fleetStore, request, responder: responder) { [self] in
                dispatch(request, http: http, responder: responder, suffix: suffix, record: record)
            }
        }
        return dispatch(request, http: http, responder: responder, suffix: suffix, record: record)
    }

    private func dispatch(_ request: ActionRequest, http: HTTPRequest, responder: HTTPResponder, suffix: Substring, record: RequestRecord) -> HTTPExchange? {
        switch request.kind {
        case .createSession: return createSession(request, http: http, responder: responder, record: record)
        case .pingSession:
            record.session = digest(of: request)
            pingSession(request, responder: responder)
        case .listSessions: withSession(request, responder, record) { listSessions(request, caller: $0, responder: responder) }
        case .describeSessions: withSession(request, responder, record) { describeSessions(request, caller: $0, responder: responder) }
        case .deleteSession:
            record.session = digest(of: request)
            if let fleetStore { deleteFleetSession(fleetStore, request, responder: responder) } else { deleteSession(request, responder: responder) }
        case .alterSession: withSession(request, responder, record) { alterSession(request, caller: $0, responder: responder) }
        case .other:
            guard let digest = digest(of: request), let session = services.table.touchForForwarding(digest, now: loop.now) else {
                reply(responder, unknownSession(request))
                return nil
            }
            record.session = digest
            record.username = session.username
            return forward(request, session: session, http: http, responder: responder, suffix: suffix, record: record)
        }
        return nil
    }

    // MARK: sessions

    /// The caller's session, marked used; nil for a missing, malformed or unknown token.
    func lookUp(_ request: ActionRequest, touch: Bool) -> SessionSnapshot? {
        guard let digest = digest(of: request) else { return nil }
        return touch ? services.table.touch(digest, now: loop.now) : services.table.find(digest)
    }

    /// The digest of the request's token, if it could be one the gateway issued. Such a token is
    /// plain base64url, so it is read in place from the body.
    func digest(of request: ActionRequest) -> TokenDigest? {
        guard let range = request.authTokenBytes else { return nil }
        return request.body.withUnsafeBytes { bytes in
            let token = UnsafeRawBufferPointer(rebasing: bytes[range])
            return SessionToken.isWellFormed(token) ? TokenDigest(tokenBytes: token) : nil
        }
    }

    private func withSession(_ request: ActionRequest, _ responder: HTTPResponder, _ record: RequestRecord, _ body: (SessionSnapshot) -> Void) {
        guard let session = lookUp(request, touch: true) else {
            reply(responder, unknownSession(request))
            return
        }
        record.session = session.digest
        record.username = session.username
        body(session)
    }

    func unknownSession(_ request: ActionRequest) -> FairComEnvelope {
        var envelope = FairComEnvelope(requestId: request.requestId, errorCode: GatewayErrorCode.unknownSession.rawValue,
                                       errorMessage: Self.unknownSessionMessage, authToken: request.authToken)
        if request.debug == "max" { envelope.debugInfo = .object([("request", request.maskedEcho)]) }
        return envelope
    }

    /// Answers with HTTP 200 and the envelope, as FairCom answers every JSON Action.
    func reply(_ responder: HTTPResponder, _ envelope: FairComEnvelope) {
        responder.respond(status: 200, body: envelope.bytes)
    }

    /// The envelope of a gateway-made answer: requestId echoed, the caller's token, and
    /// debugInfo.request (passwords masked) when the effective debug level is "max".
    func envelope(for request: ActionRequest, session: SessionSnapshot?, result: JSONValue = .object([]),
                  resultJSON: [UInt8]? = nil, authToken: String? = nil) -> FairComEnvelope {
        var envelope = FairComEnvelope(requestId: request.requestId, result: result, authToken: authToken ?? request.authToken)
        envelope.resultJSON = resultJSON
        let debug = request.debug ?? session?.settings.defaultDebug ?? services.defaults.defaultDebug
        if debug == "max" { envelope.debugInfo = .object([("request", request.maskedEcho)]) }
        return envelope
    }

    func failure(_ request: ActionRequest, _ code: GatewayErrorCode, _ message: String) -> FairComEnvelope {
        var envelope = FairComEnvelope(requestId: request.requestId, errorCode: code.rawValue, errorMessage: message,
                                       authToken: request.authToken)
        if request.debug == "max" { envelope.debugInfo = .object([("request", request.maskedEcho)]) }
        return envelope
    }

    func pool(named name: String) -> UpstreamPool? { poolsByName[name] }

    func forwardedHeaders(_ http: HTTPRequest, record: RequestRecord) -> ForwardedHeaders {
        ForwardedHeaders(http, client: record.client, requestId: record.requestId, trustedProxies: trustedProxies)
    }

    func choosePool() -> UpstreamPool { selector.choose() }

    /// Another upstream for a login `pool` could not take, if one is not down.
    func alternativePool(to pool: UpstreamPool) -> UpstreamPool? {
        let other = selector.choose()
        return other !== pool && other.target.health != .unhealthy ? other : selector.pools.first { $0 !== pool && $0.target.health != .unhealthy }
    }

    var poolsForScrape: [UpstreamPool] { selector.pools }

    /// A reload: pools for the upstreams now configured. A target kept as it was keeps its pool;
    /// a changed or removed one's pool is retired (what it has begun finishes there). Sessions
    /// follow their upstream's name, so a changed upstream's sessions go to its new pool.
    func replaceUpstreams(_ targets: [UpstreamTarget]) {
        let pools = targets.map { target in
            poolsByName[target.name].flatMap { $0.target === target ? $0 : nil } ?? UpstreamPool(target: target, loop: loop, logger: logger)
        }
        for old in selector.pools where !pools.contains(where: { $0 === old }) { old.retire() }
        selector = UpstreamSelector(pools: pools)
        poolsByName = Dictionary(pools.map { ($0.target.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Closes the upstream session behind a gateway session that ended (deleteSession, expiry,
    /// an ordinary session not kept across a restart), so that upstreams keep no orphans.
    func closeUpstreamSession(of session: SessionSnapshot, reason: String) {
        closeUpstreamSession(upstream: session.upstream, upstreamToken: session.upstreamToken, name: "session \(session.digest.fingerprint)", reason: reason)
    }

    /// Closes an upstream session by its token; `name` says whose it is in the log.
    /// `then` hears whether the upstream answered (HTTP 200): the fleet's close queue retries otherwise.
    func closeUpstreamSession(upstream: String, upstreamToken: String, name: String, reason: String, then: ((Bool) -> Void)? = nil) {
        guard let pool = pool(named: upstream) else { then?(true); return }
        var body: [UInt8] = Array(#"{"api":"admin","action":"deleteSession","authToken":"#.utf8)
        JSONWriter.writeString(upstreamToken, into: &body)
        body.append(UInt8(ascii: "}"))
        let logger = self.logger
        UpstreamCall.post(body, to: pool) { result in
            switch result {
            case .success((let status, _)) where status == 200:
                logger.debug("\(name): upstream session closed (\(reason))")
                then?(true)
            case .success((let status, _)):
                logger.warning("\(name): closing the upstream session answered HTTP \(status)")
                then?(false)
            case .failure(let failure):
                logger.warning("\(name): could not close the upstream session: \(failure)")
                then?(false)
            }
        }
    }

    /// Ends a session whose upstream reported it unknown (12031): the upstream restarted or expired it.
    func upstreamLost(_ digest: TokenDigest) {
        if let fleetStore {
            upstreamLostInFleet(fleetStore, digest)
            recorder.metrics.sessionsLostUpstream += 1
            logger.info("session \(digest.fingerprint) ended: its upstream no longer knows it")
            return
        }
        guard let session = services.table.remove(digest) else { return }
        recorder.metrics.sessionsLostUpstream += 1
        services.record(.closed(session.digest))
        logger.info("session \(session.digest.fingerprint) of '\(session.username)' ended: upstream '\(session.upstream)' no longer knows it")
    }

    // MARK: forwarding

    private func forward(_ request: ActionRequest, session: ForwardingView, http: HTTPRequest, responder: HTTPResponder,
                         suffix: Substring, record: RequestRecord) -> HTTPExchange? {
        guard let pool = pool(named: session.upstream), let token = request.authTokenBytes else {
            upstreamLost(session.digest)
            reply(responder, unknownSession(request))
            return nil
        }
        record.upstream = pool.target.name
        if pool.target.health == .unhealthy {
            // The session is kept: once its upstream is back (and still knows it), it works again.
            record.reason = "upstream '\(pool.target.name)' is down"
            responder.respond(status: 503, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("Retry-After", "5")],
                              body: failure(request, .sessionUpstreamDown, "This session's upstream '\(pool.target.name)' is down. Log in again with createSession to get a session on a healthy upstream; this session is kept and works again if '\(pool.target.name)' comes back.").bytes)
            return nil
        }
        record.forwarded = true
        let splice = upstreamSplice(request, session: session)
        let query = http.head.target.utf8.firstIndex(of: UInt8(ascii: "?")).map { http.head.target[$0...] } ?? ""
        let bytes = UpstreamRequestWriter.post(target: pool.target, suffix: suffix, query: query,
                                               contentType: http.head.headers["content-type"],
                                               forwarding: forwardedHeaders(http, record: record),
                                               bodyCount: splice.resultCount(from: request.body.count)) {
            splice.apply(to: request.body, appendingTo: &$0)
        }
        let rewrite = SessionResponseRewrite(
            substitution: TokenSubstitution(upstreamToken: session.upstreamToken, gatewayToken: request.body[token]),
            handler: self, session: session.digest)
        let exchange = ForwardExchange(requestBytes: bytes, clientBody: http.body, bodyClaim: http.bodyClaim, responder: responder, pool: pool,
                                       record: record, rewrite: rewrite)
        exchange.start()
        return responder.isActive ? exchange : nil
    }

    /// The one edit that turns the client's request into the upstream's: the upstream's token in
    /// place of the gateway's. Nothing else is added or changed: the upstream session has the
    /// session's settings (given at createSession and alterSession) and applies them itself.
    func upstreamSplice(_ request: ActionRequest, session: ForwardingView) -> JSONSplice {
        var splice = JSONSplice()
        if let token = request.envelope.authToken {
            splice.replace(token.value, withStringOf: session.upstreamToken)
        }
        return splice
    }
}
