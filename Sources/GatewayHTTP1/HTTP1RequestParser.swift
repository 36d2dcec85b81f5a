/// An incremental, strict HTTP/1.1 request parser: feed it bytes, it says how many it used and what it found.
///
/// Usage: call `parse` with the unconsumed input, drop `consumed` bytes, handle the event, and call again
/// while events come. After an error the connection must answer with `error.status` and close.
/// Pipelined requests simply follow each other in the input.
public struct HTTP1RequestParser: Sendable {
    private enum State: Sendable {
        case head(scannedUpTo: Int)
        case fixedBody(remaining: Int)
        case chunkedBody
    }

    // The enum last: its tag byte would otherwise be padded to eight (a parser lives in every connection).
    public let limits: HTTP1Limits
    private var body: [UInt8] = []
    private var chunked = ChunkedDecoder()
    private var state = State.head(scannedUpTo: 0)

    public init(limits: HTTP1Limits = HTTP1Limits()) {
        self.limits = limits
    }

    /// True between requests (nothing of the next request parsed yet).
    public var isIdle: Bool {
        if case .head(let scanned) = state { return scanned == 0 }
        return false
    }

    static let initialBodyCapacity = 65536

    /// Makes room for the whole declared body at once, so a large one is never copied to grow.
    public mutating func reserveDeclaredBody() {
        if case .fixedBody(let remaining) = state { body.reserveCapacity(body.count + remaining) }
    }

    /// Gives up the current request's body (the connection is closing), for its owner to free.
    public mutating func takeBufferedBody() -> [UInt8] {
        state = .head(scannedUpTo: 0)
        return takeBody()
    }

    /// Body bytes of the current request held so far.
    public var bufferedBodyCount: Int { body.count }

    public mutating func parse(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (consumed: Int, event: HTTP1RequestEvent?) {
        switch state {
        case .head(let scanned):
            // Empty lines before a request line are tolerated (RFC 9112 2.2).
            var skip = 0
            if scanned == 0 {
                while skip + 1 < bytes.count && bytes[skip] == 13 && bytes[skip + 1] == 10 { skip += 2 }
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[skip...])
            // A CR that may begin one more empty line waits, unscanned, for its LF (found by fuzzing:
            // otherwise the CRLF was taken for an empty request line when a read ended between them).
            if scanned == 0 && rest.count == 1 && rest[0] == 13 { return (skip, nil) }
            switch try scanHeaderBlock(rest, from: scanned, limits: limits) {
            case .needMore(let scannedUpTo):
                state = .head(scannedUpTo: scannedUpTo)
                return (skip, nil)
            case .complete(let length):
                let head = try makeHead(UnsafeRawBufferPointer(rebasing: rest[0..<length]))
                body = []
                switch head.framing {
                case .contentLength(let n) where n > 0:
                    state = .fixedBody(remaining: n)
                    // Only a first part: the connection reserves the rest (`reserveDeclaredBody`)
                    // once the body has its share of the gateway's budget.
                    body.reserveCapacity(min(n, Self.initialBodyCapacity))
                case .chunked:
                    state = .chunkedBody
                    chunked = ChunkedDecoder()
                default:
                    state = .fixedBody(remaining: 0)
                }
                return (skip + length, .head(head))
            }
        case .fixedBody(let remaining):
            let take = min(remaining, bytes.count)
            body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
            if take == remaining {
                state = .head(scannedUpTo: 0)
                return (take, .end(body: takeBody()))
            }
            state = .fixedBody(remaining: remaining - take)
            return (take, nil)
        case .chunkedBody:
            let maxBody = limits.maxBodyBytes
            var announced = body.count
            let used = try chunked.decode(bytes, maxTrailerBytes: limits.maxHeaderBytes, onChunkSize: { (size: Int) throws(HTTP1ParseError) in
                if size > maxBody - announced { throw Self.tooLarge(maxBody) }
                announced += size
            }, sink: { body.append(contentsOf: $0) })
            if chunked.isDone {
                state = .head(scannedUpTo: 0)
                return (used, .end(body: takeBody()))
            }
            return (used, nil)
        }
    }

    private mutating func takeBody() -> [UInt8] {
        defer { body = [] }
        return body
    }

    static func tooLarge(_ max: Int) -> HTTP1ParseError {
        HTTP1ParseError(status: 413, "request body exceeds \(max) bytes (limits.maxBodyBytes)")
    }

    private func makeHead(_ block: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> HTTP1RequestHead {
        let parsed = try parseHeaderBlock(block, limits: limits)
        let (method, target, versionMinor) = try parseRequestLine(parsed.startLine)
        let fields = parsed.framingFields
        var framing = try bodyFraming(of: fields) ?? .none
        if case .chunked = framing, versionMinor == 0 { throw .bad("Transfer-Encoding is not allowed in HTTP/1.0") }
        if case .contentLength(let n) = framing {
            if n > limits.maxBodyBytes { throw Self.tooLarge(limits.maxBodyBytes) }
            if n == 0 { framing = .none }
        }
        if versionMinor == 1 && !fields.hasHost { throw .bad("missing Host header") }
        // RFC 9112 §3.2: a request with more than one Host is answered 400 (proxies could disagree on which one counts).
        if fields.hostCount > 1 { throw .bad("more than one Host header") }
        var expectsContinue = false
        if let expect = fields.expect {
            guard equalsIgnoringCase(expect, "100-continue") else {
                throw HTTP1ParseError(status: 417, "unsupported Expect \"\(expect)\"")
            }
            expectsContinue = versionMinor == 1
        }
        let keepAlive = versionMinor == 1 ? !fields.connectionLists("close") : fields.connectionLists("keep-alive")
        return HTTP1RequestHead(method: method, target: target, versionMinor: versionMinor,
                                headers: parsed.headers, framing: framing, keepAlive: keepAlive, expectsContinue: expectsContinue)
    }

    /// "METHOD SP target SP HTTP/1.x", byte by byte.
    private func parseRequestLine(_ line: String) throws(HTTP1ParseError) -> (String, String, Int) {
        var line = line
        return try line.withUTF8 { bytes in
            Result { () throws(HTTP1ParseError) in try Self.splitRequestLine(bytes) }
        }.get()
    }

    private static func splitRequestLine(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTP1ParseError) -> (String, String, Int) {
        guard let firstSpace = bytes.firstIndex(of: 32) else { throw .bad("malformed request line") }
        let afterMethod = firstSpace + 1
        guard let secondSpace = bytes[afterMethod...].firstIndex(of: 32) else { throw .bad("malformed request line") }
        let method = UnsafeBufferPointer(rebasing: bytes[0..<firstSpace])
        let target = UnsafeBufferPointer(rebasing: bytes[afterMethod..<secondSpace])
        let version = UnsafeBufferPointer(rebasing: bytes[(secondSpace + 1)...])
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw .bad("invalid method") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw .bad("invalid request target") }
        guard version.count == 8, version.starts(with: "HTTP/".utf8), version[6] == UInt8(ascii: ".") else {
            throw .bad("malformed HTTP version")
        }
        guard version[5] == UInt8(ascii: "1"), version[7] == UInt8(ascii: "0") || version[7] == UInt8(ascii: "1") else {
            let shown = String(decoding: UnsafeBufferPointer(rebasing: version[5...]), as: UTF8.self)
            throw HTTP1ParseError(status: 505, "HTTP version \(shown) is not supported")
        }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), version[7] == UInt8(ascii: "1") ? 1 : 0)
    }
}
