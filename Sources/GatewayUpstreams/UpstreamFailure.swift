import GatewaySystem

/// Why an upstream exchange failed, worded for the client's `errorMessage` and the log.
public struct UpstreamFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connectFailed
        case connectTimeout
        case responseTimeout
        case closedEarly
        case reset
        case malformedResponse
        case queueFull
    }

    public let kind: Kind
    public let upstream: String
    public let detail: String
    /// True when the request may be sent again safely: a reused connection died before any response byte.
    public let retryable: Bool

    public init(kind: Kind, upstream: String, detail: String, retryable: Bool = false) {
        self.kind = kind
        self.upstream = upstream
        self.detail = detail
        self.retryable = retryable
    }

    /// 504 for timeouts, 503 for a full queue, 502 otherwise.
    public var httpStatus: Int {
        switch kind {
        case .connectTimeout, .responseTimeout: return 504
        case .queueFull: return 503
        default: return 502
        }
    }

    public var description: String { "upstream '\(upstream)': \(detail)" }
}
