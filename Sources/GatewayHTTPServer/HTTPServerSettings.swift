import GatewayHTTP1

/// Limits and timeouts of the HTTP/1.1 server side. Timeouts are in milliseconds.
public struct HTTPServerSettings: Sendable {
    public var limits: HTTP1Limits
    /// From the first byte of a request until its head is complete. Default 10 s; then 408 and close.
    public var headerTimeoutMilliseconds: Int64
    /// From the end of the head until the body is complete. Default 30 s; then 408 and close.
    public var bodyTimeoutMilliseconds: Int64
    /// How long a kept-alive connection may sit without a request. Default 60 s; then it is closed.
    public var keepAliveTimeoutMilliseconds: Int64
    /// How long a response may wait for the client to read it. Default 60 s; then the connection is closed.
    public var sendTimeoutMilliseconds: Int64
    /// Pipelined bytes buffered while a request is being answered; beyond it the client is not read. Default 64 KiB.
    public var pipelineWindowBytes: Int
    /// Output queued for a slow client beyond which the producer is paused. Default 256 KiB.
    public var outputHighWaterBytes: Int
    /// Request body bytes held at once by every connection sharing these settings.
    public var bodyBudget: BodyBudget

    public init(limits: HTTP1Limits = HTTP1Limits(), headerTimeoutMilliseconds: Int64 = 10_000,
                bodyTimeoutMilliseconds: Int64 = 30_000, keepAliveTimeoutMilliseconds: Int64 = 60_000,
                sendTimeoutMilliseconds: Int64 = 60_000, pipelineWindowBytes: Int = 65536,
                outputHighWaterBytes: Int = 262_144, bodyBudget: BodyBudget = BodyBudget(limit: 256 << 20)) {
        self.limits = limits
        self.headerTimeoutMilliseconds = headerTimeoutMilliseconds
        self.bodyTimeoutMilliseconds = bodyTimeoutMilliseconds
        self.keepAliveTimeoutMilliseconds = keepAliveTimeoutMilliseconds
        self.sendTimeoutMilliseconds = sendTimeoutMilliseconds
        self.pipelineWindowBytes = pipelineWindowBytes
        self.outputHighWaterBytes = outputHighWaterBytes
        self.bodyBudget = bodyBudget
    }
}
