import GatewaySystem

/// A TCP connection on one loop: buffered input, queued output, read pausing and one timer slot.
///
/// Subclasses (the HTTP server connection, the upstream connection) override the `did…` hooks.
/// Everything runs on `loop`'s thread.
///
/// With a `channel` (TLS) the connection first runs the handshake, then reads and writes plaintext
/// through the channel; a subclass sees the same hooks either way, plus `didEstablishSecurity`.
open class StreamConnection: IOHandler, TimerHandler {
    // The eight-byte properties first and the one-byte ones together, without padding between:
    // every idle connection is one of these objects.
    public let loop: EventLoop
    public let channel: SecureChannel?
    /// Bytes received and not yet consumed by the subclass.
    public var input = ByteBuffer()
    private var output = ByteBuffer()
    /// Bytes read per wake-up on a plain socket: a protocol whose every few bytes can cost work
    /// (HTTP/2 frames) reads less at a time, so other connections of the loop wait less.
    public var readLimitBytes = Int.max
    public let socket: Socket
    public private(set) var isHandshaking = false
    /// The channel's last read stopped until the socket is writable (or its write until readable).
    private var readWantsWrite = false
    private var writeWantsRead = false
    private var handshakeWants: Interest = .read
    /// Whether the peer's first byte has been looked at (for plain HTTP sent to a TLS port).
    private var firstByteSeen = false
    private var pendingReadScheduled = false
    public private(set) var isClosed = false
    public private(set) var isConnecting = false
    private var readPaused = false
    private var registeredInterest: Interest = .none
    private var closeWhenFlushed = false

    public init(loop: EventLoop, socket: Socket, channel: SecureChannel? = nil) {
        self.loop = loop
        self.socket = socket
        self.channel = channel
        isHandshaking = channel != nil
    }

    /// Takes over `predecessor`'s socket, channel, unread input and registration (a connection that
    /// switches protocol, e.g. to HTTP/2). The predecessor is left closed without closing the socket.
    public init(takingOver predecessor: StreamConnection) {
        precondition(!predecessor.isHandshaking && predecessor.output.isEmpty && !predecessor.isClosed)
        loop = predecessor.loop
        socket = predecessor.socket
        channel = predecessor.channel
        input = predecessor.input
        registeredInterest = predecessor.registeredInterest
        readPaused = predecessor.readPaused
        predecessor.isClosed = true
        predecessor.input = ByteBuffer()
        loop.replaceHandler(of: socket, with: self)
    }

    /// Registers for reading an accepted (or already connected) socket; a client-side channel
    /// sends its first handshake flight at once.
    open func start() throws(SystemError) {
        registeredInterest = .read
        try loop.register(socket, interest: registeredInterest, handler: self)
        if isHandshaking { advanceHandshake() }
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
    /// The TLS handshake completed; reading and writing carry plaintext from now on.
    open func didEstablishSecurity() {}
    /// The TLS handshake failed; the connection is closed right after this returns.
    open func didFailSecurity(_ reason: String) {}
    /// A server's answer, in plaintext, to a peer that opened with plain HTTP instead of a TLS
    /// handshake (nginx answers 400 too); nil (the default, and for client connections) just fails the handshake.
    open func answerToPlaintextOnSecurePort() -> [UInt8]? { nil }
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
        // Records the channel already decrypted are invisible to epoll.
        if channel != nil && !pendingReadScheduled {
            pendingReadScheduled = true
            loop.runSoon { [weak self] in
                guard let self else { return }
                self.pendingReadScheduled = false
                if !self.isClosed && !self.readPaused && !self.isHandshaking { self.readAvailable() }
            }
        }
    }

    public var isReadingPaused: Bool { readPaused }

    /// Reads what is available now, including records a TLS channel holds: for a successor that
    /// took over a connection whose channel may have buffered input.
    public func readBufferedInput() {
        if !isClosed && !readPaused && !isHandshaking { readAvailable() }
    }

    public func ioReady(_ readiness: Readiness) {
        if isConnecting {
            guard readiness.writable else { return }
            if let error = socket.pendingError() { close(error: error); return }
            isConnecting = false
            updateInterest()
            didConnect()
            if isHandshaking && !isClosed { advanceHandshake() }
            return
        }
        if isHandshaking {
            advanceHandshake()
            return
        }
        if (readiness.writable || (writeWantsRead && readiness.readable)) && !output.isEmpty { flush() }
        if isClosed { return }
        if readWantsWrite && readiness.writable {
            if !readPaused { readAvailable() }
            return
        }
        if readiness.readable {
            if readPaused {
                // A hang-up is reported whatever the interest; a paused reader would spin on it.
                if readiness.hangUp { close(error: socket.pendingError()) }
                return
            }
            readAvailable()
        }
    }

    // MARK: secure channel

    private func advanceHandshake() {
        guard let channel else { return }
        if !firstByteSeen, let answer = answerToPlaintextOnSecurePort() {
            switch socket.peekFirstByte() {
            case .wouldBlock: break
            case .processed(let byte?):
                firstByteSeen = true
                // A TLS record starts with its content type (22 for a handshake); an HTTP request with a method's capital letter.
                if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") {
                    socket.sendWithoutWaiting(answer)
                    didFailSecurity("plain HTTP on a TLS port")
                    close()
                    return
                }
            case .processed(nil): firstByteSeen = true
            }
        }
        switch channel.handshake() {
        case .done:
            isHandshaking = false
            updateInterest()
            didEstablishSecurity()
            if !output.isEmpty && !isClosed { flush() }
            // The last handshake read may have taken application data with it (read-ahead), which
            // epoll will never report: read it now, wherever the handshake finished (even in start()).
            if !isClosed && !readPaused { readAvailable() }
        case .wantRead:
            handshakeWants = .read
            updateInterest()
        case .wantWrite:
            handshakeWants = .write
            updateInterest()
        case .closed:
            didFailSecurity("the peer closed the connection during the handshake")
            close()
        case .failed(let reason):
            didFailSecurity(reason)
            close()
        }
    }

    private func readThroughChannel(_ channel: SecureChannel) {
        var received = false
        var taken = 0
        readWantsWrite = false
        while !isClosed {
            let step = loop.scratch.fill({ buffer -> (ChannelStep, Int) in
                let step = channel.read(into: buffer)
                if case .done(let count) = step { return (step, count) }
                return (step, 0)
            }, { input.append($0) })
            switch step {
            case .done(let count):
                received = true
                taken += count
                // Level-triggered epoll reports what the kernel still holds; only what the channel
                // buffered must be read now. Saves a read() that would find nothing, per request.
                if !channel.hasBufferedInput {
                    didReceive()
                    return
                }
                // Hand over large bursts so back-pressure can pause reading part-way.
                if taken >= 262_144 {
                    didReceive()
                    if readPaused || isClosed { return }
                    received = false
                    taken = 0
                }
            case .wantRead:
                if received { didReceive() }
                return
            case .wantWrite:
                readWantsWrite = true
                updateInterest()
                if received { didReceive() }
                return
            case .closed:
                if received { didReceive() }
                if !isClosed { didReachEndOfInput() }
                return
            case .failed:
                if received { didReceive() }
                close()
                return
            }
        }
    }

    private func readAvailable() {
        if let channel {
            readThroughChannel(channel)
            return
        }
        // One read per wake-up: level-triggered epoll reports the rest after the loop's other ready
        // connections had their turn, so a client sending a flood holds the loop for one buffer's
        // worth of work at a time.
        let result: IOResult<Int>
        do {
            result = try loop.scratch.read(from: socket, upTo: readLimitBytes) { input.append($0) }
        } catch {
            close(error: error)
            return
        }
        switch result {
        case .wouldBlock:
            return
        case .processed(0):
            didReachEndOfInput()
        case .processed:
            didReceive()
        }
    }

    // MARK: writing

    /// An idle connection gives back its buffers' storage (and the TLS channel's record buffers):
    /// a keep-alive connection waiting for its next request then costs only its objects.
    public func releaseIdleBuffers(includingChannel: Bool = true) {
        if input.isEmpty { input = ByteBuffer() }
        if output.isEmpty { output = ByteBuffer() }
        if includingChannel { channel?.releaseBuffers() }
    }

    /// Queues `bytes` and writes everything queued that the kernel takes now.
    public func write(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        if output.isEmpty {
            let written = bytes.withUnsafeBytes { writeNow($0) }
            guard let written else { return }
            if written == bytes.count { didDrainOutput(); return }
            output.append(contentsOf: bytes[written...])
            updateInterest()
        } else if channel == nil {
            writeBehindQueued(bytes)
        } else {
            output.append(contentsOf: bytes)
            flush()
        }
    }

    /// What is queued (a response head, say) and `bytes` leave in one gathered send; only what
    /// the kernel did not take is copied into the queue.
    private func writeBehindQueued(_ bytes: [UInt8]) {
        let queued = output.readableCount
        let result = output.withReadableBytes { head in
            bytes.withUnsafeBytes { body in Result { () throws(SystemError) in try socket.write(head, body) } }
        }
        let written: Int
        switch result {
        case .failure(let error): close(error: error); return
        case .success(.wouldBlock): written = 0
        case .success(.processed(let count)): written = count
        }
        output.consume(min(written, queued))
        if written >= queued + bytes.count {
            updateInterest()
            if closeWhenFlushed { close(); return }
            didDrainOutput()
            return
        }
        // The kernel took less than it was offered: the rest waits for writability.
        output.append(contentsOf: bytes[max(0, written - queued)...])
        updateInterest()
    }

    /// Queues `bytes` without a system call; the next `write` or `flushOutput` sends them along
    /// (a response head and its body leave in one segment).
    public func queue(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        output.append(adopting: bytes)
    }

    public func flushOutput() {
        if !output.isEmpty && !isClosed { flush() }
    }

    /// Closes once every queued byte is written.
    public func closeAfterFlush() {
        if output.isEmpty { close() } else { closeWhenFlushed = true; pauseReading() }
    }

    private func writeNow(_ bytes: UnsafeRawBufferPointer) -> Int? {
        if let channel { return writeThroughChannel(channel, bytes) }
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

    private func writeThroughChannel(_ channel: SecureChannel, _ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !isHandshaking else { return 0 }
        var offset = 0
        writeWantsRead = false
        while offset < bytes.count {
            switch channel.write(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .done(let count): offset += count
            case .wantWrite: return offset
            case .wantRead: writeWantsRead = true; return offset
            case .closed, .failed: close(); return nil
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
        if isHandshaking && !isConnecting {
            wanted = handshakeWants
        } else if !isConnecting {
            if !readPaused || writeWantsRead { wanted.insert(.read) }
            if !output.isEmpty || readWantsWrite { wanted.insert(.write) }
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
        if let channel, !isHandshaking { channel.shutdown() }
        socket.close()
        output.removeAll()
        didClose(error: error)
    }
}
