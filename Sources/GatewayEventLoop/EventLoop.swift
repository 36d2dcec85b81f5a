import GatewaySystem
import Synchronization

/// Something registered with a loop for readiness events.
public protocol IOHandler: AnyObject {
    func ioReady(_ readiness: Readiness)
}

/// One epoll loop on one thread.
///
/// Everything registered with a loop (sockets, timers, connections) is touched only on that loop's
/// thread; the one door in from other threads is `execute`, which queues a task and wakes the loop.
/// That is why the class is `@unchecked Sendable`: the compiler cannot see the thread rule.
public final class EventLoop: IOHandler, @unchecked Sendable {
    public let index: Int
    public let scratch = ReadScratch()
    /// Monotonic milliseconds, read again as soon as the loop wakes (before any event is handled)
    /// and whenever a timer is armed; cheap to read on the hot path. A loop that slept for minutes
    /// must never arm a timer from the time it went to sleep: the timer would be due at once.
    public private(set) var now: Int64
    private let epoll: Epoll
    private let wakeup: EventFD
    private var timers: TimerWheel
    private var handlers: [IOHandler?] = []
    private var generations: [UInt32] = []
    private let tasks = Mutex<[@Sendable () -> Void]>([])
    /// Work queued from this loop's own thread for after the current batch of events.
    private var soon: [() -> Void] = []
    private let stopRequested = Atomic<Bool>(false)

    public init(index: Int = 0) throws(SystemError) {
        self.index = index
        epoll = try Epoll()
        wakeup = try EventFD()
        now = MonotonicClock.nowMilliseconds()
        timers = TimerWheel(startMilliseconds: now)
        try register(fd: wakeup.fd, interest: .read, handler: self)
    }

    deinit { wakeup.close() }

    // MARK: descriptors

    public func register(_ socket: Socket, interest: Interest, handler: IOHandler) throws(SystemError) {
        try register(fd: socket.fd, interest: interest, handler: handler)
    }

    private func register(fd: Int32, interest: Interest, handler: IOHandler) throws(SystemError) {
        let slot = Int(fd)
        if slot >= handlers.count {
            let grow = max(slot + 1, handlers.count * 2)
            handlers.append(contentsOf: repeatElement(nil, count: grow - handlers.count))
            generations.append(contentsOf: repeatElement(0, count: grow - generations.count))
        }
        generations[slot] &+= 1
        handlers[slot] = handler
        try epoll.add(fd, interest: interest, tag: tag(for: fd))
    }

    /// Every registered handler (a shutdown looks for its listener's connections here).
    public func forEachHandler(_ body: (IOHandler) -> Void) {
        for case let handler? in handlers { body(handler) }
    }

    /// Hands a registered socket's events to a new handler (a connection that changes protocol).
    public func replaceHandler(of socket: Socket, with handler: IOHandler) {
        handlers[Int(socket.fd)] = handler
    }

    public func setInterest(_ socket: Socket, _ interest: Interest) throws(SystemError) {
        try epoll.modify(socket.fd, interest: interest, tag: tag(for: socket.fd))
    }

    /// Stops events for `socket`; call before closing it.
    public func deregister(_ socket: Socket) {
        epoll.remove(socket.fd)
        let slot = Int(socket.fd)
        if slot < handlers.count {
            handlers[slot] = nil
            generations[slot] &+= 1
        }
    }

    /// A descriptor number is reused as soon as it is closed; the generation keeps a stale event
    /// from the same wake-up from reaching the new owner.
    private func tag(for fd: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd)) | UInt64(generations[Int(fd)]) << 32
    }

    // MARK: timers

    public func schedule(after milliseconds: Int64, handler: TimerHandler, tag: Int = 0) -> TimerID {
        now = MonotonicClock.nowMilliseconds()
        return timers.schedule(after: milliseconds, now: now, handler: handler, tag: tag)
    }

    public func cancel(_ timer: TimerID) {
        timers.cancel(timer)
    }

    // MARK: cross-thread

    /// Runs `task` on this loop's thread soon. Safe from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        // Only the task that finds the queue empty wakes the loop: the loop takes the whole queue
        // under the same lock, so a task queued behind it is taken with it (a journal batch's
        // answers cost one eventfd write, not one each).
        let wasEmpty = tasks.withLock { pending in
            defer { pending.append(task) }
            return pending.isEmpty
        }
        if wasEmpty { wakeup.signal() }
    }

    /// Runs `task` on this loop after the events being handled now; loop thread only. For work
    /// that must not run re-entrantly, or input a TLS layer holds that epoll cannot see.
    public func runSoon(_ task: @escaping () -> Void) {
        soon.append(task)
    }

    /// Asks the loop to return from `run()`. Safe from any thread.
    public func stop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
    }

    public func ioReady(_ readiness: Readiness) {
        wakeup.drain()
        let queued = tasks.withLock { pending -> [@Sendable () -> Void] in
            let taken = pending
            pending.removeAll()
            return taken
        }
        for task in queued { task() }
    }

    // MARK: running

    public func run() {
        while !stopRequested.load(ordering: .acquiring) {
            let timeout = soon.isEmpty ? timers.millisecondsUntilNextTick(now: now).map { Int32(clamping: $0) } ?? -1 : 0
            do {
                try epoll.wait(timeoutMilliseconds: timeout, woke: { now = MonotonicClock.nowMilliseconds() }) { tag, readiness in
                    let fd = Int(UInt32(truncatingIfNeeded: tag))
                    guard fd < handlers.count, UInt32(truncatingIfNeeded: tag >> 32) == generations[fd],
                          let handler = handlers[fd] else { return }
                    handler.ioReady(readiness)
                }
            } catch {
                ProcessSetup.writeStandardError("event loop \(index): \(error)\n")
            }
            now = MonotonicClock.nowMilliseconds()
            while !soon.isEmpty {
                let batch = soon
                soon.removeAll()
                for task in batch { task() }
            }
            for (handler, tag) in timers.advance(to: now) {
                handler.timerFired(tag)
            }
        }
    }
}

/// A fixed set of loops, one thread each.
public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]
    private var threads: [Thread] = []

    public init(count: Int) throws(SystemError) {
        var loops: [EventLoop] = []
        for index in 0..<max(1, count) { loops.append(try EventLoop(index: index)) }
        self.loops = loops
    }

    /// Whether `start` has run (on the thread that starts and stops the group).
    public var isRunning: Bool { !threads.isEmpty }

    /// Starts every loop on its own thread.
    public func start() {
        for loop in loops {
            let thread = Thread { loop.run() }
            thread.start()
            threads.append(thread)
        }
    }

    /// Stops every loop and waits for their threads to return, so that nothing runs on them once
    /// it returns: a process that exits while a loop is mid-iteration would have its atexit
    /// handlers (OpenSSL's cleanup) free what that loop still uses. Never call it on a loop.
    public func stop() {
        for loop in loops { loop.stop() }
        for thread in threads { thread.join() }
        threads.removeAll()
    }
}
