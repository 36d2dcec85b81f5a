import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON

/// Routes the stub's requests on one loop: `/api` (and `/api/...`) for JSON actions, plus
/// `/health`, `/stub/faults` and `/stub/stats` for tests.
final class StubHandler: HTTPRequestHandler {
    private let loop: EventLoop
    private let state: StubState
    private let counter: ConnectionCounter
    private let actions: StubActions

    init(loop: EventLoop, state: StubState, counter: ConnectionCounter) {
        self.loop = loop
        self.state = state
        self.counter = counter
        actions = StubActions(state: state)
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) -> HTTPExchange? {
        let path = request.head.path
        let method = request.head.method
        if path == "/api" || path.hasPrefix("/api/") {
            guard method == "POST" else { return json(responder, 405, .object([("error", .string("use POST"))])) }
            return answerAction(request, responder)
        }
        switch (method, path) {
        case ("GET", "/health"):
            return json(responder, 200, .object([("status", .string("ok"))]))
        case ("GET", "/stub/stats"):
            return json(responder, 200, .object([
                ("connectionsOpen", .int(counter.current)), ("connectionsAccepted", .int(counter.acceptedTotal)),
                ("requests", .int(state.requests)), ("sessions", .int(state.sessionCount)), ("healthChecks", .int(state.healthChecks)),
            ]))
        case ("GET", "/stub/sessions"):
            return json(responder, 200, .object([("sessions", .array(state.liveSessions.map { session in
                .object([("username", .string(session.username)),
                         ("idleConnectionTimeoutSeconds", .int(session.idleConnectionTimeoutSeconds)),
                         ("permanentSession", .bool(session.permanentSession)),
                         ("idleCursorTimeoutSeconds", .int(session.idleCursorTimeoutSeconds)),
                         ("settings", .object(session.settings))])
            }))]))
        case ("GET", "/stub/requests"):
            return json(responder, 200, .object([("requests", .array(state.recentRequests.map { .string(String(decoding: $0, as: UTF8.self)) }))]))
        case ("GET", "/stub/headers"):
            return json(responder, 200, .object([("requests", .array(state.recentHeaders.map { fields in
                .object(fields.map { ($0.0, .string($0.1)) })
            }))]))
        case ("POST", "/stub/faults"):
            guard let body = try? JSONParser.parse(request.body),
                  let mode = StubFaults.Mode(rawValue: body["mode"]?.stringValue ?? "none") else {
                return json(responder, 400, .object([("error", .string("expected {\"mode\": none|close|http500|hang, \"latencyMilliseconds\": n}"))]))
            }
            state.faults = StubFaults(mode: mode, latencyMilliseconds: body["latencyMilliseconds"]?.intValue ?? 0)
            return json(responder, 200, .object([("mode", .string(mode.rawValue))]))
        default:
            return json(responder, 404, .object([("error", .string("not found"))]))
        }
    }

    private func json(_ responder: HTTPResponder, _ status: Int, _ value: JSONValue) -> HTTPExchange? {
        responder.respond(status: status, body: JSONWriter.bytes(value))
        return nil
    }

    private func answerAction(_ request: HTTPRequest, _ responder: HTTPResponder) -> HTTPExchange? {
        // A gateway's health checks are counted apart, so tests can count the requests clients made.
        if request.head.headers["user-agent"] == "faircom-gateway-health-check" {
            state.countHealthCheck()
        } else {
            state.countRequest(request.body)
            state.noteHeaders(request.head.headers.fields.map { (name: $0.name, value: $0.value) })
        }
        let faults = state.faults
        switch faults.mode {
        case .hang:
            return DelayedAnswer.hanging()
        case .close:
            responder.abort()
            return nil
        case .http500, .none:
            let status = faults.mode == .http500 ? 500 : 200
            let body = faults.mode == .http500 ? Array("internal error (stub fault)".utf8) : actions.answer(request.body).bytes
            let contentType = faults.mode == .http500 ? "text/plain" : "application/json"
            if faults.latencyMilliseconds > 0 {
                return DelayedAnswer.schedule(on: loop, after: faults.latencyMilliseconds) {
                    responder.respond(status: status, headers: [HTTPHeaderField("Content-Type", contentType)], body: body)
                }
            }
            responder.respond(status: status, headers: [HTTPHeaderField("Content-Type", contentType)], body: body)
            return nil
        }
    }
}

/// An answer sent after a delay (or never); cancelled if the client leaves first.
final class DelayedAnswer: HTTPExchange, TimerHandler {
    private var send: (() -> Void)?
    private var timer = TimerID.none
    private weak var loop: EventLoop?

    static func schedule(on loop: EventLoop, after milliseconds: Int, _ send: @escaping () -> Void) -> DelayedAnswer {
        let answer = DelayedAnswer()
        answer.send = send
        answer.loop = loop
        answer.timer = loop.schedule(after: Int64(milliseconds), handler: answer)
        return answer
    }

    static func hanging() -> DelayedAnswer { DelayedAnswer() }

    func timerFired(_ tag: Int) {
        let pending = send
        send = nil
        pending?()
    }

    func cancel() {
        send = nil
        loop?.cancel(timer)
    }
}
