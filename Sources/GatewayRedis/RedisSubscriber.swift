import GatewayEventLoop
import GatewayLogging
import GatewaySystem

/// A Pub/Sub connection on its own (RESP2 allows nothing else on a subscribed connection) that
/// listens to one channel, pings to notice a silent loss, and comes back after one. The owner
/// hears when messages may have been missed (`onLost`) and when they flow again (`onSubscribed`).
public final class RedisSubscriber: TimerHandler, @unchecked Sendable {
    public let loop: EventLoop
    private let settings: RedisSettings
    private let channel: [UInt8]
    private let logger: Logger
    private var connection: RedisConnection?
    private var timer = TimerID.none
    private var retryMilliseconds: Int64 = 100
    private var stopped = false
    public private(set) var isSubscribed = false
    public var pingIntervalMilliseconds: Int64 = 1000
    public var onMessage: (([UInt8]) -> Void)?
    public var onSubscribed: (() -> Void)?
    public var onLost: ((String) -> Void)?

    public init(loop: EventLoop, settings: RedisSettings, channel: String, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.channel = Array(channel.utf8)
        self.logger = logger
    }

    public func start() { connect() }

    public func stop() {
        stopped = true
        if !timer.isNone { loop.cancel(timer); timer = .none }
        connection?.fail("stopped", nil)
        connection = nil
    }

    private func connect() {
        guard !stopped else { return }
        RedisConnector(loop: loop, settings: settings).connect { [weak self] result in
            guard let self, !self.stopped else { return }
            switch result {
            case .failure(let error): self.lost("\(error)")
            case .success(let connection): self.subscribe(on: connection)
            }
        }
    }

    private func subscribe(on connection: RedisConnection) {
        self.connection = connection
        connection.onPush = { [weak self] items in
            if case .bulk(let payload?) = items[2] { self?.onMessage?(payload) }
        }
        connection.onClose = { [weak self, weak connection] reason in
            guard let self, self.connection === connection else { return }
            self.connection = nil
            self.lost(reason)
        }
        connection.send([Array("SUBSCRIBE".utf8), channel]) { [weak self] result in
            guard let self else { return }
            guard case .success(let value) = result, value.elements?.first?.string == "subscribe" else {
                if case .failure(let error) = result { connection.fail("SUBSCRIBE failed: \(error)", nil) }
                return
            }
            self.isSubscribed = true
            self.retryMilliseconds = 100
            self.onSubscribed?()
            self.arm(self.pingIntervalMilliseconds)
        }
    }

    private func lost(_ reason: String) {
        let wasSubscribed = isSubscribed
        isSubscribed = false
        if wasSubscribed { logger.warning("Redis: the invalidation channel was lost (\(reason)); reconnecting") }
        onLost?(reason)
        arm(retryMilliseconds)
        retryMilliseconds = min(retryMilliseconds * 2, 2000)
    }

    private func arm(_ milliseconds: Int64) {
        if !timer.isNone { loop.cancel(timer) }
        timer = loop.schedule(after: milliseconds, handler: self)
    }

    public func timerFired(_ tag: Int) {
        timer = .none
        guard !stopped else { return }
        guard let connection, !connection.isClosed else {
            connect()
            return
        }
        // A subscribed connection answers PING with ["pong", ""]; no answer within the command timeout closes it.
        connection.send([Array("PING".utf8)]) { _ in }
        arm(pingIntervalMilliseconds)
    }
}
