/// The head of one response.
public struct HTTP1ResponseHead: Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var framing: BodyFraming
    /// Whether the connection may be reused after this response.
    public var keepAlive: Bool
}

public enum HTTP1ResponseEvent: Equatable, Sendable {
    case head(HTTP1ResponseHead)
    case body([UInt8])
    case end
}

/// An incremental response parser for the upstream side; the body is streamed as it arrives.
/// 1xx interim responses are skipped.
public struct HTTP1ResponseParser: Sendable {
    private enum State: Sendable {
        case head(scannedUpTo: Int)
        case fixedBody(remaining: Int)
        case chunkedBody
        case untilClose
        case done
    }

    public let limits: HTTP1Limits
    private var state = State.head(scannedUpTo: 0)
    private var chunked = ChunkedDecoder()
    private var bodyBytes = 0

    public init(limits: HTTP1Limits = HTTP1Limits(maxBodyBytes: Int.max)) {
        self.limits = limits
    }

    /// Whether any byte of a response has been parsed (a connection closing before that may be retried).
    public var hasStarted: Bool {
        if case .head(let scanned) = state { return scanned > 0 }
        return true
    }

    /// Prepares for the next response on a kept-alive connection.
    public mutating func reset() {
        state = .head(scannedUpTo: 0)
        bodyBytes = 0
    }

    /// `parse` for the request this response answers; pass `true` when it was a HEAD request.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (consumed: Int, event: HTTP1ResponseEvent?) {
        switch state {
        case .head(let scanned):
            switch try scanHeaderBlock(bytes, from: scanned, limits: limits) {
            case .needMore(let scannedUpTo):
                state = .head(scannedUpTo: scannedUpTo)
                return (0, nil)
            case .complete(let length):
                let head = try makeHead(UnsafeRawBufferPointer(rebasing: bytes[0..<length]))
                if head.status < 200 {
                    state = .head(scannedUpTo: 0)
                    let rest = try parse(UnsafeRawBufferPointer(rebasing: bytes[length...]))
                    return (length + rest.consumed, rest.event)
                }
                switch head.framing {
                case .contentLength(let n): state = n == 0 ? .done : .fixedBody(remaining: n)
                case .chunked: state = .chunkedBody; chunked = ChunkedDecoder()
                case .untilClose: state = .untilClose
                case .none: state = .done
                }
                return (length, .head(head))
            }
        case .fixedBody(let remaining):
            if bytes.isEmpty { return (0, nil) }
            let take = min(remaining, bytes.count)
            state = take == remaining ? .done : .fixedBody(remaining: remaining - take)
            return (take, .body(Array(UnsafeRawBufferPointer(rebasing: bytes[0..<take]))))
        case .chunkedBody:
            var out: [UInt8] = []
            let max = limits.maxBodyBytes
            var announced = bodyBytes
            let used = try chunked.decode(bytes, maxTrailerBytes: limits.maxHeaderBytes, onChunkSize: { (size: Int) throws(HTTP1ParseError) in
                if size > max - announced { throw HTTP1ParseError(status: 502, "response body exceeds \(max) bytes") }
                announced += size
            }, sink: { out.append(contentsOf: $0) })
            bodyBytes += out.count
            if !out.isEmpty {
                if chunked.isDone { state = .done }  // the next call reports the end
                return (used, .body(out))
            }
            if chunked.isDone {
                state = .head(scannedUpTo: 0)
                return (used, .end)
            }
            return (used, nil)
        case .untilClose:
            if bytes.isEmpty { return (0, nil) }
            return (bytes.count, .body(Array(bytes)))
        case .done:
            state = .head(scannedUpTo: 0)
            return (0, .end)
        }
    }

    /// The peer closed: ends a close-delimited body, otherwise the response was cut short.
    public mutating func finishAtEndOfStream() throws(HTTP1ParseError) -> HTTP1ResponseEvent {
        if case .untilClose = state {
            state = .head(scannedUpTo: 0)
            return .end
        }
        throw HTTP1ParseError(status: 502, "upstream closed the connection before the response was complete")
    }

    private func makeHead(_ block: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> HTTP1ResponseHead {
        let parsed = try parseHeaderBlock(block, limits: limits)
        let (versionMinor, status, reason) = try Self.parseStatusLine(parsed.startLine)
        var framing: BodyFraming
        do {
            framing = try bodyFraming(of: parsed.framingFields) ?? .untilClose
        } catch {
            throw HTTP1ParseError(status: 502, error.message)
        }
        if status == 204 || status == 304 || status < 200 { framing = .none }
        if case .contentLength(0) = framing { framing = .none }
        var keepAlive = versionMinor == 1
            ? !parsed.framingFields.connectionLists("close")
            : parsed.framingFields.connectionLists("keep-alive")
        if framing == .untilClose { keepAlive = false }
        return HTTP1ResponseHead(status: status, reason: reason, versionMinor: versionMinor,
                                 headers: parsed.headers, framing: framing, keepAlive: keepAlive)
    }

    /// "HTTP/1.x NNN reason", byte by byte.
    private static func parseStatusLine(_ line: String) throws(HTTP1ParseError) -> (Int, Int, String) {
        let utf8 = line.utf8
        let malformed = HTTP1ParseError(status: 502, "malformed status line")
        guard utf8.count >= 12, utf8.starts(with: "HTTP/1.".utf8) else { throw malformed }
        var index = utf8.index(utf8.startIndex, offsetBy: 7)
        let minor = utf8[index]
        guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else { throw malformed }
        index = utf8.index(after: index)
        guard utf8[index] == 32 else { throw malformed }
        var status = 0
        for _ in 0..<3 {
            index = utf8.index(after: index)
            let digit = utf8[index]
            guard digit >= 48 && digit <= 57 else { throw malformed }
            status = status * 10 + Int(digit - 48)
        }
        index = utf8.index(after: index)
        guard status >= 100 else { throw malformed }
        if index == utf8.endIndex { return (Int(minor - 48), status, "") }
        guard utf8[index] == 32 else { throw malformed }
        let reason = String(line[utf8.index(after: index)...])
        return (Int(minor - 48), status, reason)
    }
}
