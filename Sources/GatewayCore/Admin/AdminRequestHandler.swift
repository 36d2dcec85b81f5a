import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewaySystem
import GatewayUpstreams

/// The admin listener's routes on one loop: the status page at /, /metrics for Prometheus, and
/// /health, /ready and /stats. With `admin.bearerToken` set, every request must carry it.
final class AdminRequestHandler: HTTPRequestHandler {
    private let loop: EventLoop
    private let source: FiguresSource
    private let rates: RateWindow
    private var bearer: [UInt8]?
    static let topEntries = 10

    init(loop: EventLoop, source: FiguresSource, rates: RateWindow, bearerToken: String?) {
        self.loop = loop
        self.source = source
        self.rates = rates
        bearer = bearerToken.map { Array("Bearer \($0)".utf8) }
    }

    /// A reload's admin.bearerToken; on this loop.
    func setBearerToken(_ token: String?) { bearer = token.map { Array("Bearer \($0)".utf8) } }

    func handle(_ request: HTTPRequest, responder: HTTPResponder) -> HTTPExchange? {
        guard authorized(request) else {
            responder.respond(status: 401, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("WWW-Authenticate", "Bearer realm=\"gateway admin\"")],
                              body: FairComEnvelope.error(.unauthorized, "this admin listener needs Authorization: Bearer <admin.bearerToken>").bytes)
            return nil
        }
        let method = request.head.method
        guard method == "GET" || method == "HEAD" else {
            responder.respond(status: 405, headers: [HTTPHeaderField("Content-Type", "application/json"), HTTPHeaderField("Allow", "GET, HEAD")],
                              body: FairComEnvelope.error(.methodNotAllowed, "the admin listener answers GET only").bytes)
            return nil
        }
        switch request.head.path {
        case "/", "/status":
            source.gather(on: loop, top: Self.topEntries) { [rates] figures in
                let now = MonotonicClock.nowMilliseconds()
                let window = rates.record(requests: figures.counts.totalRequests, errors: figures.counts.unsuccessfulRequests, now: now)
                responder.respond(status: 200, headers: [HTTPHeaderField("Content-Type", "text/html; charset=utf-8"), HTTPHeaderField("Cache-Control", "no-store")],
                                  body: Array(StatusPage.html(figures, rates: window).utf8))
            }
        case "/metrics":
            source.gather(on: loop, top: 0) { figures in
                responder.respond(status: 200, headers: [HTTPHeaderField("Content-Type", MetricsExposition.contentType)],
                                  body: Array(MetricsExposition.text(figures).utf8))
            }
        case "/health":
            StatusReports.health(responder)
        case "/ready":
            StatusReports.readiness(source.targets, responder)
        case "/stats":
            StatusReports.statistics(source.listeners.map { ($0.name, $0.counter, $0.statistics) }, bodyBudget: source.bodyBudget, responder)
        case "/favicon.ico":
            responder.respond(status: 204, headers: [], body: [])
        default:
            responder.respond(status: 404, body: FairComEnvelope.error(.notFound, "no admin route for \(request.head.path); try /, /metrics, /health, /ready or /stats").bytes)
        }
        return nil
    }

    /// Compared in constant time, so the token cannot be guessed a byte at a time.
    private func authorized(_ request: HTTPRequest) -> Bool {
        guard let bearer else { return true }
        guard let given = request.head.headers["authorization"] else { return false }
        let bytes = Array(given.utf8)
        guard bytes.count == bearer.count else { return false }
        // Constant time over the whole value; the scheme's six letters compared without case (RFC 9110).
        var difference: UInt8 = 0
        for index in bytes.indices {
            difference |= index < 6 ? (bytes[index] | 0x20) ^ (bearer[index] | 0x20) : bytes[index] ^ bearer[index]
        }
        return difference == 0
    }
}
