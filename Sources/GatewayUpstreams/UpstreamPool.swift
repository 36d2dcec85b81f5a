import GatewayEventLoop
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// The keep-alive connections of one loop to one upstream, with a FIFO of requests waiting for one.
///
/// At most `maxConnectionsPerLoop` connections exist; idle ones are reused most-recent first
/// (the warmest socket); beyond `maxQueuedRequests` waiting requests, new ones fail at once (503).
public final class UpstreamPool {
    public let target: UpstreamTarget
    let loop: EventLoop
    private let logger: Logger
    private var idle: [UpstreamConnection] = []
    /// A FIFO with a moving head; a slot is emptied when its request leaves, so the queue never
    /// keeps a finished request (and the body it holds) alive.
    private var waiting: [UpstreamExchange?] = []
    private var waitingHead = 0
    public private(set) var openCount = 0
    /// What this loop's requests met at this upstream, for /metrics.
    public var counters = Counters()

    public struct Counters: Sendable {
        public var requests = 0, retries = 0, timeouts = 0, failures = 0
        public init() {}
    }

    public init(target: UpstreamTarget, loop: EventLoop, logger: Logger) {
        self.target = target
        self.loop = loop
        self.logger = logger
    }

    public var idleCount: Int { idle.count }
    public var waitingCount: Int { waiting.count - waitingHead }

    /// Runs `exchange` on an idle connection, a new one, or after the ones in use, in that order.
    public func submit(_ exchange: UpstreamExchange) {
        if let connection = idle.popLast() {
            connection.run(exchange)
            return
        }
        if openCount < target.settings.maxConnectionsPerLoop {
            connect(for: exchange)
            return
        }
        guard waitingCount < target.settings.maxQueuedRequests else {
            exchange.upstreamFailed(UpstreamFailure(kind: .queueFull, upstream: target.name,
                detail: "all \(target.settings.maxConnectionsPerLoop) connections of this loop are busy and \(target.settings.maxQueuedRequests) requests already wait (upstreams[].maxConnections, maxQueuedRequests)"))
            return
        }
        waiting.append(exchange)
    }

    /// Removes a request that no longer waits (its client left).
    public func withdraw(_ exchange: UpstreamExchange) {
        if let index = waiting[waitingHead...].firstIndex(where: { $0 === exchange }) {
            waiting.remove(at: index)
            compactIfDrained()
        }
    }

    private func connect(for exchange: UpstreamExchange) {
        openCount += 1
        let opened: (socket: Socket, connected: Bool, channel: TLSChannel?)
        do { opened = try target.openSocket() } catch { connectFailed(exchange, error.reason); return }
        let connection = UpstreamConnection(pool: self, loop: loop, socket: opened.socket, channel: opened.channel)
        do {
            try connection.beginConnect(for: exchange, alreadyConnected: opened.connected)
        } catch {
            opened.socket.close()
            connectFailed(exchange, error.reason)
        }
    }

    private func connectFailed(_ exchange: UpstreamExchange, _ reason: String) {
        openCount -= 1
        exchange.upstreamFailed(UpstreamFailure(kind: .connectFailed, upstream: target.name,
                                                detail: "connect to \(target.address) failed: \(reason)"))
    }

    func connectionEstablished(_ connection: UpstreamConnection) {}

    func connectFailed(_ connection: UpstreamConnection, reason: String = "connect failed") {}

    /// A connection finished an exchange and may be reused.
    func release(_ connection: UpstreamConnection) {
        if let next = nextWaiting() {
            connection.run(next)
        } else if retired {
            connection.close()
        } else {
            idle.append(connection)
        }
    }

    /// Whether a reload replaced or removed this upstream: requests under way and queued still
    /// finish here, and then its connections close instead of waiting idle.
    public private(set) var retired = false

    public func retire() {
        retired = true
        let closing = idle
        idle.removeAll()
        for connection in closing { connection.close() }
    }

    /// A connection closed; a waiting request may now open a new one.
    func remove(_ connection: UpstreamConnection) {
        if let index = idle.firstIndex(where: { $0 === connection }) { idle.remove(at: index) }
        openCount -= 1
        if let next = nextWaiting() { connect(for: next) }
    }

    private func nextWaiting() -> UpstreamExchange? {
        guard waitingHead < waiting.count else { return nil }
        let next = waiting[waitingHead]
        waiting[waitingHead] = nil
        waitingHead += 1
        if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        compactIfDrained()
        return next
    }

    private func compactIfDrained() {
        if waitingHead == waiting.count {
            waiting.removeAll(keepingCapacity: waiting.capacity <= 1024)
            waitingHead = 0
        }
    }

    /// What a request met here, for the target's passive ejection (logged by the target).
    public func noteOutcome(failed: Bool, _ reason: @autoclosure () -> String) {
        target.recordRequest(failed: failed, reason: reason(), logger: logger)
    }

    /// Requests this loop has under way or queued here, for least-outstanding routing.
    public var outstanding: Int { openCount - idle.count + waitingCount }
}
