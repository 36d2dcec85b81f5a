import GatewayHTTP1
import GatewayHTTPServer
import GatewayJSON
import GatewayLogging
import GatewayUpstreams

/// One client request relayed to an upstream: request out, response streamed back with
/// back-pressure, failures turned into FairCom-shaped errors (502/503/504).
final class ForwardExchange: UpstreamExchange, HTTPExchange {
    let requestBytes: [UInt8]
    private let clientBody: [UInt8]
    private let responder: HTTPResponder
    private let pool: UpstreamPool
    private let log: RequestLog?
    private var connection: UpstreamConnection?
    private var responseStarted = false
    private var retried = false
    private var finished = false

    init(requestBytes: [UInt8], clientBody: [UInt8], responder: HTTPResponder, pool: UpstreamPool, log: RequestLog?) {
        self.requestBytes = requestBytes
        self.clientBody = clientBody
        self.responder = responder
        self.pool = pool
        self.log = log
    }

    func start() { pool.submit(self) }

    func upstreamAssigned(_ connection: UpstreamConnection) {
        self.connection = connection
    }

    func upstreamResponseHead(_ head: HTTP1ResponseHead) {
        responseStarted = true
        let length: Int?
        switch head.framing {
        case .contentLength(let n): length = n
        case .none: length = 0
        case .chunked, .untilClose: length = nil
        }
        log?.status = head.status
        responder.beginStreaming(status: head.status, reason: head.reason,
                                 headers: [("Content-Type", head.headers["content-type"] ?? "application/json")],
                                 contentLength: length)
    }

    func upstreamResponseBody(_ bytes: [UInt8]) {
        responder.sendBody(bytes)
        if responder.isCongested, let connection {
            connection.pauseDelivery()
            responder.whenDrained { [weak self] in self?.connection?.resumeDelivery() }
        }
    }

    func upstreamResponseEnd() {
        connection = nil
        finished = true
        responder.end()
        log?.finish()
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        connection = nil
        if failure.retryable && !retried && !responseStarted {
            // A kept-alive connection the upstream had already closed: the request never arrived.
            retried = true
            pool.submit(self)
            return
        }
        finished = true
        log?.failure = failure.description
        if responseStarted {
            responder.end(reusable: false)
        } else {
            let code: GatewayErrorCode = switch failure.kind {
            case .connectTimeout, .responseTimeout: .upstreamTimeout
            case .queueFull: .upstreamBusy
            default: .upstreamUnavailable
            }
            log?.status = failure.httpStatus
            let envelope = FairComEnvelope.error(code, failure.description, requestId: FairComEnvelope.requestId(in: clientBody))
            responder.respond(status: failure.httpStatus, body: envelope.bytes)
        }
        log?.finish()
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
        log?.failure = "client closed the connection"
        log?.finish()
    }
}
