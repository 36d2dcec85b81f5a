import GatewayEventLoop
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// Probes every upstream with a TCP connect (and, for `https://` upstreams, a verified TLS handshake)
/// at its `healthCheckIntervalSeconds`, so that /ready and routing learn of an upstream coming back
/// (or going away, or presenting a certificate the gateway refuses) even while no request goes to it.
public final class HealthChecker: TimerHandler {
    private let loop: EventLoop
    private let targets: [UpstreamTarget]
    private let logger: Logger
    private var stopped = false

    public init(loop: EventLoop, targets: [UpstreamTarget], logger: Logger) {
        self.loop = loop
        self.targets = targets
        self.logger = logger
    }

    /// Probes everything now and then on schedule; call on the loop's thread.
    public func start() {
        for index in targets.indices { timerFired(index) }
    }

    /// A reload replaced the upstreams: no more probes from this checker. On the loop's thread.
    public func stop() { stopped = true }

    public func timerFired(_ index: Int) {
        guard !stopped else { return }
        let target = targets[index]
        HealthProbe.launch(target: target, loop: loop, logger: logger)
        _ = loop.schedule(after: target.settings.healthCheckIntervalMilliseconds, handler: self, tag: index)
    }
}

/// One connect attempt; healthy when it connects (and completes its TLS handshake) within the
/// connect timeout.
final class HealthProbe: StreamConnection {
    private let target: UpstreamTarget
    private let logger: Logger
    private var timer = TimerID.none
    private var settled = false

    private init(target: UpstreamTarget, loop: EventLoop, socket: Socket, channel: TLSChannel?, logger: Logger) {
        self.target = target
        self.logger = logger
        super.init(loop: loop, socket: socket, channel: channel)
    }

    static func launch(target: UpstreamTarget, loop: EventLoop, logger: Logger) {
        let opened: (socket: Socket, connected: Bool, channel: TLSChannel?)
        do { opened = try target.openSocket() } catch { settle(target, .unhealthy, error.reason, logger); return }
        let probe = HealthProbe(target: target, loop: loop, socket: opened.socket, channel: opened.channel, logger: logger)
        if opened.connected && opened.channel == nil {
            probe.settle(.healthy, "connected")
            opened.socket.close()
            return
        }
        do {
            // With TLS the handshake decides; start() sends its first flight on a finished connect.
            if opened.connected { try probe.start() } else { try probe.startConnecting() }
            probe.timer = loop.schedule(after: target.settings.connectTimeoutMilliseconds, handler: probe)
        } catch {
            opened.socket.close()
            settle(target, .unhealthy, "\(error)", logger)
        }
    }

    override func didConnect() {
        guard channel == nil else { return }
        settle(.healthy, "connected")
        close()
    }

    override func didEstablishSecurity() {
        settle(.healthy, "connected, TLS verified")
        close()
    }

    override func didFailSecurity(_ reason: String) {
        settle(.unhealthy, "TLS handshake failed: \(reason)")
    }

    override func timerFired(_ tag: Int) {
        settle(.unhealthy, isHandshaking && !isConnecting ? "TLS handshake timed out" : "connect timed out")
        close()
    }

    override func didClose(error: SystemError?) {
        loop.cancel(timer)
        settle(.unhealthy, error?.description ?? "closed")
    }

    private func settle(_ health: UpstreamTarget.Health, _ reason: String) {
        guard !settled else { return }
        settled = true
        Self.settle(target, health, reason, logger)
    }

    private static func settle(_ target: UpstreamTarget, _ health: UpstreamTarget.Health, _ reason: String, _ logger: Logger) {
        target.note(health, reason: "health check \(reason)", logger: logger)
    }
}
