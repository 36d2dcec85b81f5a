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
    /// HTTP/2 costly frames per client address, across connections.
    let addressFrames = AddressFrameLimits()

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
        case http2Connections, http2Streams, http2ResetsReceived, http2FloodsStopped, bodyBudgetRefusals

        public var name: String {
            switch self {
            case .handshakes: return "tlsHandshakes"
            case .resumedHandshakes: return "tlsResumedHandshakes"
            case .handshakeFailures: return "tlsHandshakeFailures"
            case .clientCertificateRejections: return "tlsClientCertificateRejections"
            case .handshakeTimeouts: return "tlsHandshakeTimeouts"
            case .http2Connections: return "http2Connections"
            case .http2Streams: return "http2Streams"
            case .http2ResetsReceived: return "http2ResetsReceived"
            case .http2FloodsStopped: return "http2FloodsStopped"
            case .bodyBudgetRefusals: return "bodyBudgetRefusals"
            }
        }
    }

    public init() {}

    public func count(_ counter: Counter) {
        counters[counter.rawValue].value.wrappingAdd(1, ordering: .relaxed)
    }

    public subscript(_ counter: Counter) -> Int { counters[counter.rawValue].value.load(ordering: .relaxed) }

    private let lastWarning = Atomic<Int64>(-1000)

    /// True at most once a second per listener: an attack repeated on every new connection then
    /// writes a line a second (with the running count), not a line per connection.
    public func mayWarn(now: Int64) -> Bool {
        let last = lastWarning.load(ordering: .relaxed)
        guard now - last >= 1000 else { return false }
        return lastWarning.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
    }
}
