import GatewayHTTP1

/// The requester's side of one upstream round trip. All calls arrive on the pool's loop.
public protocol UpstreamExchange: AnyObject {
    /// The complete HTTP/1.1 request to send.
    var requestBytes: [UInt8] { get }
    /// A connection was assigned; keep it to pause delivery or to abandon the exchange.
    func upstreamAssigned(_ connection: UpstreamConnection)
    func upstreamResponseHead(_ head: HTTP1ResponseHead)
    /// The bytes are handed over (`consuming`): the receiver may change them in place.
    func upstreamResponseBody(_ bytes: consuming [UInt8])
    func upstreamResponseEnd()
    func upstreamFailed(_ failure: UpstreamFailure)
}
