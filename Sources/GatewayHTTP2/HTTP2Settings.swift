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
    /// Frames that are cheap to send and cost the server work (RST_STREAM: the rapid-reset attack,
    /// CVE-2023-44487; SETTINGS and PING, which must be answered; header lists beyond the limit,
    /// which must still be decoded): a bucket of `costlyFrameBurst` refilled at
    /// `costlyFramesPerSecond`. An empty bucket ends the connection with GOAWAY ENHANCE_YOUR_CALM.
    public var costlyFrameBurst = 200
    public var costlyFramesPerSecond = 50

    public init() {}
}
