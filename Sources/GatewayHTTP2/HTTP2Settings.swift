/// Limits a server-side HTTP/2 connection announces and enforces.
public struct HTTP2Settings: Sendable, Equatable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS. Default 100 (nginx's and Envoy's default is of that order).
    public var maxConcurrentStreams: UInt32 = 100
    /// Header block bytes per request (names + values + 32 each, as HTTP/2 counts them).
    public var maxHeaderListBytes = 16384
    public var maxHeaderCount = 100
    /// Request body bytes per stream.
    public var maxBodyBytes = 16 << 20
    /// SETTINGS_INITIAL_WINDOW_SIZE for request bodies.
    public var initialWindowBytes: UInt32 = 1 << 20
    /// RST_STREAM frames a client may send: a bucket of `resetBurst` refilled at `resetsPerSecond`.
    /// An empty bucket ends the connection with GOAWAY ENHANCE_YOUR_CALM (the rapid-reset attack,
    /// CVE-2023-44487, costs the server a stream's work for one cheap frame).
    public var resetBurst = 200
    public var resetsPerSecond = 50

    public init() {}
}
