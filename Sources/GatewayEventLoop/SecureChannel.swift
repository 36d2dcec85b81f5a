/// What a secure channel (TLS) asks of the socket beneath it after one operation.
public enum ChannelStep: Equatable {
    /// The operation moved `count` bytes (for a handshake: it finished).
    case done(Int)
    /// Nothing more until the socket is readable.
    case wantRead
    /// Nothing more until the socket is writable.
    case wantWrite
    /// The peer ended the channel cleanly (close_notify).
    case closed
    /// The channel failed; the reason is worded for a log line.
    case failed(String)
}

/// A record layer between a connection and its socket (TLS). The connection hands it plaintext and
/// lets it drive the socket; it never touches the socket's descriptor itself.
public protocol SecureChannel: AnyObject {
    /// Advances the handshake; `.done` once it is complete.
    func handshake() -> ChannelStep
    /// Decrypts into `buffer`; `.done(n)` with n > 0, or what it waits for.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ChannelStep
    /// Encrypts and sends from `bytes`; after `.wantRead`/`.wantWrite` the same bytes (or more) must be offered again.
    func write(_ bytes: UnsafeRawBufferPointer) -> ChannelStep
    /// Sends close_notify without waiting for the peer's; only after a completed handshake.
    func shutdown()
    /// Whether the channel holds received bytes (decrypted or not) that epoll cannot report.
    var hasBufferedInput: Bool { get }
    /// Gives back the record buffers of an idle connection (kept while it is busy); they come back
    /// on the next read or write.
    func releaseBuffers()
}
