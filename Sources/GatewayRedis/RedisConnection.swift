import GatewayEventLoop
import GatewaySystem

/// One connection to a Redis server on one loop. Commands are pipelined: each is written at once
/// and its completion waits in a FIFO, since Redis answers in order. Pub/Sub messages (arrays
/// starting with "message") go to `onPush` instead. When Redis sends nothing for the command
/// timeout while commands wait, the connection closes (answers could no longer be matched) and
/// everything pending fails.
public final class RedisConnection: StreamConnection {
    public typealias Completion = (Result<RESPValue, RedisError>) -> Void
    private var pending: [Completion] = []
    private var pendingHead = 0
    private var parser: RESPParser
    private let commandTimeoutMilliseconds: Int64
    private let connectTimeoutMilliseconds: Int64
    private var timer = TimerID.none
    private var beforeConnect: [UInt8] = []
    private var closeReason: String?
    public var onConnect: (() -> Void)?
    public var onClose: ((String) -> Void)?
    public var onPush: (([RESPValue]) -> Void)?
    public private(set) var isConnected = false

    public init(loop: EventLoop, socket: Socket, channel: SecureChannel?, commandTimeoutMilliseconds: Int64,
                connectTimeoutMilliseconds: Int64, parser: RESPParser = RESPParser()) {
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.parser = parser
        super.init(loop: loop, socket: socket, channel: channel)
    }

    /// Starts a connect begun by `Socket.connect`; `alreadyConnected` when it finished at once.
    public func begin(alreadyConnected: Bool) throws(SystemError) {
        if alreadyConnected {
            try start()
            didConnect()
        } else {
            try startConnecting()
            arm(connectTimeoutMilliseconds)
        }
    }

    public var pendingCount: Int { pending.count - pendingHead }

    /// Sends one command; `completion` runs on this loop with its reply or why there is none.
    public func send(_ arguments: [[UInt8]], completion: @escaping Completion) {
        guard !isClosed else { completion(.failure(.connectionLost(closeReason ?? "closed"))); return }
        var bytes: [UInt8] = []
        RESPEncoder.command(arguments, into: &bytes)
        if pendingCount == 0 && isConnected { arm(commandTimeoutMilliseconds) }
        pending.append(completion)
        if isConnected { write(bytes) } else { beforeConnect += bytes }
    }

    public override func didConnect() {
        socket.setNoDelay()
        isConnected = true
        disarm()
        if pendingCount > 0 { arm(commandTimeoutMilliseconds) }
        onConnect?()
        if !beforeConnect.isEmpty && !isClosed {
            let bytes = beforeConnect
            beforeConnect = []
            write(bytes)
        }
    }

    public override func didFailSecurity(_ reason: String) { closeReason = "TLS: \(reason)" }

    public override func didReceive() {
        if pendingCount > 0 { arm(commandTimeoutMilliseconds) }
        while !isClosed {
            var failure: RESPProtocolError?
            let parsed = input.withReadableBytes { bytes -> (value: RESPValue, consumed: Int)? in
                do throws(RESPProtocolError) { return try parser.parse(bytes) } catch { failure = error; return nil }
            }
            if let failure {
                fail("protocol violation: \(failure.description)", .protocolViolation(failure.description))
                return
            }
            guard let (value, consumed) = parsed else { return }
            input.consume(consumed)
            if let items = value.elements, items.count == 3, items[0].string == "message" {
                onPush?(items)
                continue
            }
            guard pendingHead < pending.count else {
                fail("a reply nobody asked for", .protocolViolation("a reply nobody asked for"))
                return
            }
            let answered = pending[pendingHead]
            pendingHead += 1
            if pendingHead == pending.count { pending.removeAll(keepingCapacity: true); pendingHead = 0 }
            // The timeout is for silence: Redis answering is progress, however long the replies ahead
            // took, and a loop busy with a large reply must not blame Redis for its own time.
            disarm()
            if case .error(let text) = value {
                answered(.failure(RedisError.classify(text)))
            } else {
                answered(.success(value))
            }
            // Armed after the completion: its work (a large listing answered) is not Redis's silence.
            if pendingCount > 0 && !isClosed { arm(commandTimeoutMilliseconds) }
        }
    }

    public override func didReachEndOfInput() { fail("Redis closed the connection", nil) }

    public override func timerFired(_ tag: Int) {
        timer = .none
        if !isConnected {
            fail("no connection within \(connectTimeoutMilliseconds) ms", .timeout(milliseconds: connectTimeoutMilliseconds))
        } else if pendingCount > 0 {
            fail("no answer within \(commandTimeoutMilliseconds) ms", .timeout(milliseconds: commandTimeoutMilliseconds))
        }
    }

    /// Closes the connection; every pending command fails with `error` (or as lost, with `reason`).
    public func fail(_ reason: String, _ error: RedisError?) {
        guard !isClosed else { return }
        closeReason = reason
        let failed = Array(pending[pendingHead...])
        pending.removeAll()
        pendingHead = 0
        close()
        for completion in failed { completion(.failure(error ?? .connectionLost(reason))) }
    }

    public override func didClose(error: SystemError?) {
        disarm()
        let reason = closeReason ?? error.map { $0.reason } ?? "closed"
        let failed = Array(pending[pendingHead...])
        pending.removeAll()
        pendingHead = 0
        isConnected = false
        for completion in failed { completion(.failure(.connectionLost(reason))) }
        onClose?(reason)
        onClose = nil
        onPush = nil
        onConnect = nil
    }

    private func arm(_ milliseconds: Int64) {
        disarm()
        timer = loop.schedule(after: milliseconds, handler: self)
    }

    private func disarm() {
        if !timer.isNone { loop.cancel(timer); timer = .none }
    }
}
