import GatewayHTTPServer
import GatewayJSON
import GatewaySessions
import GatewaySystem
import GatewayUpstreams

/// The session actions the gateway answers itself, from its own table.
extension JSONActionHandler {
    /// Without a token: the gateway is alive. With one: the session must exist, and its idle time restarts.
    func pingSession(_ request: ActionRequest, responder: HTTPResponder) {
        guard let token = request.authToken, !token.isEmpty else {
            reply(responder, envelope(for: request, session: nil))
            return
        }
        guard let session = lookUp(request, touch: true) else {
            reply(responder, unknownSession(request))
            return
        }
        reply(responder, envelope(for: request, session: session))
    }

    func listSessions(_ request: ActionRequest, caller: SessionSnapshot, responder: HTTPResponder) {
        let filter: [String]
        switch stringArray(request.params?["usernameFilter"], "params.usernameFilter", bytes: 1...64) {
        case .success(let names): filter = names.map { $0.lowercased() }
        case .failure(let problem):
            reply(responder, failure(request, .invalidProperty, problem.message))
            return
        }
        withVisibleSessions(to: caller, request: request, responder: responder) { [self] visible in
            listSessions(request, caller: caller, visible: visible, filter: filter, responder: responder)
        }
    }

    private func listSessions(_ request: ActionRequest, caller: SessionSnapshot, visible: [SessionSnapshot], filter: [String], responder: HTTPResponder) {
        let sessions = visible
            .filter { filter.isEmpty || filter.contains($0.username.lowercased()) }
            .map { session -> JSONValue in
                .object([("username", .string(session.username)), ("description", .string(session.settings.description)),
                         ("authToken", .string(shownToken(of: session, caller: caller, request: request)))])
            }
        reply(responder, envelope(for: request, session: caller, result: .object([("sessions", .array(sessions))])))
    }

    func describeSessions(_ request: ActionRequest, caller: SessionSnapshot, responder: HTTPResponder) {
        let wanted: [String]
        switch stringArray(request.params?["authTokens"], "params.authTokens", bytes: 0...255) {
        case .success(let tokens): wanted = tokens
        case .failure(let problem):
            reply(responder, failure(request, .invalidProperty, problem.message))
            return
        }
        withVisibleSessions(to: caller, request: request, responder: responder) { [self] visible in
            describeSessions(request, caller: caller, visible: visible, wanted: wanted, responder: responder)
        }
    }

    private func describeSessions(_ request: ActionRequest, caller: SessionSnapshot, visible: [SessionSnapshot], wanted: [String], responder: HTTPResponder) {
        var described: [JSONValue] = []
        if request.params?["authTokens"] == nil || request.params?["authTokens"] == .null {
            described = visible.map { describe($0, token: shownToken(of: $0, caller: caller, request: request)) }
        } else {
            for token in wanted {
                // A token the caller names is shown back as given; a fingerprint names a session without its token.
                let digest = SessionToken.isWellFormed(token) ? TokenDigest(token: token) : nil
                if let session = visible.first(where: { $0.digest == digest }) {
                    described.append(describe(session, token: token))
                } else if let session = visible.first(where: { $0.digest.fingerprint == token }) {
                    described.append(describe(session, token: token))
                }
            }
        }
        reply(responder, envelope(for: request, session: caller, result: .object([("sessions", .array(described))])))
    }

    /// Ends the caller's session and its upstream session. An unknown token succeeds with a
    /// 12031 warning, as newer FairCom servers answer.
    func deleteSession(_ request: ActionRequest, responder: HTTPResponder) {
        guard let known = lookUp(request, touch: false), let session = services.table.remove(known.digest) else {
            var answer = envelope(for: request, session: nil)
            let warning: JSONValue = .object([("code", .int(GatewayErrorCode.unknownSession.rawValue)),
                                              ("message", .string("'authToken' does not match any existing session. Use a valid 'authToken'."))])
            var debugInfo = answer.debugInfo ?? .object([])
            debugInfo.set("warnings", .array([warning]))
            answer.debugInfo = debugInfo
            reply(responder, answer)
            return
        }
        closeUpstreamSession(of: session, reason: "deleteSession")
        logger.info("session \(session.digest.fingerprint) of '\(session.username)' deleted")
        let answer = envelope(for: request, session: session)
        // A revoked API key must stay revoked after a crash: answer once the close is on disk.
        let send = loop.callback { [self] (error: SystemError?) in
            guard let error else {
                reply(responder, answer)
                return
            }
            // The session is ended here and now; only its record is late, and the journal writes it again.
            logger.error("session \(session.digest.fingerprint): the close could not be journaled (\(error)); retrying, it could return after a restart until written")
            reply(responder, failure(request, .sessionStoreFailed,
                "The session is ended, but the gateway could not yet record that durably (\(error.reason)); it keeps trying. Until it succeeds, a restart of the gateway could bring the session back."))
        }
        services.record(.closed(session.digest)) { send($0) }
    }

    /// Validated here, then given to the upstream session (which applies the defaults to every
    /// request), and recorded only once the upstream has accepted it: the answer reports the
    /// session as the upstream then describes it. Concurrent alterations of one session both
    /// apply: each is applied again to the settings the session has when it is recorded.
    func alterSession(_ request: ActionRequest, caller: SessionSnapshot, responder: HTTPResponder) {
        do {
            _ = try SessionParameters.applyAlter(request.params, to: caller.settings)
        } catch {
            reply(responder, failure(request, error.isDuplicate ? .duplicateProperty : .invalidProperty, error.message))
            return
        }
        guard let pool = pool(named: caller.upstream) else {
            reply(responder, unknownSession(request))
            return
        }
        // The upstream session never idles out by itself: the gateway keeps that timeout.
        let params = (request.params?.objectValue ?? []).filter { $0.0 != "idleConnectionTimeoutSeconds" }
        UpstreamCall.post(Self.upstreamAlterBody(params, token: caller.upstreamToken), to: pool) { [self] result in
            switch result {
            case .failure(let problem):
                let code: GatewayErrorCode = problem.kind == .connectTimeout || problem.kind == .responseTimeout ? .upstreamTimeout : .upstreamUnavailable
                reply(responder, failure(request, code, "\(problem.description); the session keeps its settings"))
            case .success((let status, let answerBody)):
                guard status == 200, let answer = try? JSONParser.parse(answerBody), let code = answer["errorCode"]?.intValue else {
                    reply(responder, failure(request, .upstreamUnavailable, "upstream '\(pool.target.name)': alterSession was answered with HTTP \(status) and no FairCom envelope; the session keeps its settings"))
                    return
                }
                guard code == 0 else {
                    if code == GatewayErrorCode.unknownSession.rawValue { upstreamLost(caller.digest) }
                    reply(responder, failure(request, GatewayErrorCode(rawValue: code), answer["errorMessage"]?.stringValue ?? "alterSession refused by upstream '\(pool.target.name)'"))
                    return
                }
                let reported = (answer["result"]?.objectValue ?? []).filter { $0.1.stringValue != caller.upstreamToken }
                record(alteration: request, reported: reported, of: caller, pool: pool, responder: responder)
            }
        }
    }

    static func upstreamAlterBody(_ params: [(String, JSONValue)], token: String) -> [UInt8] {
        var body = JSONWriter.bytes(.object([("api", .string("admin")), ("action", .string("alterSession")), ("params", .object(params))]))
        body.removeLast()
        body += Array(#","authToken":"#.utf8)
        JSONWriter.writeString(token, into: &body)
        body.append(UInt8(ascii: "}"))
        return body
    }

    private func record(alteration request: ActionRequest, reported: [(String, JSONValue)], of caller: SessionSnapshot,
                        pool: UpstreamPool, responder: HTTPResponder) {
        let changed = services.table.alter(caller.digest, now: loop.now) { current in
            var settings = try SessionParameters.applyAlter(request.params, to: current)
            if !reported.isEmpty { settings.adopt(upstreamResult: reported) }
            return settings
        }
        guard let (before, altered) = changed else {
            reply(responder, unknownSession(request))
            return
        }
        let answer = envelope(for: request, session: altered, resultJSON: sessionResultJSON(altered, token: request.authToken))
        let send = loop.callback { [self] (error: SystemError?) in
            guard let error else {
                reply(responder, answer)
                return
            }
            // Not durable, so not done: the session goes back to the settings it had, here and upstream.
            _ = services.table.alter(caller.digest, settings: before, now: loop.now)
            let keys = Set((request.params?.objectValue ?? []).map(\.0)).subtracting(["idleConnectionTimeoutSeconds"])
            let previous = (before.reportedMembers + before.upstreamReport).filter { keys.contains($0.0) }
            if !previous.isEmpty {
                let name = altered.digest.fingerprint, logger = self.logger
                UpstreamCall.post(Self.upstreamAlterBody(previous, token: caller.upstreamToken), to: pool) { result in
                    if case .failure(let problem) = result { logger.warning("session \(name): could not undo the alteration upstream: \(problem)") }
                }
            }
            logger.error("session \(altered.digest.fingerprint): the change could not be journaled (\(error)); undone")
            reply(responder, failure(request, .sessionStoreFailed, "The gateway could not record the change durably (\(error.reason)); the session keeps its settings. Try again later."))
        }
        if let fleetStore {
            recordInFleet(fleetStore, altered: altered) { send($0) }
        } else {
            services.record(.altered(altered.digest, altered.settings)) { send($0) }
        }
    }

    /// The sessions `caller` may see: this gateway's, or in fleet mode the whole fleet's.
    func withVisibleSessions(to caller: SessionSnapshot, request: ActionRequest, responder: HTTPResponder,
                             _ body: @escaping ([SessionSnapshot]) -> Void) {
        if let fleetStore {
            withFleetVisibleSessions(fleetStore, caller: caller, request: request, responder: responder, body)
        } else {
            body(visibleSessions(to: caller))
        }
    }

    /// Administrators see every session; other accounts see their own.
    func visibleSessions(to caller: SessionSnapshot) -> [SessionSnapshot] {
        let all = services.table.all().sorted { ($0.startedAt, $0.digest.hex) < ($1.startedAt, $1.digest.hex) }
        if services.isAdministrator(caller.username) { return all }
        return all.filter { $0.username.lowercased() == caller.username.lowercased() }
    }

    /// The gateway keeps only digests, so the one token it can show is the caller's own;
    /// every other session appears under its fingerprint.
    func shownToken(of session: SessionSnapshot, caller: SessionSnapshot, request: ActionRequest) -> String {
        session.digest == caller.digest ? (request.authToken ?? session.digest.fingerprint) : session.digest.fingerprint
    }

    func describe(_ session: SessionSnapshot, token: String) -> JSONValue {
        var value = sessionResult(session, token: token)
        value.set("clientIpAddress", .string(session.clientAddress))
        return value
    }

    private func stringArray(_ value: JSONValue?, _ property: String, bytes: ClosedRange<Int>) -> Result<[String], ParameterProblem> {
        guard let value, value != .null else { return .success([]) }
        guard let elements = value.arrayValue else {
            return .failure(ParameterProblem(message: "The property '\(property)' must be an array of strings, not \(value.typeDescription)."))
        }
        var out: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue, bytes.contains(text.utf8.count) else {
                return .failure(ParameterProblem(message: "The property '\(property)[\(index)]' must be a string of \(bytes.lowerBound) to \(bytes.upperBound) bytes."))
            }
            out.append(text)
        }
        return .success(out)
    }
}

/// Why a params property was refused, worded for errorMessage.
struct ParameterProblem: Error {
    let message: String
}
