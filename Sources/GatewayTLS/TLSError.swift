import CGatewayShims
import Glibc

/// A TLS setup or handshake failure, worded for the operator (file path and reason).
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// OpenSSL keeps its errors in a per-thread queue; every failure path drains it into words.
enum OpenSSLErrors {
    static func drain() -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let length = cgw_ssl_errors(&buffer, buffer.count)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `what` followed by OpenSSL's reasons, when it gave any.
    static func error(_ what: String) -> TLSError {
        let reasons = drain()
        return TLSError(reasons.isEmpty ? what : "\(what): \(reasons)")
    }
}
