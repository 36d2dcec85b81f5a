import GatewayHTTP1

/// The way back to the client for one request. Stale responders (the client left, or the
/// request was already answered) are ignored, so an upstream finishing late does no harm.
public struct HTTPResponder {
    let connection: HTTP1ServerConnection
    let sequence: UInt64

    /// Whether the connection still waits for this answer.
    public var isActive: Bool { connection.isAwaiting(sequence) }

    /// Sends a whole response.
    public func respond(status: Int, headers: [(String, String)] = [("Content-Type", "application/json")], body: [UInt8]) {
        guard isActive else { return }
        connection.sendWholeResponse(status: status, headers: headers, body: body)
    }

    /// Starts a streamed response; `contentLength` nil streams chunked.
    public func beginStreaming(status: Int, reason: String? = nil, headers: [(String, String)], contentLength: Int?) {
        guard isActive else { return }
        connection.beginStreaming(status: status, reason: reason, headers: headers, contentLength: contentLength)
    }

    public func sendBody(_ bytes: [UInt8]) {
        guard isActive else { return }
        connection.sendStreamedBody(bytes)
    }

    /// Ends a streamed response; `reusable` false closes the connection after it (e.g. the body was cut short).
    public func end(reusable: Bool = true) {
        guard isActive else { return }
        connection.endStreaming(reusable: reusable)
    }

    /// Drops the connection without an answer (what a crashed peer would do).
    public func abort() {
        guard isActive else { return }
        connection.close()
    }

    /// True while more output is queued for the client than the high-water mark.
    public var isCongested: Bool { connection.isCongested }

    /// Calls `resume` once the client has taken the queued output.
    public func whenDrained(_ resume: @escaping () -> Void) {
        connection.whenDrained(resume)
    }
}
