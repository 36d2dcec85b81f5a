import GatewaySystem

/// A TCP connection on one loop: buffered input, queued output, read pausing and one timer slot.
///
/// Subclasses (the HTTP server connection, the upstream connection) override the `did…` hooks.
/// Everything runs on `loop`'s thread.
open class StreamConnection: IOHandler, TimerHandler {
    public let loop: EventLoop
    public let socket: Socket
    /// Bytes received and not yet consumed by the subclass.
    public var input = ByteBuffer()
    private var output = ByteBuffer()
    public private(set) var isClosed = false
    public private(set) var isConnecting = false
    private var readPaused = false
    private var registeredInterest: Interest = .none
    private var closeWhenFlushed = false

    public init(loop: EventLoop, socket: Socket) {
        self.loop = loop
        self.socket = socket
    }

    /// Registers for reading an accepted (or already connected) socket.
    open func start() throws(SystemError) {
        registeredInterest = .read
        try loop.register(socket, interest: registeredInterest, handler: self)
    }

    /// Registers a socket whose non-blocking connect is under way; `didConnect` or `didClose` follows.
    public func startConnecting() throws(SystemError) {
        isConnecting = true
        registeredInterest = .write
        try loop.register(socket, interest: registeredInterest, handler: self)
    }

    public var pendingOutputBytes: Int { output.readableCount }

    // MARK: hooks

    /// New bytes are in `input`.
    open func didReceive() {}
    /// The peer will send nothing more.
    open func didReachEndOfInput() { close() }
    /// Every queued byte has reached the kernel.
    open func didDrainOutput() {}
    /// A non-blocking connect completed.
    open func didConnect() {}
    /// The connection is closed (by either side); `error` says why when it failed.
    open func didClose(error: SystemError?) {}
    open func timerFired(_ tag: Int) {}

    // MARK: reading

    public func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        updateInterest()
    }

    public func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        updateInterest()
    }

    public var isReadingPaused: Bool { readPaused }

    public func ioReady(_ readiness: Readiness) {
        if isConnecting {
            guard readiness.writable else { return }
            if let error = socket.pendingError() { close(error: error); return }
            isConnecting = false
            updateInterest()
            didConnect()
            return
        }
        if readiness.writable && !output.isEmpty { flush() }
        if isClosed { return }
        if readiness.readable {
            if readPaused {
                // A hang-up is reported whatever the interest; a paused reader would spin on it.
                if readiness.hangUp { close(error: socket.pendingError()) }
                return
            }
            readAvailable()
        }
    }

    private func readAvailable() {
        var received = false
        while !isClosed {
            let result: IOResult<Int>
            do {
                result = try loop.scratch.read(from: socket) { input.append($0) }
            } catch {
                close(error: error)
                return
            }
            switch result {
            case .wouldBlock:
                if received { didReceive() }
                return
            case .processed(0):
                if received { didReceive() }
                if !isClosed { didReachEndOfInput() }
                return
            case .processed(let count):
                received = true
                if count < loop.scratch.capacity {
                    didReceive()
                    return
                }
            }
        }
    }

    // MARK: writing

    /// Queues `bytes` and writes everything queued that the kernel takes now.
    public func write(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        if output.isEmpty {
            let written = bytes.withUnsafeBytes { writeNow($0) }
            guard let written else { return }
            if written == bytes.count { didDrainOutput(); return }
            output.append(contentsOf: bytes[written...])
            updateInterest()
        } else {
            output.append(contentsOf: bytes)
            flush()
        }
    }

    /// Queues `bytes` without a system call; the next `write` or `flushOutput` sends them along
    /// (a response head and its body leave in one segment).
    public func queue(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        output.append(contentsOf: bytes)
    }

    public func flushOutput() {
        if !output.isEmpty && !isClosed { flush() }
    }

    /// Closes once every queued byte is written.
    public func closeAfterFlush() {
        if output.isEmpty { close() } else { closeWhenFlushed = true; pauseReading() }
    }

    private func writeNow(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var offset = 0
        while offset < bytes.count {
            do {
                switch try socket.write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
                case .wouldBlock: return offset
                case .processed(let n): offset += n
                }
            } catch {
                close(error: error)
                return nil
            }
        }
        return offset
    }

    private func flush() {
        let written = output.withReadableBytes { writeNow($0) }
        guard let written else { return }
        output.consume(written)
        updateInterest()
        if output.isEmpty {
            if closeWhenFlushed { close(); return }
            didDrainOutput()
        }
    }

    private func updateInterest() {
        guard !isClosed else { return }
        var wanted: Interest = isConnecting ? .write : .none
        if !isConnecting {
            if !readPaused { wanted.insert(.read) }
            if !output.isEmpty { wanted.insert(.write) }
        }
        guard wanted != registeredInterest else { return }
        registeredInterest = wanted
        do { try loop.setInterest(socket, wanted) } catch { close(error: error) }
    }

    // MARK: closing

    public func close(error: SystemError? = nil) {
        guard !isClosed else { return }
        isClosed = true
        loop.deregister(socket)
        socket.close()
        output.removeAll()
        didClose(error: error)
    }
}
