import GatewayConfig
import GatewayHTTPServer
import GatewayJSON
import GatewaySessions
import GatewaySystem
import GatewayUpstreams

/// createSession: validate, throttle, authenticate upstream, then count against the limits and
/// issue the token. Authentication comes before the count, so a login that fails it (a wrong
/// password, hammered) never holds a place that a real login of the same account needs.
extension JSONActionHandler {
    func createSession(_ request: ActionRequest, http: HTTPRequest, responder: HTTPResponder, record: RequestRecord) -> HTTPExchange? {
        let parameters: SessionParameters
        do {
            parameters = try SessionParameters.forCreate(request.params, defaults: services.defaults)
        } catch {
            recorder.metrics.countRefusal(.invalidRequest)
            reply(responder, failure(request, error.isDuplicate ? .duplicateProperty : .invalidProperty, error.message))
            return nil
        }
        record.username = parameters.username
        if parameters.requestsPermanentSession && !services.defaults.enablePermanentJsonApiSessions {
            recorder.metrics.countRefusal(.invalidRequest)
            reply(responder, failure(request, .permanentSessionsDisabled,
                "Permanent sessions are disabled on this gateway. To allow them, set \"enablePermanentJsonApiSessions\": true in the \"jsonActionApiDefaults\" section of gateway.json and restart the gateway."))
            return nil
        }
        if http.usernameMustMatchCertificate && http.clientCommonName != parameters.username {
            let message = http.clientCommonName.map {
                "The username '\(parameters.username)' does not match the client certificate's subject CN '\($0)'. This listener requires them to be equal (listeners[].tls.usernameMustMatchCertificate in gateway.json)."
            } ?? "This listener requires a client certificate whose subject CN is the username (listeners[].tls.usernameMustMatchCertificate in gateway.json); none was presented."
            logger.info("login of '\(parameters.username)' on listener \(http.listenerName) refused: certificate CN \(http.clientCommonName.map { "'\($0)'" } ?? "absent")")
            recorder.metrics.countRefusal(.authentication)
            reply(responder, failure(request, .certificateMismatch, message))
            return nil
        }
        // Several X-Forwarded-For lines are one list (RFC 9110 §5.3): a spoofed first line must not hide the proxy's entry.
        let forwardedFor = http.head.headers.values("x-forwarded-for")
        let client = services.clientAddress(peer: http.peerHost, forwardedFor: forwardedFor.isEmpty ? nil : forwardedFor.joined(separator: ","))
        if let throttled = services.throttle.begin(username: parameters.username, address: client, nowMilliseconds: loop.now) {
            let (code, message) = Self.describe(throttled, rules: services.rules.loginThrottle)
            if case .tooManyInFlight = throttled { recorder.metrics.countRefusal(.tooManyInFlight) } else { recorder.metrics.countRefusal(.throttled) }
            logger.info("login of '\(parameters.username)' from \(client) refused: \(message)")
            reply(responder, failure(request, code, message))
            return nil
        }
        // Already full: refused at once, without asking the upstream. Counted only once authenticated.
        // (In fleet mode the table is this gateway's cache, not the count: Redis decides after authentication.)
        if fleetStore == nil, let refusal = services.table.refusal(username: parameters.username, address: client) {
            services.throttle.finish(username: parameters.username, address: client, authenticated: nil, nowMilliseconds: loop.now)
            recorder.metrics.countRefusal(refusal.metricsReason)
            let (code, message) = Self.describe(refusal)
            logger.info("login of '\(parameters.username)' from \(client) refused: \(message)")
            reply(responder, failure(request, code, message))
            return nil
        }
        let pool = choosePool()
        record.upstream = pool.target.name
        let login = LoginAttempt(handler: self, request: request, parameters: parameters, client: client,
                                 responder: responder, pool: pool, record: record, forwarding: forwardedHeaders(http, record: record))
        login.start()
        return login
    }

    static func describe(_ refusal: LimitRefusal) -> (GatewayErrorCode, String) {
        switch refusal {
        case .total(let limit):
            return (.tooManySessions, "The gateway already has its maximum of \(limit) sessions (maxJsonApiSessions). Close unused sessions with deleteSession, or raise \"maxJsonApiSessions\" in the \"jsonActionApiDefaults\" section of gateway.json.")
        case .perAddress(let limit, let address):
            return (.tooManySessionsForAddress, "The client address \(address) already has its maximum of \(limit) sessions (maxJsonApiSessionsPerIpAddress). Close unused sessions with deleteSession, raise \"maxJsonApiSessionsPerIpAddress\" in the \"jsonActionApiDefaults\" section of gateway.json, or list the address in \"sessions.exemptAddresses\".")
        case .perUsername(let limit, let username):
            return (.tooManySessionsForUsername, "The account '\(username)' already has its maximum of \(limit) sessions (maxJsonApiSessionsPerUsername). Close unused sessions with deleteSession, or raise \"maxJsonApiSessionsPerUsername\" in the \"jsonActionApiDefaults\" section of gateway.json.")
        }
    }

    static func describe(_ refusal: LoginThrottleRefusal, rules: LoginThrottleRules) -> (GatewayErrorCode, String) {
        switch refusal {
        case .throttledAddress(let address, let wait):
            return (.loginThrottled, "Too many failed logins from the client address \(address) (more than \(rules.maxFailuresPerAddress) in \(rules.windowSeconds) seconds, sessions.loginThrottle.maxFailuresPerAddress in gateway.json). Retry after \(wait) seconds.")
        case .throttledPair(let username, let address, let wait):
            return (.loginThrottled, "Too many failed logins of the account '\(username)' from \(address) (more than \(rules.maxFailuresPerUsernameAndAddress) in \(rules.windowSeconds) seconds, sessions.loginThrottle.maxFailuresPerUsernameAndAddress in gateway.json). Retry after \(wait) seconds.")
        case .tooManyInFlight(let address, let limit):
            return (.tooManyLoginsInFlight, "The client address \(address) already has \(limit) logins being authenticated (sessions.loginThrottle.maxLoginsInFlightPerAddress in gateway.json). Retry once they are answered.")
        }
    }

    /// The createSession (and describeSessions, alterSession) result: the gateway's token, the
    /// session's settings in FairCom's order (as the upstream reported them), its timestamps, and
    /// everything else the upstream reported of this session (serverVersion, hostname, ...).
    /// A session's properties as FairCom reports them, written straight into JSON (a login's answer).
    func sessionResultJSON(_ session: SessionSnapshot, token: String?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        out.append(UInt8(ascii: "{"))
        if let token { JSONWriter.writeMember("authToken", token, into: &out, first: true) }
        JSONWriter.writeMember("username", session.username, into: &out, first: token == nil)
        session.settings.writeMembers(into: &out)
        JSONWriter.writeMember("sessionStartTimestamp", WallClock.faircomTimestamp(session.startedAt), into: &out)
        JSONWriter.writeMember("sessionLastAccessedTimestamp", WallClock.faircomTimestamp(session.lastAccessedAt), into: &out)
        session.settings.writeUpstreamReport(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The same properties as a value, for answers that list sessions (parsed back: one writer, one order).
    func sessionResult(_ session: SessionSnapshot, token: String?) -> JSONValue {
        (try? JSONParser.parse(sessionResultJSON(session, token: token))) ?? .object([])
    }
}

/// One login in flight: authenticated upstream, then admitted by the limits (or its upstream
/// session closed again). It is settled with the throttle exactly once, whatever happens.
final class LoginAttempt: HTTPExchange {
    let handler: JSONActionHandler
    let request: ActionRequest
    let parameters: SessionParameters
    let client: String
    let responder: HTTPResponder
    var clientResponder: HTTPResponder? { responder }
    private(set) var pool: UpstreamPool
    private var failedOver = false
    private var askedForPermanent: Bool
    private var call: UpstreamCall?
    var done = false
    private let record: RequestRecord
    private let forwarding: ForwardedHeaders

    init(handler: JSONActionHandler, request: ActionRequest, parameters: SessionParameters, client: String,
         responder: HTTPResponder, pool: UpstreamPool, record: RequestRecord, forwarding: ForwardedHeaders) {
        self.handler = handler
        self.record = record
        self.forwarding = forwarding
        self.request = request
        self.parameters = parameters
        self.client = client
        self.responder = responder
        self.pool = pool
        askedForPermanent = parameters.requestsPermanentSession
    }

    func start() {
        record.upstreamStarted()
        call = UpstreamCall.post(loginBody(), to: pool, forwarding: forwarding) { [self] result in
            self.record.upstreamEnded()
            self.upstreamAnswered(result)
        }
    }

    /// The client's params, with the session defaults gateway.json sets where the client leaves
    /// them out, except that the upstream session never idles out (the gateway ends it) and is
    /// permanent only when the gateway session is.
    private func loginBody() -> [UInt8] {
        var members = request.params?.objectValue ?? []
        members.removeAll { $0.0 == "idleConnectionTimeoutSeconds" || $0.0 == "permanentSession" }
        for (key, value) in handler.services.defaults.configuredSessionDefaults
        where !members.contains(where: { $0.0 == key && $0.1 != .null }) {
            members.removeAll { $0.0 == key }
            members.append((key, value))
        }
        members.append(("idleConnectionTimeoutSeconds", .int(0)))
        if askedForPermanent { members.append(("permanentSession", .bool(true))) }
        return JSONWriter.bytes(.object([("api", .string("admin")), ("action", .string("createSession")), ("params", .object(members))]))
    }

    private func upstreamAnswered(_ result: Result<(status: Int, body: [UInt8]), UpstreamFailure>) {
        guard !done else { return }
        let upstream = pool.target.name
        switch result {
        case .failure(let failure):
            // The login never reached that upstream: another one takes it, once.
            if !failedOver, failure.kind == .connectFailed || failure.kind == .connectTimeout || failure.kind == .queueFull,
               let other = handler.alternativePool(to: pool) {
                failedOver = true
                handler.logger.info("login of '\(parameters.username)' from \(client): \(failure); trying upstream '\(other.target.name)'")
                pool = other
                record.upstream = other.target.name
                start()
                return
            }
            settle(authenticated: nil)
            handler.recorder.metrics.countRefusal(.upstreamFailure)
            refuse(httpStatus: failure.httpStatus, failure.kind == .connectTimeout || failure.kind == .responseTimeout ? .upstreamTimeout : .upstreamUnavailable,
                   failure.description)
        case .success((let status, let body)):
            guard status == 200, let answer = try? JSONParser.parse(body), case .object = answer,
                  let errorCode = answer["errorCode"]?.intValue else {
                settle(authenticated: nil)
                handler.recorder.metrics.countRefusal(.upstreamFailure)
                refuse(httpStatus: 502, .upstreamUnavailable, "upstream '\(upstream)': createSession was answered with HTTP \(status) and no FairCom envelope")
                return
            }
            guard errorCode == 0 else {
                if askedForPermanent && parameters.settings.permanentSession {
                    // This upstream may not allow permanent sessions: fall back to one that never idles out.
                    askedForPermanent = false
                    start()
                    return
                }
                let message = answer["errorMessage"]?.stringValue ?? "login refused by upstream '\(upstream)'"
                if let advice = UpstreamLimitAdvice.advice(forRefusal: message, upstream: upstream) {
                    // Not the password's fault: the throttle does not count it.
                    settle(authenticated: nil)
                    handler.recorder.metrics.countRefusal(.upstreamLimit)
                    handler.logger.warning("login of '\(parameters.username)' from \(client) refused by upstream '\(upstream)' (error \(errorCode): \(message)). \(advice)")
                    refuse(httpStatus: 200, GatewayErrorCode(rawValue: errorCode), message + " " + advice)
                    return
                }
                settle(authenticated: false)
                handler.recorder.metrics.countRefusal(.authentication)
                handler.logger.info("login of '\(parameters.username)' from \(client) refused by upstream '\(upstream)': error \(errorCode)")
                refuse(httpStatus: 200, GatewayErrorCode(rawValue: errorCode), message)
                return
            }
            settle(authenticated: true)
            let upstreamToken = answer["result"]?["authToken"]?.stringValue ?? answer["authToken"]?.stringValue ?? ""
            guard !upstreamToken.isEmpty else {
                done = true
                refuse(httpStatus: 502, .upstreamUnavailable, "upstream '\(upstream)': createSession succeeded without an authToken")
                return
            }
            var settings = parameters.settings
            settings.adopt(upstreamResult: (answer["result"]?.objectValue ?? []).filter { $0.1.stringValue != upstreamToken })
            issue(upstreamToken: upstreamToken, settings: settings)
        }
    }

    /// Tells the throttle how the login ended, once.
    private var settled = false
    private func settle(authenticated: Bool?) {
        guard !settled else { return }
        settled = true
        handler.services.throttle.finish(username: parameters.username, address: client, authenticated: authenticated,
                                         nowMilliseconds: handler.loop.now)
    }

    private func issue(upstreamToken: String, settings: SessionSettings) {
        if let store = handler.fleetStore {
            issueInFleet(store, upstreamToken: upstreamToken, settings: settings)
            return
        }
        let services = handler.services
        // Authenticated: now the limits decide, checked and counted in one step.
        let reservation: Reservation
        switch services.table.reserve(username: parameters.username, address: client) {
        case .success(let granted): reservation = granted
        case .failure(let refusal):
            refuseByLimit(refusal, upstreamToken: upstreamToken, reason: "refused by the limits")
            return
        }
        let token = SessionToken.generate()
        let digest = TokenDigest(token: token)
        let session = services.table.commit(reservation, digest: digest, username: parameters.username, clientAddress: client,
                                            upstream: pool.target.name, upstreamToken: upstreamToken,
                                            settings: settings, startedAt: WallClock.nowSeconds(), now: handler.loop.now)
        let answer = handler.loop.callback { [self] (error: SystemError?) in self.recorded(session, token: token, error: error) }
        services.record(.opened(session)) { answer($0) }
    }

    /// A limit refused the authenticated login: the upstream session it opened has no gateway session, so it is closed.
    func refuseByLimit(_ refusal: LimitRefusal, upstreamToken: String, reason: String, note: String = "") {
        done = true
        handler.recorder.metrics.countRefusal(refusal.metricsReason)
        let (code, message) = JSONActionHandler.describe(refusal)
        handler.logger.info("login of '\(parameters.username)' from \(client) refused: \(message)")
        handler.closeUpstreamSession(upstream: pool.target.name, upstreamToken: upstreamToken, name: "login of '\(parameters.username)'", reason: reason)
        handler.reply(responder, handler.failure(request, code, message + note))
    }

    /// The session is on disk (or could not be put there): answer, or undo.
    func recorded(_ session: SessionSnapshot, token: String, error: SystemError?) {
        done = true
        let services = handler.services
        if let error {
            services.table.remove(session.digest)
            handler.closeUpstreamSession(of: session, reason: "journal write failed")
            handler.logger.error("session journal write failed: \(error); login of '\(session.username)' undone")
            handler.reply(responder, handler.failure(request, .sessionStoreFailed, "The gateway could not record the session durably (\(error.reason)); try again later."))
            return
        }
        guard responder.isActive else {
            // The client left before it could learn the token: nobody can use this session.
            services.table.remove(session.digest)
            if let store = handler.fleetStore { handler.forgetInFleet(store, session.digest) } else { services.record(.closed(session.digest)) }
            handler.closeUpstreamSession(of: session, reason: "client left during login")
            return
        }
        handler.recorder.metrics.loginsAccepted += 1
        record.session = session.digest
        handler.logger.info("session \(session.digest.fingerprint) opened for '\(session.username)' from \(client) on upstream '\(session.upstream)'\(session.settings.permanentSession ? " (permanent)" : "")")
        handler.reply(responder, handler.envelope(for: request, session: session, resultJSON: handler.sessionResultJSON(session, token: token), authToken: token))
    }

    private func refuse(httpStatus: Int, _ code: GatewayErrorCode, _ message: String) {
        done = true
        var envelope = FairComEnvelope(requestId: request.requestId, errorCode: code.rawValue, errorMessage: message)
        if (request.debug ?? parameters.settings.defaultDebug) == "max" { envelope.debugInfo = .object([("request", request.maskedEcho)]) }
        responder.respond(status: httpStatus, body: envelope.bytes)
    }

    func cancel() {
        // The client left; the login goes on so the throttle and the limits are settled, and `recorded` undoes it.
    }
}

extension LimitRefusal {
    var metricsReason: MetricsCounts.LoginRefusal {
        switch self {
        case .total: .maxJsonApiSessions
        case .perAddress: .maxJsonApiSessionsPerIpAddress
        case .perUsername: .maxJsonApiSessionsPerUsername
        }
    }
}
