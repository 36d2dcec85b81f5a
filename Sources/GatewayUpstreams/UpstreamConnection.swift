import GatewayEventLoop
import GatewayHTTP1
import GatewaySystem

/// A keep-alive HTTP/1.1 client connection to one upstream, owned by a pool on one loop.
///
/// It carries one exchange at a time. Between exchanges it sits idle in its pool with an idle
/// timer; a reply that leaves stray bytes or says `Connection: close` retires it.
public final class UpstreamConnection: StreamConnection {
    private enum Timer: Int { case connect, response, idle }

    /// Strong: a reload may retire the pool while this connection still carries an exchange.
    private let pool: UpstreamPool
    private var exchange: UpstreamExchange?
    private var parser = HTTP1ResponseParser()
    private var responseKeepAlive = true
    private var deliveryPaused = false
    private var timer = TimerID.none
    /// Whether an exchange has completed on this connection before (a stale keep-alive may then be retried).
    public private(set) var isReused = false

    /// Set when the TLS handshake with the upstream failed (certificate, name, protocol).
    private var securityFailure: String?

    init(pool: UpstreamPool, loop: EventLoop, socket: Socket, channel: SecureChannel?) {
        self.pool = pool
        super.init(loop: loop, socket: socket, channel: channel)
    }

    public override func didFailSecurity(_ reason: String) {
        securityFailure = reason
    }

    var isBusy: Bool { exchange != nil }
    private var upstreamName: String { pool.target.name }

    // MARK: connecting

    func beginConnect(for exchange: UpstreamExchange, alreadyConnected: Bool) throws(SystemError) {
        self.exchange = exchange
        exchange.upstreamAssigned(self)
        if alreadyConnected {
            try start()
            didConnect()
        } else {
            try startConnecting()
            arm(.connect, pool.target.settings.connectTimeoutMilliseconds)
        }
    }

    public override func didConnect() {
        disarm()
        socket.setNoDelay()
        pool.connectionEstablished(self)
        if let exchange { send(exchange.requestBytes) }
    }

    // MARK: exchanges

    /// Starts `exchange` on this idle connection.
    func run(_ exchange: UpstreamExchange) {
        self.exchange = exchange
        exchange.upstreamAssigned(self)
        send(exchange.requestBytes)
    }

    private func send(_ bytes: [UInt8]) {
        parser.reset()
        responseKeepAlive = true
        arm(.response, pool.target.settings.responseTimeoutMilliseconds)
        write(bytes)
    }

    /// Stops delivering response bytes (the client is not keeping up); the socket is not read meanwhile.
    public func pauseDelivery() {
        deliveryPaused = true
        pauseReading()
        disarm()
    }

    public func resumeDelivery() {
        guard deliveryPaused, !isClosed else { return }
        deliveryPaused = false
        resumeReading()
        arm(.response, pool.target.settings.responseTimeoutMilliseconds)
        processInput()
    }

    /// The requester no longer wants the answer (its client reset the stream or left). The exchange
    /// goes on without it: the response is read and dropped and the connection returns to the pool,
    /// so a client that cancels cheaply does not cost the upstream a new connection. A response
    /// longer than `discardLimitBytes` is not worth reading: the connection closes instead.
    public func abandon() {
        guard let abandoned = exchange, !(abandoned is DiscardedExchange) else { return }
        exchange = DiscardedExchange(requestBytes: abandoned.requestBytes)
        if deliveryPaused { resumeDelivery() }
    }

    static let discardLimitBytes = 256 * 1024

    public override func didReceive() {
        if exchange == nil {
            // An idle connection must stay silent; anything else means the upstream is confused.
            close()
            return
        }
        if !deliveryPaused { arm(.response, pool.target.settings.responseTimeoutMilliseconds) }
        processInput()
    }

    private func processInput() {
        while let exchange, !deliveryPaused, !isClosed {
            // No Result of a tuple here: its generic destroy ran through the runtime's witnesses on every read.
            var failure: HTTP1ParseError?
            let (consumed, parsed) = input.withReadableBytes { bytes -> (Int, HTTP1ResponseEvent?) in
                do throws(HTTP1ParseError) { return try parser.parse(bytes) } catch { failure = error; return (0, nil) }
            }
            if let failure {
                fail(.malformedResponse, "malformed response: \(failure.message)")
                return
            }
            input.consume(consumed)
            guard let event = parsed else { return }
            switch event {
            case .head(let head):
                responseKeepAlive = head.keepAlive
                exchange.upstreamResponseHead(head)
            case .body(let bytes):
                exchange.upstreamResponseBody(bytes)
                if let dropped = exchange as? DiscardedExchange, dropped.droppedBytes > Self.discardLimitBytes {
                    self.exchange = nil
                    close()
                    return
                }
            case .end:
                finishExchange()
                return
            }
        }
    }

    private func finishExchange() {
        guard let finished = exchange else { return }
        exchange = nil
        disarm()
        isReused = true
        if responseKeepAlive && input.isEmpty {
            arm(.idle, pool.target.settings.idleTimeoutMilliseconds)
            pool.release(self)
        } else {
            close()
        }
        finished.upstreamResponseEnd()
    }

    public override func didReachEndOfInput() {
        guard exchange != nil else { close(); return }
        let outcome = Result { () throws(HTTP1ParseError) in try parser.finishAtEndOfStream() }
        if case .success = outcome {
            responseKeepAlive = false
            finishExchange()
        } else {
            let retryable = isReused && !parser.hasStarted
            fail(.closedEarly, "closed the connection before the response was complete", retryable: retryable)
        }
    }

    private func fail(_ kind: UpstreamFailure.Kind, _ detail: String, retryable: Bool = false) {
        let failed = exchange
        exchange = nil
        close()
        failed?.upstreamFailed(UpstreamFailure(kind: kind, upstream: upstreamName, detail: detail, retryable: retryable))
    }

    // MARK: timers and closing

    private func arm(_ kind: Timer, _ milliseconds: Int64) {
        loop.cancel(timer)
        timer = loop.schedule(after: milliseconds, handler: self, tag: kind.rawValue)
    }

    private func disarm() {
        loop.cancel(timer)
        timer = .none
    }

    public override func timerFired(_ tag: Int) {
        timer = .none
        switch Timer(rawValue: tag) {
        case .connect:
            pool.connectFailed(self)
            fail(.connectTimeout, "connect to \(pool.target.address) timed out after \(pool.target.settings.connectTimeoutMilliseconds) ms")
        case .response:
            fail(.responseTimeout, "no response within \(pool.target.settings.responseTimeoutMilliseconds) ms")
        case .idle, nil:
            close()
        }
    }

    public override func didClose(error: SystemError?) {
        disarm()
        let wasConnecting = isConnecting
        if let failed = exchange, let reason = securityFailure {
            exchange = nil
            pool.connectFailed(self, reason: "TLS handshake failed: \(reason)")
            pool.remove(self)
            failed.upstreamFailed(UpstreamFailure(kind: .connectFailed, upstream: upstreamName,
                                                  detail: "TLS handshake with \(pool.target.address) failed: \(reason)"))
            return
        }
        if let failed = exchange {
            exchange = nil
            if wasConnecting { pool.connectFailed(self) }
            let detail = wasConnecting ? "connect to \(pool.target.address) failed: \(error?.reason ?? "closed")"
                                       : "connection failed: \(error?.reason ?? "closed")"
            let retryable = !wasConnecting && isReused && !parser.hasStarted
            pool.remove(self)
            failed.upstreamFailed(UpstreamFailure(kind: wasConnecting ? .connectFailed : .reset, upstream: upstreamName,
                                                  detail: detail, retryable: retryable))
            return
        }
        pool.remove(self)
    }
}

/// What an abandoned exchange becomes: the request still goes out if it has not yet, and the
/// answer is counted and dropped.
private final class DiscardedExchange: UpstreamExchange {
    let requestBytes: [UInt8]
    private(set) var droppedBytes = 0

    init(requestBytes: [UInt8]) { self.requestBytes = requestBytes }

    func upstreamAssigned(_ connection: UpstreamConnection) {}
    func upstreamResponseHead(_ head: HTTP1ResponseHead) {}
    func upstreamResponseBody(_ bytes: consuming [UInt8]) { droppedBytes += bytes.count }
    func upstreamResponseEnd() {}
    func upstreamFailed(_ failure: UpstreamFailure) {}
}
