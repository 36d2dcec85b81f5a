import GatewayHTTP1

/// Where a responder's answer goes: an HTTP/1.1 connection (one request at a time) or an HTTP/2
/// connection (one stream per request). `sequence` names the request on that connection.
protocol ResponseSink: AnyObject {
    func isAwaiting(_ sequence: UInt64) -> Bool
    func sendWholeResponse(_ sequence: UInt64, status: Int, headers: [HTTPHeaderField], body: [UInt8])
    func beginStreaming(_ sequence: UInt64, status: Int, reason: String?, headers: [HTTPHeaderField], contentLength: Int?)
    func sendStreamedBody(_ sequence: UInt64, _ bytes: [UInt8])
    func endStreaming(_ sequence: UInt64, reusable: Bool)
    func abort(_ sequence: UInt64)
    func isCongested(_ sequence: UInt64) -> Bool
    func whenDrained(_ sequence: UInt64, _ resume: @escaping () -> Void)
}

/// The way back to the client for one request. Stale responders (the client left, or the
/// request was already answered) are ignored, so an upstream finishing late does no harm.
public struct HTTPResponder {
    let sink: ResponseSink
    let sequence: UInt64
    /// Told of the answer as it goes out (access log, metrics).
    public var observer: ResponseObserver?
    /// Sent with every answer through this responder (X-Request-ID).
    public var extraHeaders: [HTTPHeaderField] = []

    init(sink: ResponseSink, sequence: UInt64) {
        self.sink = sink
        self.sequence = sequence
    }

    /// Whether the connection still waits for this answer.
    public var isActive: Bool { sink.isAwaiting(sequence) }

    /// Sends a whole response.
    public func respond(status: Int, headers: [HTTPHeaderField] = [HTTPHeaderField("Content-Type", "application/json")], body: [UInt8]) {
        guard isActive else { observer?.responseFinished(complete: false); return }
        sink.sendWholeResponse(sequence, status: status, headers: extraHeaders.isEmpty ? headers : headers + extraHeaders, body: body)
        if let observer {
            observer.responseStarted(status: status)
            observer.responseBodySent(body)
            observer.responseFinished(complete: true)
        }
    }

    /// Starts a streamed response; `contentLength` nil streams chunked (HTTP/1.1).
    public func beginStreaming(status: Int, reason: String? = nil, headers: [HTTPHeaderField], contentLength: Int?) {
        guard isActive else { return }
        sink.beginStreaming(sequence, status: status, reason: reason, headers: extraHeaders.isEmpty ? headers : headers + extraHeaders,
                            contentLength: contentLength)
        observer?.responseStarted(status: status)
    }

    public func sendBody(_ bytes: [UInt8]) {
        guard isActive else { return }
        sink.sendStreamedBody(sequence, bytes)
        observer?.responseBodySent(bytes)
    }

    /// Ends a streamed response; `reusable` false means the body was cut short (HTTP/1.1 closes the
    /// connection, HTTP/2 resets the stream).
    public func end(reusable: Bool = true) {
        guard isActive else { observer?.responseFinished(complete: false); return }
        sink.endStreaming(sequence, reusable: reusable)
        observer?.responseFinished(complete: reusable)
    }

    /// Drops the request without an answer (what a crashed peer would do).
    public func abort() {
        guard isActive else { observer?.responseFinished(complete: false); return }
        sink.abort(sequence)
        observer?.responseFinished(complete: false)
    }

    /// True while more output is queued for the client than the high-water mark.
    public var isCongested: Bool { sink.isCongested(sequence) }

    /// Calls `resume` once the client has taken the queued output.
    public func whenDrained(_ resume: @escaping () -> Void) {
        sink.whenDrained(sequence, resume)
    }
}

/// Follows one answer out: its status, its body's size, and whether it went out whole.
public protocol ResponseObserver: AnyObject {
    func responseStarted(status: Int)
    func responseBodySent(_ bytes: [UInt8])
    /// Once per answer; `complete` false when it was cut short or dropped. May be called again; only the first counts.
    func responseFinished(complete: Bool)
    /// The answer was cut by the gateway itself (shutdown), not by the client.
    func responseCut(errorCode: Int, reason: String)
}

public extension ResponseObserver {
    func responseCut(errorCode: Int, reason: String) { responseFinished(complete: false) }
}
