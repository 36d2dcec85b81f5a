/// Size limits a parser enforces; each breach is a distinct `HTTP1ParseError`.
public struct HTTP1Limits: Sendable, Equatable {
    /// Bytes of the request line plus all header lines. Default 16 KiB; beyond it: 431.
    public var maxHeaderBytes: Int
    /// Number of header lines. Default 100; beyond it: 431.
    public var maxHeaderCount: Int
    /// Decoded body bytes. Default 16 MiB (bulk inserts); beyond it: 413.
    public var maxBodyBytes: Int

    public init(maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100, maxBodyBytes: Int = 16 << 20) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Why a message was rejected, with the HTTP status the peer should get. The connection must close after it.
public struct HTTP1ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String

    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status): \(message)" }

    static func bad(_ message: String) -> HTTP1ParseError { HTTP1ParseError(status: 400, message) }
}
