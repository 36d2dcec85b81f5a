import GatewayHTTP1
import GatewaySystem

/// One complete request as the server hands it to its handler.
public struct HTTPRequest: Sendable {
    public var head: HTTP1RequestHead
    public var body: [UInt8]
    /// The client's address as the socket saw it.
    public var peer: SocketAddress?
    /// `peer`'s numeric host, formatted once per connection.
    public var peerHost: String?
    public var listenerName: String
    /// The verified client certificate's subject CN (mutual TLS).
    public var clientCommonName: String?
    /// The listener demands createSession's username equal `clientCommonName`.
    public var usernameMustMatchCertificate = false
    /// "HTTP/1.1" or "HTTP/2", for logs.
    public var protocolName = "HTTP/1.1"
    /// The negotiated TLS version ("TLSv1.3"); nil on a plain listener.
    public var tlsVersion: String?
    /// When the request was complete (monotonic microseconds).
    public var receivedAtMicroseconds: Int64 = MonotonicClock.nowMicroseconds()
    /// The body's share of the gateway's body budget; whoever keeps the body keeps this with it.
    public var bodyClaim: BodyClaim?

    public init(head: HTTP1RequestHead, body: [UInt8], peer: SocketAddress?, peerHost: String?, listenerName: String) {
        self.head = head
        self.body = body
        self.peer = peer
        self.peerHost = peerHost
        self.listenerName = listenerName
    }
}

/// Work started for a request that must stop if the client goes away first.
public protocol HTTPExchange: AnyObject {
    func cancel()
    /// The way back to the client, as the handler set it up (its observer and headers), so that a
    /// connection cut at shutdown answers through it: the client gets its X-Request-ID and the
    /// access log the request's own line.
    var clientResponder: HTTPResponder? { get }
    /// The client closed its side before the answer (HTTP/1.1 EOF): work that has not reached the
    /// upstream yet (still queued for a connection) is withdrawn, as HAProxy's abortonclose does, and
    /// true returned. Work already sent goes on, and its answer is written: a client that only
    /// half-closed still reads it.
    func withdrawIfNotSent() -> Bool
}

public extension HTTPExchange {
    var clientResponder: HTTPResponder? { nil }
    func withdrawIfNotSent() -> Bool { false }
}

/// Answers requests. `handle` is called on the connection's loop, one request at a time per connection;
/// it must eventually answer through the responder exactly once (or the client closes first).
public protocol HTTPRequestHandler: AnyObject {
    /// Returns the pending work when the answer comes later, so that a vanished client can cancel it.
    func handle(_ request: HTTPRequest, responder: HTTPResponder) -> HTTPExchange?
    /// The server answered a request itself, before any handler saw it (malformed, too large,
    /// too slow, over the body budget).
    /// Returns the headers to send with that answer (its X-Request-ID).
    func serverAnswered(_ answer: ServerAnswer) -> [HTTPHeaderField]
}

public extension HTTPRequestHandler {
    func serverAnswered(_ answer: ServerAnswer) -> [HTTPHeaderField] { [] }
}

/// A request the server answered itself, as the access log and metrics see it.
public struct ServerAnswer: Sendable {
    public var status: Int
    public var errorCode: Int
    public var message: String
    public var peerHost: String?
    public var listenerName: String
    public var protocolName: String
    public var tlsVersion: String?
    public var method: String?
    public var path: String?
    /// The client's X-Request-ID, when its headers were read before the answer.
    public var clientRequestId: String? = nil
}
