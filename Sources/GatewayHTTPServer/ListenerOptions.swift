import GatewayHTTP2
import GatewayTLS
import Synchronization

/// What one configured listener adds to the shared HTTP settings: TLS, HTTP/2 and their counters.
public struct ListenerOptions: Sendable {
    /// TLS termination; nil for a plain listener.
    public var tls: TLSContextHolder?
    public var handshakeTimeoutMilliseconds: Int64 = 10_000
    /// HTTP/2 (ALPN h2 on TLS, prior-knowledge h2c on plain); nil to speak HTTP/1.1 only.
    public var http2: HTTP2Settings?
    /// createSession must name the client certificate's subject CN as its username.
    public var usernameMustMatchCertificate = false
    public let statistics = ListenerStatistics()

    public init() {}
}

/// Counters of one listener across loops (relaxed atomics: they are read for reports only).
public final class ListenerStatistics: Sendable {
    private let counters = Counter.allCases.map { _ in Cell() }

    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    public enum Counter: Int, CaseIterable, Sendable {
        case handshakes, resumedHandshakes, handshakeFailures, clientCertificateRejections, handshakeTimeouts
        case http2Connections, http2Streams

        public var name: String {
            switch self {
            case .handshakes: return "tlsHandshakes"
            case .resumedHandshakes: return "tlsResumedHandshakes"
            case .handshakeFailures: return "tlsHandshakeFailures"
            case .clientCertificateRejections: return "tlsClientCertificateRejections"
            case .handshakeTimeouts: return "tlsHandshakeTimeouts"
            case .http2Connections: return "http2Connections"
            case .http2Streams: return "http2Streams"
            }
        }
    }

    public init() {}

    public func count(_ counter: Counter) {
        counters[counter.rawValue].value.wrappingAdd(1, ordering: .relaxed)
    }

    public subscript(_ counter: Counter) -> Int { counters[counter.rawValue].value.load(ordering: .relaxed) }
}
