import GatewayHTTP1
import GatewayUpstreams

/// A request the gateway itself makes of an upstream (a login, closing an upstream session):
/// the whole response is collected and handed to `completion` on the pool's loop.
final class UpstreamCall: UpstreamExchange {
    /// Bodies the gateway reads itself are small; anything larger is a broken upstream.
    static let maxResponseBytes = 1 << 20

    let requestBytes: [UInt8]
    private let pool: UpstreamPool
    private var completion: ((Result<(status: Int, body: [UInt8]), UpstreamFailure>) -> Void)?
    private var status = 0
    private var body: [UInt8] = []
    private var retried = false
    private var responseStarted = false

    private init(pool: UpstreamPool, body: [UInt8], forwarding: ForwardedHeaders?,
                 completion: @escaping (Result<(status: Int, body: [UInt8]), UpstreamFailure>) -> Void) {
        self.pool = pool
        requestBytes = UpstreamRequestWriter.post(target: pool.target, suffix: "", query: "", contentType: nil,
                                                  forwarding: forwarding, body: body)
        self.completion = completion
    }

    /// Posts `body` to `pool`'s upstream endpoint; `forwarding` says whose request it is (a login).
    @discardableResult
    static func post(_ body: [UInt8], to pool: UpstreamPool, forwarding: ForwardedHeaders? = nil,
                     completion: @escaping (Result<(status: Int, body: [UInt8]), UpstreamFailure>) -> Void) -> UpstreamCall {
        let call = UpstreamCall(pool: pool, body: body, forwarding: forwarding, completion: completion)
        pool.submit(call)
        return call
    }

    func upstreamAssigned(_ connection: UpstreamConnection) {}

    func upstreamResponseHead(_ head: HTTP1ResponseHead) {
        responseStarted = true
        status = head.status
        pool.noteOutcome(failed: head.status >= 500, "answered HTTP \(head.status)")
    }

    func upstreamResponseBody(_ bytes: consuming [UInt8]) {
        guard body.count + bytes.count <= Self.maxResponseBytes else {
            finish(.failure(UpstreamFailure(kind: .malformedResponse, upstream: pool.target.name,
                                            detail: "answer larger than \(Self.maxResponseBytes) bytes")))
            return
        }
        body += bytes
    }

    func upstreamResponseEnd() { finish(.success((status, body))) }

    func upstreamFailed(_ failure: UpstreamFailure) {
        if failure.retryable && !retried && !responseStarted {
            retried = true
            pool.submit(self)
            return
        }
        if failure.kind != .queueFull { pool.noteOutcome(failed: true, failure.description) }
        finish(.failure(failure))
    }

    private func finish(_ result: Result<(status: Int, body: [UInt8]), UpstreamFailure>) {
        let pending = completion
        completion = nil
        pending?(result)
    }
}
