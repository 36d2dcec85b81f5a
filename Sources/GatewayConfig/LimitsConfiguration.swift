/// `limits`: what one client request may cost.
public struct LimitsConfiguration: Sendable, Equatable {
    /// Request line plus headers. Default 16 KiB; beyond: 431.
    public var maxHeaderBytes = 16384
    /// Default 100; beyond: 431.
    public var maxHeaderCount = 100
    /// Request body. Default 16 MiB (bulk inserts); beyond: 413.
    public var maxBodyBytes = 16 << 20
    /// From a request's first byte to the end of its headers. Default 10 s; then 408.
    public var headerTimeoutSeconds = 10.0
    /// From the end of the headers to the end of the body. Default 30 s; then 408.
    public var bodyTimeoutSeconds = 30.0
    /// An idle kept-alive client connection is closed after this. Default 60 s.
    public var keepAliveTimeoutSeconds = 60.0
    /// A client that does not read its response for this long is dropped. Default 60 s.
    public var sendTimeoutSeconds = 60.0
    /// HTTP/2 streams one connection may have open at once. Default 100; more are refused.
    public var maxConcurrentStreams = 100
    /// Request body bytes the whole gateway buffers at once. Default 256 MiB; beyond: 503 (17006).
    public var maxBufferedBodyBytes = 256 << 20
    /// RST_STREAM, SETTINGS and PING frames and oversized header lists one HTTP/2 client (one
    /// connection, and one address across its connections) may send at once, and then per second,
    /// before GOAWAY ENHANCE_YOUR_CALM. Defaults 200 and 50.
    public var http2CostlyFrameBurst = 200
    public var http2CostlyFramesPerSecond = 50
    /// On SIGTERM/SIGINT, how long requests under way may take to finish. Default 10 s.
    public var shutdownGraceSeconds = 10.0

    public init() {}

    static func decode(_ reader: ObjectReader) -> LimitsConfiguration {
        var reader = reader
        var limits = LimitsConfiguration()
        limits.maxHeaderBytes = reader.int("maxHeaderBytes", default: limits.maxHeaderBytes, range: 1024...1 << 20)
        limits.maxHeaderCount = reader.int("maxHeaderCount", default: limits.maxHeaderCount, range: 1...10_000)
        limits.maxBodyBytes = reader.int("maxBodyBytes", default: limits.maxBodyBytes, range: 1...1 << 30)
        limits.headerTimeoutSeconds = reader.seconds("headerTimeoutSeconds", default: limits.headerTimeoutSeconds, range: 0.01...3600)
        limits.bodyTimeoutSeconds = reader.seconds("bodyTimeoutSeconds", default: limits.bodyTimeoutSeconds, range: 0.01...3600)
        limits.keepAliveTimeoutSeconds = reader.seconds("keepAliveTimeoutSeconds", default: limits.keepAliveTimeoutSeconds, range: 0.01...86_400)
        limits.sendTimeoutSeconds = reader.seconds("sendTimeoutSeconds", default: limits.sendTimeoutSeconds, range: 0.01...86_400)
        limits.maxConcurrentStreams = reader.int("maxConcurrentStreams", default: limits.maxConcurrentStreams, range: 1...10_000)
        limits.maxBufferedBodyBytes = reader.int("maxBufferedBodyBytes", default: limits.maxBufferedBodyBytes, range: 1 << 16...1 << 40)
        // Bodies above 64 KiB may use seven eighths of the budget (the rest is kept for small ones).
        let largeBodyShare = limits.maxBufferedBodyBytes - limits.maxBufferedBodyBytes / 8
        if limits.maxBodyBytes > 65536 && largeBodyShare < limits.maxBodyBytes {
            let needed = (limits.maxBodyBytes * 8 + 6) / 7
            reader.report("maxBufferedBodyBytes", "\(limits.maxBufferedBodyBytes) is less than limits.maxBodyBytes (\(limits.maxBodyBytes)) plus the eighth kept for small bodies: a body of the allowed size could never be buffered; use at least \(needed)")
        } else if limits.maxBufferedBodyBytes < limits.maxBodyBytes {
            reader.report("maxBufferedBodyBytes", "\(limits.maxBufferedBodyBytes) is less than limits.maxBodyBytes (\(limits.maxBodyBytes)): a body of the allowed size could never be buffered")
        }
        limits.http2CostlyFrameBurst = reader.int("http2CostlyFrameBurst", default: limits.http2CostlyFrameBurst, range: 1...1_000_000)
        limits.http2CostlyFramesPerSecond = reader.int("http2CostlyFramesPerSecond", default: limits.http2CostlyFramesPerSecond, range: 1...1_000_000)
        limits.shutdownGraceSeconds = reader.seconds("shutdownGraceSeconds", default: limits.shutdownGraceSeconds, range: 0...3600)
        reader.finish()
        return limits
    }
}
