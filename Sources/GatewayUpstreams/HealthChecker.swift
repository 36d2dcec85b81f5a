import GatewayEventLoop
import GatewayHTTP1
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// Checks every upstream at its `healthCheckIntervalSeconds` by speaking the JSON Action API: a
/// fresh connection (TLS verified for `https://`), a POST of `pingSession`, and a FairCom envelope
/// back with HTTP 200 within `healthCheckTimeoutSeconds`. `healthCheckRise` passes in a row bring an
/// upstream up, `healthCheckFall` failures take it down; /ready, /metrics and login routing follow.
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

/// One check: connect, send the check's JSON action, read the answer, then close.
final class HealthProbe: StreamConnection {
    private let target: UpstreamTarget
    private let logger: Logger
    private var timer = TimerID.none
    private var settled = false
    private var parser = HTTP1ResponseParser(limits: HTTP1Limits(maxBodyBytes: HealthProbe.maxAnswerBytes))
    private var status = 0
    private var body: [UInt8] = []
    static let maxAnswerBytes = 64 * 1024

    private init(target: UpstreamTarget, loop: EventLoop, socket: Socket, channel: TLSChannel?, logger: Logger) {
        self.target = target
        self.logger = logger
        super.init(loop: loop, socket: socket, channel: channel)
    }

    static func launch(target: UpstreamTarget, loop: EventLoop, logger: Logger) {
        let opened: (socket: Socket, connected: Bool, channel: TLSChannel?)
        do { opened = try target.openSocket() } catch { target.recordCheck(passed: false, reason: "check: \(error.reason)", logger: logger); return }
        let probe = HealthProbe(target: target, loop: loop, socket: opened.socket, channel: opened.channel, logger: logger)
        do {
            probe.timer = loop.schedule(after: target.settings.health.checkTimeoutMilliseconds, handler: probe)
            if opened.connected {
                try probe.start()
                probe.didConnect()
            } else {
                try probe.startConnecting()
            }
        } catch {
            loop.cancel(probe.timer)
            opened.socket.close()
            target.recordCheck(passed: false, reason: "check: \(error)", logger: logger)
        }
    }

    override func didConnect() {
        var request = Array("POST \(target.path) HTTP/1.1\r\nHost: \(target.hostHeader)\r\nContent-Type: application/json\r\nUser-Agent: faircom-gateway-health-check\r\nConnection: close\r\nContent-Length: ".utf8)
        request += Array("\(target.settings.health.checkBody.count)\r\n\r\n".utf8)
        request += target.settings.health.checkBody
        write(request)
    }

    override func didFailSecurity(_ reason: String) {
        settle(false, "TLS handshake failed: \(reason)")
    }

    override func didReceive() {
        while !settled {
            let outcome = input.withReadableBytes { bytes -> Result<(consumed: Int, event: HTTP1ResponseEvent?), HTTP1ParseError> in
                do throws(HTTP1ParseError) { return .success(try parser.parse(bytes)) } catch { return .failure(error) }
            }
            switch outcome {
            case .failure(let error):
                settle(false, "check answered with a malformed response: \(error.message)")
                close()
                return
            case .success(let step):
                input.consume(step.consumed)
                switch step.event {
                case nil: return
                case .head(let head)?: status = head.status
                case .body(let bytes)?: body += bytes
                case .end?:
                    judge()
                    close()
                    return
                }
            }
        }
    }

    override func didReachEndOfInput() {
        // An answer framed by the connection's end is complete now.
        if !settled && status != 0 && parser.hasStarted { judge() }
        close()
    }

    private func judge() {
        guard status == 200 else {
            settle(false, "check answered HTTP \(status)")
            return
        }
        let key = Array("\"errorCode\"".utf8)
        guard ByteSearch.firstIndex(of: key, in: body) != nil else {
            settle(false, "check answered HTTP 200 without a FairCom envelope")
            return
        }
        settle(true, channel == nil ? "check answered with a FairCom envelope" : "check answered with a FairCom envelope over verified TLS")
    }

    override func timerFired(_ tag: Int) {
        settle(false, isConnecting ? "check: connect timed out" : isHandshaking ? "check: TLS handshake timed out" : "check not answered within \(target.settings.health.checkTimeoutMilliseconds) ms")
        close()
    }

    override func didClose(error: SystemError?) {
        loop.cancel(timer)
        settle(false, "check: \(error?.description ?? "connection closed before the answer")")
    }

    private func settle(_ passed: Bool, _ reason: String) {
        guard !settled else { return }
        settled = true
        target.recordCheck(passed: passed, reason: reason, logger: logger)
    }
}
