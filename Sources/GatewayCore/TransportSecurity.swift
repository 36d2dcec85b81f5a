import GatewayConfig
import GatewayEventLoop
import GatewayHTTP2
import GatewayHTTPServer
import GatewayLogging
import GatewayTLS

/// The TLS and HTTP/2 side of the configured listeners and upstreams: built at start, checked by
/// `check-config`, and rebuilt on SIGHUP (certificates only; a bad reload keeps what runs).
enum TransportSecurity {
    /// Listener options for one configured listener; throws the first TLS problem with its path.
    static func listenerOptions(_ listener: ListenerConfiguration, limits: LimitsConfiguration) throws(TLSError) -> ListenerOptions {
        var options = ListenerOptions()
        options.http2 = http2Settings(listener, limits: limits)
        if let tls = listener.tls {
            let tickets = try TicketKeyRing()
            options.tls = TLSContextHolder(try TLSServerContext(settings: tls.server, tickets: tickets), tickets: tickets)
            options.handshakeTimeoutMilliseconds = Gateway.milliseconds(tls.handshakeTimeoutSeconds)
            options.usernameMustMatchCertificate = tls.usernameMustMatchCertificate
        }
        return options
    }

    /// A kept listener's options under new limits: its TLS contexts, ticket keys and counters stay.
    static func reloadedOptions(_ current: ListenerOptions, _ listener: ListenerConfiguration, limits: LimitsConfiguration) -> ListenerOptions {
        var options = current
        options.http2 = http2Settings(listener, limits: limits)
        return options
    }

    static func http2Settings(_ listener: ListenerConfiguration, limits: LimitsConfiguration) -> HTTP2Settings? {
        guard listener.http2 else { return nil }
        var http2 = HTTP2Settings()
        http2.maxHeaderListBytes = limits.maxHeaderBytes
        http2.maxHeaderCount = limits.maxHeaderCount
        http2.maxBodyBytes = limits.maxBodyBytes
        http2.maxConcurrentStreams = UInt32(limits.maxConcurrentStreams)
        http2.costlyFrameBurst = limits.http2CostlyFrameBurst
        http2.costlyFramesPerSecond = limits.http2CostlyFramesPerSecond
        return http2
    }

    static func upstreamContext(_ upstream: UpstreamConfiguration) throws(TLSError) -> TLSClientContext? {
        guard let settings = upstream.tls else { return nil }
        return try TLSClientContext(settings: settings)
    }

    /// Every file problem of the configuration's TLS settings, for `check-config`.
    public static func problems(in configuration: GatewayConfiguration) -> [String] {
        var found: [String] = []
        for listener in configuration.enabledListeners where listener.tls != nil {
            do { _ = try listenerOptions(listener, limits: configuration.limits) } catch { found.append(error.message) }
        }
        for upstream in configuration.upstreams {
            do { _ = try upstreamContext(upstream) } catch { found.append(error.message) }
        }
        return found
    }
}

/// Rotates every TLS listener's session-ticket keys on one loop's timer.
final class TicketRotation: TimerHandler {
    private let loop: EventLoop
    private let rings: [TicketKeyRing]
    private let intervalMilliseconds: Int64

    init(loop: EventLoop, rings: [TicketKeyRing], intervalMilliseconds: Int64) {
        self.loop = loop
        self.rings = rings
        self.intervalMilliseconds = intervalMilliseconds
    }

    func start() {
        guard !rings.isEmpty else { return }
        _ = loop.schedule(after: intervalMilliseconds, handler: self)
    }

    func timerFired(_ tag: Int) {
        for ring in rings { ring.rotate() }
        _ = loop.schedule(after: intervalMilliseconds, handler: self)
    }
}
