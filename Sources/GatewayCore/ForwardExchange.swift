import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewayLogging
import GatewaySessions
import GatewaySystem
import GatewayUpstreams

/// What a forwarded request of a session changes in the response: the upstream's token becomes
/// the gateway's, and an upstream that no longer knows the session (12031) ends it here too.
/// When both tokens have the same length (FairCom's are 64 characters, like the gateway's) the
/// response streams through with its own framing; otherwise a body up to `wholeBodyLimit` is
/// rewritten whole with a new Content-Length, and a larger one streams chunked.
struct SessionResponseRewrite {
    static let wholeBodyLimit = 1 << 20
    /// 12031 answers are small; only a body that arrives whole and below this size is checked.
    static let unknownSessionCheckLimit = 64 * 1024
    var substitution: TokenSubstitution
    /// A loop's handler lives as long as the process, so no reference counting is needed here.
    unowned(unsafe) let handler: JSONActionHandler
    let session: TokenDigest

    func upstreamSessionLost() { handler.upstreamLost(session) }
}

/// One client request relayed to an upstream: request out, response streamed back with
/// back-pressure, failures turned into FairCom-shaped errors (502/503/504).
final class ForwardExchange: UpstreamExchange, HTTPExchange {
    let requestBytes: [UInt8]
    private let clientBody: [UInt8]
    /// The body's share of the gateway's body budget, held while this exchange holds the body.
    private let bodyClaim: BodyClaim?
    private let responder: HTTPResponder
    var clientResponder: HTTPResponder? { responder }
    private let pool: UpstreamPool
    private let record: RequestRecord?
    private var connection: UpstreamConnection?
    private var responseStarted = false
    private var retried = false
    private var finished = false
    private var rewrite: SessionResponseRewrite?
    private var wholeBody: [UInt8]?
    private var head: HTTP1ResponseHead?
    private var expectedLength: Int?

    init(requestBytes: [UInt8], clientBody: [UInt8], bodyClaim: BodyClaim?, responder: HTTPResponder, pool: UpstreamPool, record: RequestRecord?,
         rewrite: SessionResponseRewrite? = nil) {
        self.requestBytes = requestBytes
        self.clientBody = clientBody
        self.bodyClaim = bodyClaim
        self.responder = responder
        self.pool = pool
        self.record = record
        self.rewrite = rewrite
    }

    deinit {
        OffLoopRelease.release(requestBytes)
        OffLoopRelease.release(clientBody)
    }

    func start() {
        record?.upstreamStarted()
        pool.counters.requests += 1
        pool.submit(self)
    }

    func withdrawIfNotSent() -> Bool {
        guard !finished, connection == nil else { return false }
        cancel()
        return true
    }

    func upstreamAssigned(_ connection: UpstreamConnection) {
        self.connection = connection
    }

    func upstreamResponseHead(_ head: HTTP1ResponseHead) {
        responseStarted = true
        pool.noteOutcome(failed: head.status >= 500, "answered HTTP \(head.status)")
        let length: Int?
        switch head.framing {
        case .contentLength(let n): length = n
        case .none: length = 0
        case .chunked, .untilClose: length = nil
        }
        expectedLength = length
        if let rewrite, !rewrite.substitution.preservesLength {
            if let length, length <= SessionResponseRewrite.wholeBodyLimit {
                self.head = head
                wholeBody = []
                wholeBody?.reserveCapacity(length)
                return
            }
            // The token's length changes the body's, so a large body streams chunked.
            responder.beginStreaming(status: head.status, reason: head.reason,
                                     headers: [HTTPHeaderField("Content-Type", head.headers["content-type"] ?? "application/json")],
                                     contentLength: nil)
            return
        }
        responder.beginStreaming(status: head.status, reason: head.reason,
                                 headers: [HTTPHeaderField("Content-Type", head.headers["content-type"] ?? "application/json")],
                                 contentLength: length)
    }

    func upstreamResponseBody(_ bytes: consuming [UInt8]) {
        if wholeBody != nil {
            wholeBody! += bytes
            return
        }
        if rewrite == nil {
            responder.sendBody(bytes)
        } else {
            if bytes.count == expectedLength, bytes.count <= SessionResponseRewrite.unknownSessionCheckLimit,
               Self.reportsUnknownSession(bytes) {
                rewrite!.upstreamSessionLost()
            }
            // Taking ownership keeps the buffer unique, so the in-place token swap does not copy it.
            var chunk = consume bytes
            rewrite!.substitution.feed(&chunk)
            responder.sendBody(chunk)
        }
        if responder.isCongested, let connection {
            connection.pauseDelivery()
            responder.whenDrained { [weak self] in self?.connection?.resumeDelivery() }
        }
    }

    func upstreamResponseEnd() {
        connection = nil
        finished = true
        record?.upstreamEnded()
        if var rewrite, let body = wholeBody, let head {
            if Self.reportsUnknownSession(body) { rewrite.upstreamSessionLost() }
            responder.respond(status: head.status, headers: [HTTPHeaderField("Content-Type", head.headers["content-type"] ?? "application/json")],
                              body: rewrite.substitution.replacingAll(in: body))
        } else {
            if rewrite != nil { responder.sendBody(rewrite!.substitution.finish()) }
            responder.end()
        }
    }

    /// Whether an upstream answer is FairCom's 12031: the upstream no longer has the session.
    /// FairCom writes `errorCode` at the end of its envelope (before only `errorMessage`), so only
    /// the last 256 bytes are searched; a hit there is confirmed by reading the envelope.
    private static let unknownSessionCode = Array("12031".utf8)

    static func reportsUnknownSession(_ body: [UInt8]) -> Bool {
        let code = unknownSessionCode
        let tail = max(0, body.count - 256)
        guard body.count <= SessionResponseRewrite.unknownSessionCheckLimit,
              ByteSearch.firstIndex(of: code, in: body, from: tail) != nil,
              let scan = try? JSONObjectScan.scan(body), let member = scan.member("errorCode") else { return false }
        return body[member.value].elementsEqual(code)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        connection = nil
        if failure.retryable && !retried && !responseStarted {
            // A kept-alive connection the upstream had already closed: the request never arrived.
            retried = true
            pool.counters.retries += 1
            pool.submit(self)
            return
        }
        finished = true
        record?.upstreamEnded()
        record?.reason = failure.description
        pool.counters.failures += 1
        if failure.kind != .queueFull { pool.noteOutcome(failed: true, failure.description) }
        if failure.kind == .connectTimeout || failure.kind == .responseTimeout { pool.counters.timeouts += 1 }
        if responseStarted {
            responder.end(reusable: false)
        } else {
            let code: GatewayErrorCode = switch failure.kind {
            case .connectTimeout, .responseTimeout: .upstreamTimeout
            case .queueFull: .upstreamBusy
            default: .upstreamUnavailable
            }
            let envelope = FairComEnvelope.error(code, failure.description, requestId: FairComEnvelope.requestId(in: clientBody))
            responder.respond(status: failure.httpStatus, body: envelope.bytes)
        }
    }

    func cancel() {
        guard !finished else { return }
        finished = true
        if let connection {
            self.connection = nil
            connection.abandon()
        } else {
            pool.withdraw(self)
        }
        record?.upstreamEnded()
        record?.reason = "client closed the connection"
        record?.responseFinished(complete: false)
    }
}
