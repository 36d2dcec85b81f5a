/// The head of one request.
public struct HTTP1RequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent, e.g. "/api/db?x=1".
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: Int
    public var headers: HTTPHeaders
    public var framing: BodyFraming
    /// Whether the connection may carry another request after this one.
    public var keepAlive: Bool
    /// The client sent `Expect: 100-continue` and waits for a go-ahead before the body.
    public var expectsContinue: Bool

    public init(method: String, target: String, versionMinor: Int, headers: HTTPHeaders, framing: BodyFraming,
                keepAlive: Bool, expectsContinue: Bool) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    /// The target without its query string.
    public var path: Substring {
        // Searched as UTF-8: a Character search walks grapheme breaks, many times slower per request.
        if let q = target.utf8.firstIndex(of: UInt8(ascii: "?")) { return target[..<q] }
        return target[...]
    }
}

/// What the request parser produced.
public enum HTTP1RequestEvent: Equatable, Sendable {
    /// A head is complete; the body (if any) follows.
    case head(HTTP1RequestHead)
    /// The request is complete with its decoded body.
    case end(body: [UInt8])
}
