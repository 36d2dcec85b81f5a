import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewayLogging
import GatewayUpstreams

/// The routes on one loop: `POST <apiRoot>[/...]` goes to the JSON Action handler; /health,
/// /ready, 404 and 405 are answered here. Every answer body is a FairCom-shaped envelope.
final class GatewayRequestHandler: HTTPRequestHandler {
    /// A reload may change both (on this loop).
    var apiRoot: String
    var targets: [UpstreamTarget]
    let actions: JSONActionHandler
    /// Every listener's connection count and TLS/HTTP/2 counters, for GET /stats.
    var listenerStatistics: [(name: String, counter: ConnectionCounter, statistics: ListenerStatistics)] = []
    var bodyBudget: BodyBudget?
    /// /health and /ready on the API listeners (admin.healthOnApiListeners).
    var servesHealth = true
    /// /stats on the API listeners: only while there is no admin listener to ask instead.
    var servesStatistics = true

    init(apiRoot: String, targets: [UpstreamTarget], actions: JSONActionHandler) {
        self.apiRoot = apiRoot
        self.targets = targets
        self.actions = actions
    }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) -> HTTPExchange? {
        let recorder = actions.recorder
        let path = request.head.path
        let client = ClientHeaders(request)
        let record = RequestRecord(recorder: recorder, request: request, path: path, client: client,
                                   requestId: recorder.requestId(given: client.requestId))
        if client.forwardingChain, let peer = request.peerHost {
            // Behind a trusted proxy, the log and the refusals name the client it speaks for.
            let chain = request.head.headers.values("x-forwarded-for")
            let resolved = actions.services.clientAddress(peer: peer, forwardedFor: chain.isEmpty ? nil : chain.joined(separator: ","))
            if resolved != peer {
                record.clientAddress = resolved
                record.proxyAddress = peer
            }
        }
        var responder = responder
        responder.observer = record
        responder.extraHeaders = [HTTPHeaderField("X-Request-ID", record.requestId)]
        if let problem = RequestPath.problem(path) {
            responder.respond(status: 400, body: FairComEnvelope.error(.badHTTPRequest, "\(problem)").bytes)
            return nil
        }
        if isAPIPath(path) {
            guard request.head.method == "POST" else {
                let envelope = FairComEnvelope.error(.methodNotAllowed, "\(request.head.method) is not allowed on \(path); JSON actions use POST")
                responder.respond(status: 405, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("Allow", "POST")], body: envelope.bytes)
                return nil
            }
            record.isJSONAction = true
            return actions.handle(request, responder: responder, suffix: path.dropFirst(apiRoot.count), record: record)
        }
        switch (request.head.method, path) {
        case ("GET", "/health") where servesHealth, ("HEAD", "/health") where servesHealth:
            StatusReports.health(responder)
        case ("GET", "/ready") where servesHealth, ("HEAD", "/ready") where servesHealth:
            answerReadiness(responder)
        case ("GET", "/stats") where servesStatistics:
            answerStatistics(responder)
        default:
            let envelope = FairComEnvelope.error(.notFound, "no route for \(request.head.method) \(path); JSON actions are POSTed to \(apiRoot)")
            responder.respond(status: 404, body: envelope.bytes)
        }
        return nil
    }

    func serverAnswered(_ answer: ServerAnswer) -> [HTTPHeaderField] {
        [HTTPHeaderField("X-Request-ID", actions.recorder.serverAnswered(answer))]
    }

    private func isAPIPath(_ path: Substring) -> Bool {
        // Compared as UTF-8: Substring.hasPrefix goes through Unicode-aware comparison.
        let root = apiRoot.utf8, bytes = path.utf8
        guard bytes.count >= root.count, bytes.prefix(root.count).elementsEqual(root) else { return false }
        return bytes.count == root.count || bytes[bytes.index(bytes.startIndex, offsetBy: root.count)] == UInt8(ascii: "/")
    }

    private func answerStatistics(_ responder: HTTPResponder) {
        StatusReports.statistics(listenerStatistics, bodyBudget: bodyBudget, responder)
    }

    private func answerReadiness(_ responder: HTTPResponder) {
        StatusReports.readiness(targets, responder)
    }
}

/// /health, /ready and /stats, answered alike on the API listeners and the admin listener.
enum StatusReports {
    static func health(_ responder: HTTPResponder) {
        responder.respond(status: 200, body: JSONWriter.bytes(.object([("status", .string("ok"))])))
    }

    static func statistics(_ listenerStatistics: [(name: String, counter: ConnectionCounter, statistics: ListenerStatistics)],
                           bodyBudget: BodyBudget?, _ responder: HTTPResponder) {
        let listeners: [JSONValue] = listenerStatistics.map { entry in
            var members: [(String, JSONValue)] = [("name", .string(entry.name)), ("openConnections", .number(String(entry.counter.current))),
                                                  ("acceptedConnections", .number(String(entry.counter.acceptedTotal)))]
            for counter in ListenerStatistics.Counter.allCases {
                members.append((counter.name, .number(String(entry.statistics[counter]))))
            }
            return .object(members)
        }
        var report: [(String, JSONValue)] = [("listeners", .array(listeners))]
        if let bodyBudget {
            report.append(("bufferedBodyBytes", .number(String(bodyBudget.inUse))))
            report.append(("maxBufferedBodyBytes", .number(String(bodyBudget.limit))))
        }
        responder.respond(status: 200, body: JSONWriter.bytes(.object(report)))
    }

    /// Ready while at least one upstream is healthy.
    static func readiness(_ targets: [UpstreamTarget], _ responder: HTTPResponder) {
        let states: [JSONValue] = targets.map { target in
            let state = switch target.health {
            case .healthy: "reachable"
            case .unhealthy: "unreachable"
            case .unknown: "unknown"
            }
            return .object([("name", .string(target.name)), ("state", .string(state))])
        }
        let ready = targets.contains { $0.health == .healthy }
        responder.respond(status: ready ? 200 : 503,
                          body: JSONWriter.bytes(.object([("ready", .bool(ready)), ("upstreams", .array(states))])))
    }
}

/// Builds the HTTP/1.1 request sent upstream. Only what FairCom needs crosses: the path under the
/// upstream's prefix, the content type, the length, and what `ForwardedHeaders` says of the client.
enum UpstreamRequestWriter {
    static func post(target: UpstreamTarget, suffix: Substring, query: Substring, contentType: String?,
                     forwarding: ForwardedHeaders?, body: [UInt8]) -> [UInt8] {
        post(target: target, suffix: suffix, query: query, contentType: contentType, forwarding: forwarding,
             bodyCount: body.count) { $0.append(contentsOf: body) }
    }

    /// The same, with the body written by `appendBody` (`bodyCount` bytes) straight after the head,
    /// so that a spliced body is built once, in place.
    static func post(target: UpstreamTarget, suffix: Substring, query: Substring, contentType: String?,
                     forwarding: ForwardedHeaders?, bodyCount: Int, appendBody: (inout [UInt8]) -> Void) -> [UInt8] {
        var path = target.path
        if !suffix.isEmpty {
            if path.hasSuffix("/") { path.removeLast() }
            path += suffix
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(320 + path.utf8.count + bodyCount)
        bytes.appendUTF8("POST ")
        bytes.appendUTF8(path)
        bytes.appendUTF8(query)
        bytes.appendUTF8(" HTTP/1.1\r\nHost: ")
        bytes.appendUTF8(target.hostHeader)
        bytes.appendUTF8("\r\nContent-Type: ")
        bytes.appendUTF8(contentType ?? "application/json")
        bytes.appendUTF8("\r\nContent-Length: ")
        HTTP1Serializer.appendDecimal(bodyCount, to: &bytes)
        forwarding?.write(into: &bytes)
        bytes.appendUTF8("\r\n\r\n")
        appendBody(&bytes)
        return bytes
    }
}
