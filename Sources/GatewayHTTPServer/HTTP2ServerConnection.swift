import GatewayEventLoop
import GatewayHTTP1
import GatewayHTTP2
import GatewayJSON
import GatewayLogging
import GatewaySystem

/// One client connection speaking HTTP/2 through nghttp2. Each stream is one request that goes
/// through the same handler as HTTP/1.1; answers are framed as the client's windows allow.
///
/// Back-pressure: frames are pulled from nghttp2 only while less than `outputHighWaterBytes` wait
/// for the socket, and the client is not read meanwhile; a stream whose window stays closed holds
/// its body queue, and once that passes the high-water mark its producer (the upstream) is paused.
final class HTTP2ServerConnection: StreamConnection, HTTP2SessionDelegate, ResponseSink, GracefulConnection {
    private enum Phase { case receiving, awaitingResponse, streaming, answered }

    private final class Stream {
        var method = "", path = "", authority = "", scheme = ""
        var headers = HTTPHeaders(reservingCapacity: 8)
        var headerBytes = 0
        var body: [UInt8] = []
        var bodyClaim: BodyClaim?
        var phase = Phase.receiving
        var exchange: HTTPExchange?
        var drainWaiters: [() -> Void] = []
        /// Loop time of the request's HEADERS: its body must be complete `bodyTimeout` later.
        var openedAt: Int64 = 0
        /// When the gateway answered a request the client had not finished (408, 413, 503).
        var answeredEarlyAt: Int64?
        var waitingSince: Int64?
    }

    /// Request bodies buffered on one connection, across its streams; beyond it new data is refused
    /// (REFUSED_STREAM: the client may retry), so a connection costs at most this much memory.
    private var bufferedBodyBytes = 0
    private var bufferedBodyLimit: Int { max(limits.maxBodyBytes, 32 << 20) }

    private var session: HTTP2Session?
    private var streams: [Int32: Stream] = [:]
    private let context: ConnectionContext
    var live: LiveConnections { context.live }
    private let limits: HTTP2Settings
    private let peer: SocketAddress?
    private let peerHost: String?
    private let clientCommonName: String?
    private let tlsVersion: String?
    private var idleTimer = TimerID.none
    private var goingAway = false
    private var receiving = false
    /// Streams whose requests completed during the current read. They are dispatched once all the
    /// read's frames are handled, so a stream the same read resets (a rapid reset) never reaches
    /// the upstream at all.
    private var completedStreams: [Int32] = []
    private var frameLimit: FrameRateLimit
    private var calmedDown = false

    init(takingOver predecessor: StreamConnection, peer: SocketAddress?, peerHost: String?, context: ConnectionContext,
         clientCommonName: String?, tlsVersion: String?) {
        self.context = context
        limits = context.options.http2 ?? HTTP2Settings()
        self.peer = peer
        self.peerHost = peerHost
        self.clientCommonName = clientCommonName
        self.tlsVersion = tlsVersion
        frameLimit = FrameRateLimit(burst: limits.costlyFrameBurst, perSecond: limits.costlyFramesPerSecond, now: predecessor.loop.now)
        super.init(takingOver: predecessor)
        readLimitBytes = 16384
    }

    /// Sends the server preface and handles whatever the client already sent.
    func begin() {
        if let peerHost, context.options.addressFrames.isExhausted(peerHost, now: loop.now) {
            // This address is still over its allowance of costly frames: refused before any HTTP/2 state exists.
            context.options.statistics.count(.http2FloodsStopped)
            write(HTTP2Session.refusalPreface(errorCode: HTTP2Session.enhanceYourCalm))
            closeSoon()
            return
        }
        do {
            session = try HTTP2Session(settings: limits, delegate: self)
        } catch {
            context.logger.error("listener \(context.listenerName): \(error)")
            close()
            return
        }
        resumeReading()
        armIdle()
        processInput()
        readBufferedInput()
    }

    // MARK: input

    override func didReceive() { processInput() }

    override func didReachEndOfInput() { close() }

    private func processInput() {
        guard let session, !receiving, !input.isEmpty else { flushSession(); return }
        receiving = true
        let failure = input.withReadableBytes { bytes -> HTTP2Error? in
            do throws(HTTP2Error) { try session.receive(bytes); return nil } catch { return error }
        }
        receiving = false
        input.removeAll()
        dispatchCompletedStreams()
        if let failure {
            if !calmedDown { context.logger.debug("listener \(context.listenerName): HTTP/2 connection from \(peer?.description ?? "?") failed: \(failure)") }
            flushSession()
            closeSoon()
            return
        }
        flushSession()
    }

    /// Moves frames from nghttp2 to the socket while the client keeps up.
    private func flushSession() {
        guard let session, !isClosed else { return }
        if pendingOutputBytes < context.settings.outputHighWaterBytes {
            var frames: [UInt8] = []
            session.takeOutput(into: &frames, limit: context.settings.outputHighWaterBytes)
            if !frames.isEmpty { write(frames) }
        }
        if isClosed { return }
        if pendingOutputBytes >= context.settings.outputHighWaterBytes { pauseReading() } else { resumeReading() }
        if session.isFinished || (goingAway && streams.isEmpty && !session.hasOutput) { closeAfterFlush() }
    }

    override func didDrainOutput() {
        flushSession()
        resumeDrainedStreams()
    }

    // MARK: nghttp2 events

    func streamOpened(_ id: Int32) {
        let stream = Stream()
        stream.openedAt = loop.now
        streams[id] = stream
        context.options.statistics.count(.http2Streams)
        disarmIdle()
        armSweep()
    }

    func stream(_ id: Int32, header name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2HeaderVerdict {
        guard let stream = streams[id] else { return .resetStream }
        stream.headerBytes += name.count + value.count + 32
        guard stream.headerBytes <= limits.maxHeaderListBytes, stream.headers.count < limits.maxHeaderCount else {
            context.logger.debug("listener \(context.listenerName): stream \(id) reset: header list beyond \(limits.maxHeaderListBytes) bytes or \(limits.maxHeaderCount) fields")
            // nghttp2 still decodes the rest of the block (an HPACK bomb makes that dear): it counts.
            return costlyFrameReceived(.oversizedHeaders) ? .resetStream : .endConnection
        }
        let nameText = String(decoding: name, as: UTF8.self), valueText = String(decoding: value, as: UTF8.self)
        switch nameText {
        case ":method": stream.method = valueText
        case ":path": stream.path = valueText
        case ":authority": stream.authority = valueText
        case ":scheme": stream.scheme = valueText
        default: stream.headers.add(nameText, valueText)
        }
        return .accept
    }

    func stream(_ id: Int32, data: UnsafeRawBufferPointer) -> Bool {
        guard let stream = streams[id], stream.phase == .receiving else { return true }
        guard bufferedBodyBytes + data.count <= bufferedBodyLimit else {
            context.logger.debug("listener \(context.listenerName): stream \(id) refused: \(bufferedBodyLimit) bytes of request bodies already buffered on this connection")
            release(stream)
            stream.phase = .answered
            session?.reset(stream: id, errorCode: HTTP2Session.refusedStream)
            return true
        }
        guard stream.body.count + data.count <= limits.maxBodyBytes else {
            release(stream)
            let envelope = FairComEnvelope.error(.bodyTooLarge, "request body is larger than \(limits.maxBodyBytes) bytes (limits.maxBodyBytes)")
            answerEarly(id, stream, status: 413, envelope)
            return true
        }
        let claim = stream.bodyClaim ?? BodyClaim(context.settings.bodyBudget)
        var needed = stream.body.count + data.count
        if stream.bodyClaim == nil, let declared = stream.headers["content-length"].flatMap({ Int($0) }),
           declared >= needed, declared <= limits.maxBodyBytes {
            // A declared length is claimed and reserved at once, so a large body is never copied to grow.
            needed = declared
        }
        stream.bodyClaim = claim
        guard claim.cover(needed) else {
            claim.noteRefusal(context.options.statistics, logger: context.logger, listener: context.listenerName, peer: peer, now: loop.now)
            let envelope = FairComEnvelope.error(.bodyBudgetExhausted, claim.refusal)
            release(stream)
            answerEarly(id, stream, status: 503, envelope, headers: BodyClaim.retryAfter)
            return true
        }
        if stream.body.isEmpty && needed > data.count { stream.body.reserveCapacity(needed) }
        stream.body.append(contentsOf: data)
        bufferedBodyBytes += data.count
        return true
    }

    private func release(_ stream: Stream) {
        bufferedBodyBytes -= stream.body.count
        OffLoopRelease.release(stream.body)
        stream.body = []
        stream.bodyClaim = nil
    }

    /// Answers a request whose body is still coming; the client may go on sending (it is dropped).
    private func answerEarly(_ id: Int32, _ stream: Stream, status: Int, _ envelope: FairComEnvelope, headers: [HTTPHeaderField] = []) {
        stream.answeredEarlyAt = loop.now
        let requestId = context.handler.serverAnswered(ServerAnswer(status: status, errorCode: envelope.errorCode, message: envelope.errorMessage,
                                                              peerHost: peerHost, listenerName: context.listenerName, protocolName: "HTTP/2",
                                                              tlsVersion: tlsVersion, method: stream.method, path: stream.path,
                                                              clientRequestId: stream.headers["x-request-id"]))
        respond(id, stream, status: status, headers: [HTTPHeaderField("Content-Type", "application/json")] + headers + requestId, body: envelope.bytes)
    }

    func streamRequestComplete(_ id: Int32) {
        if let stream = streams[id] { stream.answeredEarlyAt = nil }
        completedStreams.append(id)
    }

    func costlyFrameReceived(_ kind: HTTP2CostlyFrame) -> Bool {
        if kind == .reset { context.options.statistics.count(.http2ResetsReceived) }
        guard !calmedDown else { return false }
        let now = loop.now
        if frameLimit.allow(now: now)
            && context.options.addressFrames.allow(peerHost ?? "", burst: limits.costlyFrameBurst, perSecond: limits.costlyFramesPerSecond, now: now) {
            return true
        }
        calmedDown = true
        goingAway = true
        lastAcceptedStream = 0
        context.options.statistics.count(.http2FloodsStopped)
        if context.options.statistics.mayWarn(now: loop.now) {
            context.logger.warning("listener \(context.listenerName): HTTP/2 client \(peer?.description ?? "?") sent \(kind.rawValue) and other costly frames faster than \(limits.costlyFramesPerSecond) per second (burst \(limits.costlyFrameBurst), limits.http2CostlyFrame*): GOAWAY ENHANCE_YOUR_CALM (\(context.options.statistics[.http2FloodsStopped]) such connections so far)")
        }
        return false
    }

    private func dispatchCompletedStreams() {
        guard !completedStreams.isEmpty else { return }
        let ready = completedStreams
        completedStreams.removeAll(keepingCapacity: true)
        for id in ready where !calmedDown { dispatch(id) }
    }

    private func dispatch(_ id: Int32) {
        guard let stream = streams[id], stream.phase == .receiving, !goingAway || id <= lastAcceptedStream else { return }
        stream.phase = .awaitingResponse
        if stream.authority.isEmpty == false && stream.headers["host"] == nil { stream.headers.add("host", stream.authority) }
        let head = HTTP1RequestHead(method: stream.method, target: stream.path, versionMinor: 1, headers: stream.headers,
                                    framing: stream.body.isEmpty ? .none : .contentLength(stream.body.count),
                                    keepAlive: true, expectsContinue: false)
        var request = HTTPRequest(head: head, body: stream.body, peer: peer, peerHost: peerHost, listenerName: context.listenerName)
        request.clientCommonName = clientCommonName
        request.tlsVersion = tlsVersion
        request.usernameMustMatchCertificate = context.options.usernameMustMatchCertificate
        request.protocolName = "HTTP/2"
        request.bodyClaim = stream.bodyClaim
        release(stream)
        let pending = context.handler.handle(request, responder: HTTPResponder(sink: self, sequence: UInt64(id)))
        if stream.phase == .awaitingResponse || stream.phase == .streaming { stream.exchange = pending }
        if !receiving { flushSession() }
    }

    func streamClosed(_ id: Int32, errorCode: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        release(stream)
        stream.drainWaiters.removeAll()
        if let pending = stream.exchange {
            stream.exchange = nil
            pending.cancel()
        }
        if streams.isEmpty { armIdle() }
    }

    func streamBodyDrained(_ id: Int32, queuedBytes: Int) {
        guard let stream = streams[id], !stream.drainWaiters.isEmpty, queuedBytes <= context.settings.outputHighWaterBytes else { return }
        // Called from inside nghttp2's send loop: the producer resumes after it.
        loop.runSoon { [weak self] in self?.resumeDrainedStreams() }
    }

    private func resumeDrainedStreams() {
        for (id, stream) in streams where !stream.drainWaiters.isEmpty && !isCongested(UInt64(id)) {
            let waiters = stream.drainWaiters
            stream.drainWaiters.removeAll()
            stream.waitingSince = nil
            for resume in waiters { resume() }
        }
    }

    // MARK: answers (ResponseSink; the sequence is the stream id)

    private func awaiting(_ sequence: UInt64) -> (Int32, Stream)? {
        let id = Int32(truncatingIfNeeded: sequence)
        guard !isClosed, let stream = streams[id], stream.phase == .awaitingResponse || stream.phase == .streaming else { return nil }
        return (id, stream)
    }

    func isAwaiting(_ sequence: UInt64) -> Bool { awaiting(sequence) != nil }

    private func respond(_ id: Int32, _ stream: Stream, status: Int, headers: [HTTPHeaderField], body: [UInt8]) {
        stream.phase = .answered
        stream.exchange = nil
        let answer = stream.method == "HEAD" || body.isEmpty ? nil : body
        var block = Self.block(status, headers)
        block.addContentLength(body.count)
        _ = session?.submitResponse(stream: id, headers: block, body: answer, ended: true)
        if !receiving { flushSession() }
    }

    /// GatewayHTTP2 knows nothing of HTTP/1.1's types: the fields go over one by one.
    private static func block(_ status: Int, _ headers: [HTTPHeaderField]) -> HTTP2HeaderBlock {
        var block = HTTP2HeaderBlock(status: status)
        for field in headers { block.add(field.name, field.value) }
        return block
    }

    func sendWholeResponse(_ sequence: UInt64, status: Int, headers: [HTTPHeaderField], body: [UInt8]) {
        guard let (id, stream) = awaiting(sequence), stream.phase == .awaitingResponse else { return }
        respond(id, stream, status: status, headers: headers, body: body)
    }

    func beginStreaming(_ sequence: UInt64, status: Int, reason: String?, headers: [HTTPHeaderField], contentLength: Int?) {
        guard let (id, stream) = awaiting(sequence), stream.phase == .awaitingResponse else { return }
        stream.phase = .streaming
        var block = Self.block(status, headers)
        if let contentLength { block.addContentLength(contentLength) }
        _ = session?.submitResponse(stream: id, headers: block, body: [], ended: stream.method == "HEAD")
    }

    func sendStreamedBody(_ sequence: UInt64, _ bytes: [UInt8]) {
        guard let (id, stream) = awaiting(sequence), stream.phase == .streaming, !bytes.isEmpty, stream.method != "HEAD" else { return }
        session?.appendBody(stream: id, bytes)
        if !receiving { flushSession() }
    }

    func endStreaming(_ sequence: UInt64, reusable: Bool) {
        guard let (id, stream) = awaiting(sequence), stream.phase == .streaming else { return }
        stream.phase = .answered
        stream.exchange = nil
        if reusable { session?.endBody(stream: id) } else { session?.reset(stream: id, errorCode: HTTP2Session.internalError) }
        if !receiving { flushSession() }
    }

    func abort(_ sequence: UInt64) {
        guard let (id, stream) = awaiting(sequence) else { return }
        stream.phase = .answered
        stream.exchange = nil
        session?.reset(stream: id, errorCode: HTTP2Session.internalError)
        if !receiving { flushSession() }
    }

    func isCongested(_ sequence: UInt64) -> Bool {
        let id = Int32(truncatingIfNeeded: sequence)
        return pendingOutputBytes > context.settings.outputHighWaterBytes || (session?.queuedBodyBytes(stream: id) ?? 0) > context.settings.outputHighWaterBytes
    }

    func whenDrained(_ sequence: UInt64, _ resume: @escaping () -> Void) {
        guard let (_, stream) = awaiting(sequence), isCongested(sequence) else { resume(); return }
        if stream.drainWaiters.isEmpty { stream.waitingSince = loop.now }
        stream.drainWaiters.append(resume)
    }

    // MARK: shutdown and timers

    private var lastAcceptedStream = Int32.max

    /// After the GOAWAY, every stream still open is reset, then the connection closes.
    func cut() -> Int {
        closeGracefully()
        var count = 0
        for (id, stream) in streams where stream.phase != .answered {
            count += 1
            let reason = "cut at shutdown: the grace period (limits.shutdownGraceSeconds) is over"
            if let observer = stream.exchange?.clientResponder?.observer {
                observer.responseCut(errorCode: GatewayErrorCode.shuttingDown.rawValue, reason: reason)
            } else if stream.exchange == nil {
                // Its body still coming, no handler has it yet: logged as the server's own answer.
                _ = context.handler.serverAnswered(ServerAnswer(status: 0, errorCode: GatewayErrorCode.shuttingDown.rawValue, message: reason,
                                                                peerHost: peerHost, listenerName: context.listenerName, protocolName: "HTTP/2",
                                                                tlsVersion: tlsVersion, method: stream.method, path: stream.path,
                                                                clientRequestId: stream.headers["x-request-id"]))
            }
            session?.reset(stream: id, errorCode: HTTP2Session.cancel)
        }
        flushSession()
        closeSoon()
        return count
    }

    /// GOAWAY: streams already begun are answered, new ones refused, then the connection closes.
    func closeGracefully() {
        guard !goingAway, let session else { return }
        goingAway = true
        lastAcceptedStream = streams.keys.max() ?? 0
        session.goAway()
        flushSession()
    }

    /// No stream open: give back TLS buffers after a second, close after the keep-alive time.
    private func armIdle() {
        disarmIdle()
        idleTimer = loop.schedule(after: context.settings.keepAliveTimeoutMilliseconds, handler: self)
        if channel != nil {
            trimTimer = loop.schedule(after: min(HTTP1ServerConnection.idleTrimMilliseconds, context.settings.keepAliveTimeoutMilliseconds),
                                      handler: self, tag: 1)
        }
    }

    private func disarmIdle() {
        loop.cancel(idleTimer)
        idleTimer = .none
        loop.cancel(trimTimer)
        trimTimer = .none
    }

    private var trimTimer = TimerID.none
    private var lingerTimer = TimerID.none

    /// Closes once the output is written, or after a second at most: a peer that does not read
    /// its GOAWAY does not keep the connection.
    private func closeSoon() {
        closeAfterFlush()
        if !isClosed { lingerTimer = loop.schedule(after: 1000, handler: self, tag: 3) }
    }
    private var sweepTimer = TimerID.none

    /// Once a second while streams are open. A request whose body is not complete `bodyTimeout`
    /// after its HEADERS is answered 408, as HTTP/1.1 does (a trickle of bytes does not extend it),
    /// and reset a second later if the client still has not ended it; an answer the client has not
    /// taken for the send timeout is reset. A stalled stream holds neither memory nor an upstream
    /// connection for long.
    private func armSweep() {
        guard sweepTimer.isNone else { return }
        sweepTimer = loop.schedule(after: 1000, handler: self, tag: 2)
    }

    private func sweep() {
        sweepTimer = .none
        let now = loop.now
        for (id, stream) in streams {
            if stream.phase == .receiving && now - stream.openedAt > context.settings.bodyTimeoutMilliseconds {
                context.logger.debug("listener \(context.listenerName): stream \(id) answered 408: request body not complete in time")
                release(stream)
                let seconds = Double(context.settings.bodyTimeoutMilliseconds) / 1000
                answerEarly(id, stream, status: 408, .error(.requestTimeout, "request body not received within \(seconds) seconds"))
                continue
            }
            let unfinished = stream.answeredEarlyAt.map { now - $0 >= 1000 } ?? false
            let stalledAnswer = stream.waitingSince.map { now - $0 > context.settings.sendTimeoutMilliseconds } ?? false
            guard unfinished || stalledAnswer else { continue }
            context.logger.debug("listener \(context.listenerName): stream \(id) reset: \(unfinished ? "request still not ended after its answer" : "client stopped reading its answer")")
            stream.phase = .answered
            stream.answeredEarlyAt = nil
            stream.drainWaiters.removeAll()
            session?.reset(stream: id, errorCode: HTTP2Session.cancel)
        }
        flushSession()
        if !streams.isEmpty && !isClosed { armSweep() }
    }

    override func timerFired(_ tag: Int) {
        if tag == 2 { sweep(); return }
        if tag == 3 { lingerTimer = .none; close(); return }
        if tag == 1 {
            trimTimer = .none
            if streams.isEmpty && pendingOutputBytes == 0 { releaseIdleBuffers() }
            return
        }
        idleTimer = .none
        guard !isClosed, streams.isEmpty else { return }
        closeGracefully()
    }

    override func didClose(error: SystemError?) {
        disarmIdle()
        loop.cancel(sweepTimer)
        sweepTimer = .none
        loop.cancel(lingerTimer)
        lingerTimer = .none
        context.slot.release()
        let open = streams
        streams.removeAll()
        for stream in open.values {
            stream.drainWaiters.removeAll()
            stream.exchange?.cancel()
            stream.exchange = nil
        }
        session = nil
    }
}
