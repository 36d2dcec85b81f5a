import GatewayEventLoop
import GatewayHTTP1
import GatewayJSON
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// One client connection speaking HTTP/1.1: parses requests strictly, answers them in order
/// (pipelined requests wait in the input until the one before is answered), and enforces the
/// header, body, keep-alive and send timeouts.
///
/// Back-pressure: while a request is being answered at most `pipelineWindowBytes` more are read;
/// while the client leaves more than `outputHighWaterBytes` unread, nothing new is parsed and
/// streaming producers are told to wait (`isCongested`, `whenDrained`).
///
/// It is also every connection's front door: it runs the TLS handshake, and hands the socket to an
/// HTTP/2 connection when ALPN chose h2 or a plain client opens with the HTTP/2 preface.
public final class HTTP1ServerConnection: StreamConnection, ResponseSink, GracefulConnection {
    private enum Timer: Int { case keepAlive, header, body, send, handshake, trim }

    /// An idle TLS connection gives back its record buffers after this long (then waits out the rest
    /// of the keep-alive time): busy connections keep them, idle ones cost little memory.
    static let idleTrimMilliseconds: Int64 = 1000
    private enum Phase { case reading, awaitingResponse, streaming }

    // Stored properties in this order so that the one-byte ones fill the tail of the odd-sized
    // ones: every idle keep-alive connection is one of these objects, so its bytes count.
    private let context: ConnectionContext
    private let tls: TLSChannel?
    private var bodyClaim: BodyClaim?
    private var sequence: UInt64 = 0
    private var exchange: HTTPExchange?
    private var timer = TimerID.none
    private var drainWaiters: [() -> Void] = []
    private var parser: HTTP1RequestParser
    private let peer: SocketAddress?
    /// Until the first bytes show HTTP/1.1 or the HTTP/2 preface (plain listeners with HTTP/2).
    private var awaitingPreface: Bool
    private var phase = Phase.reading
    private var currentTimer: Timer?
    private lazy var peerHost: String? = peer?.host
    private var head: HTTP1RequestHead?
    private var responseKeepAlive = true
    private var streamingChunked = false
    private var streamingRaw = false
    private var peerFinishedSending = false
    private var processing = false
    /// An HTTP/1.0 client cannot read chunked bodies; remembered per request.
    private var headersSaidHTTP10 = false
    /// A HEAD request gets the head of the answer only.
    private var answeringHEAD = false

    var live: LiveConnections { context.live }
    /// Asked of the channel when needed, not copied here: a plain connection has neither.
    private var clientCommonName: String? { tls?.peerCommonName }
    private var tlsVersion: String? { tls?.protocolVersion }

    init(loop: EventLoop, socket: Socket, tls: TLSChannel?, peer: SocketAddress?, context: ConnectionContext) {
        self.context = context
        self.peer = peer
        self.tls = tls
        awaitingPreface = tls == nil && context.options.http2 != nil
        parser = HTTP1RequestParser(limits: context.settings.limits)
        super.init(loop: loop, socket: socket, channel: tls)
    }

    public override func start() throws(SystemError) {
        arm(tls != nil ? .handshake : .keepAlive)
        try super.start()
    }

    // MARK: TLS and protocol choice

    public override func didEstablishSecurity() {
        guard let tls else { return }
        context.options.statistics.count(.handshakes)
        if tls.isResumed { context.options.statistics.count(.resumedHandshakes) }
        if context.options.http2 != nil && tls.applicationProtocol == "h2" {
            handOverToHTTP2()
            return
        }
        armIdle()
    }

    /// Waiting for the next request. The input and output buffers go at once, as nginx frees its
    /// request's buffers: held until later, they left holes between the objects of the connections
    /// accepted meanwhile, which cost idle connections twice their own size. A TLS channel's record
    /// buffers (16 KiB and more, costly to make again) wait a second, in case the next request follows.
    private func armIdle() {
        releaseBuffersIfIdle()
        arm(tls != nil ? .trim : .keepAlive)
    }

    private func releaseBuffersIfIdle() {
        if phase == .reading && head == nil { releaseIdleBuffers(includingChannel: false) }
    }

    public override func answerToPlaintextOnSecurePort() -> [UInt8]? {
        let envelope = FairComEnvelope.error(.badHTTPRequest, "plain HTTP was sent to the TLS listener \(context.listenerName); use https://").bytes
        return Array("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(envelope.count)\r\nConnection: close\r\n\r\n".utf8) + envelope
    }

    public override func didFailSecurity(_ reason: String) {
        context.options.statistics.count(.handshakeFailures)
        let client = peer?.description ?? "?"
        if reason.contains("certificate") {
            context.options.statistics.count(.clientCertificateRejections)
            context.logger.warning("listener \(context.listenerName): TLS handshake with \(client) failed: \(reason)")
        } else {
            context.logger.debug("listener \(context.listenerName): TLS handshake with \(client) failed: \(reason)")
        }
    }

    private static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Plain listeners: true while the input may still become the HTTP/2 preface.
    private func waitForPrefaceDecision() -> Bool {
        guard awaitingPreface else { return false }
        let available = min(input.readableCount, Self.http2Preface.count)
        let matches = input.readableBytes.prefix(available).elementsEqual(Self.http2Preface.prefix(available))
        if !matches { awaitingPreface = false; return false }
        if available < Self.http2Preface.count { return true }
        awaitingPreface = false
        handOverToHTTP2()
        return true
    }

    private func handOverToHTTP2() {
        disarm()
        let successor = HTTP2ServerConnection(takingOver: self, peer: peer, peerHost: peerHost, context: context,
                                              clientCommonName: clientCommonName, tlsVersion: tlsVersion)
        context.options.statistics.count(.http2Connections)
        successor.begin()
    }

    static let cutMessage = "the gateway is shutting down and its grace period (limits.shutdownGraceSeconds) is over; send the request again"

    func cut() -> Int {
        switch phase {
        case .awaitingResponse:
            // Not answered yet: the client learns why, in FairCom's shape, before the close; through
            // the request's own responder when there is one (its X-Request-ID, its access log line).
            let envelope = FairComEnvelope.error(.shuttingDown, Self.cutMessage)
            guard let pending = exchange else {
                respondAndClose(status: 503, envelope: envelope)
                return 1
            }
            exchange = nil
            if let responder = pending.clientResponder, responder.isActive {
                responseKeepAlive = false
                responder.respond(status: 503, body: envelope.bytes)
                pending.cancel()
            } else {
                pending.cancel()
                respondAndClose(status: 503, envelope: envelope)
            }
            return 1
        case .streaming:
            close()
            return 1
        case .reading:
            // A request whose head was read while its body still comes is answered (and logged) as
            // one under way; half a head, or an answer not yet all sent, is cut.
            if head != nil {
                respondAndClose(status: 503, envelope: .error(.shuttingDown, Self.cutMessage))
                return 1
            }
            let partial = !input.isEmpty || pendingOutputBytes > 0
            close()
            return partial ? 1 : 0
        }
    }

    func closeGracefully() {
        if phase == .reading && input.isEmpty && head == nil && !isHandshaking {
            // Answered, but the client may not have read it all yet: it goes out before the close.
            closeAfterFlush()
            return
        }
        responseKeepAlive = false
        peerFinishedSending = true
        pauseReading()
    }

    // MARK: input

    public override func didReceive() {
        if phase == .reading, currentTimer == .keepAlive || currentTimer == .trim { arm(.header) }
        processInput()
    }

    public override func didReachEndOfInput() {
        peerFinishedSending = true
        pauseReading()
        // Anything still unparsed is an incomplete request: nothing more will complete it.
        if phase == .reading { closeIfPeerIsDone() }
        if phase == .awaitingResponse, let pending = exchange, pending.withdrawIfNotSent() {
            exchange = nil
            close()
        }
    }

    private func processInput() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        if waitForPrefaceDecision() { return }
        while phase == .reading && !isClosed {
            if pendingOutputBytes > context.settings.outputHighWaterBytes {
                pauseReading()
                return
            }
            // No Result of a tuple here: its generic destroy ran through the runtime's witnesses on every read.
            var failure: HTTP1ParseError?
            let (consumed, parsed) = input.withReadableBytes { bytes -> (Int, HTTP1RequestEvent?) in
                do throws(HTTP1ParseError) { return try parser.parse(bytes) } catch { failure = error; return (0, nil) }
            }
            if let failure {
                reject(failure)
                return
            }
            input.consume(consumed)
            guard let event = parsed else {
                if let head, case .chunked = head.framing, !claimBody(parser.bufferedBodyCount) { return }
                break
            }
            switch event {
            case .head(let head):
                self.head = head
                if case .contentLength(let declared) = head.framing {
                    guard claimBody(declared) else { return }
                    parser.reserveDeclaredBody()
                }
                if head.framing != .none {
                    arm(.body)
                    if head.expectsContinue && input.isEmpty { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
                }
            case .end(let body):
                if !body.isEmpty && !claimBody(body.count) { return }
                dispatch(body: body)
            }
        }
        updateReadPolicy()
    }

    private func dispatch(body: [UInt8]) {
        guard let head else { return }
        self.head = nil
        phase = .awaitingResponse
        sequence &+= 1
        responseKeepAlive = head.keepAlive
        headersSaidHTTP10 = head.versionMinor == 0
        answeringHEAD = head.method == "HEAD"
        disarm()
        var request = HTTPRequest(head: head, body: body, peer: peer, peerHost: peerHost, listenerName: context.listenerName)
        request.clientCommonName = clientCommonName
        request.tlsVersion = tlsVersion
        request.usernameMustMatchCertificate = context.options.usernameMustMatchCertificate
        request.bodyClaim = bodyClaim
        bodyClaim = nil
        let pending = context.handler.handle(request, responder: HTTPResponder(sink: self, sequence: sequence))
        if phase != .reading { exchange = pending }
    }

    /// Claims a body's bytes from the gateway's budget (a declared length at once, a chunked body
    /// as it arrives); when the budget is spent the request is answered 503 and the connection closes.
    private func claimBody(_ total: Int) -> Bool {
        let claim = bodyClaim ?? BodyClaim(context.settings.bodyBudget)
        bodyClaim = claim
        if claim.cover(total) { return true }
        claim.noteRefusal(context.options.statistics, logger: context.logger, listener: context.listenerName, peer: peer, now: loop.now)
        respondAndClose(status: 503, envelope: .error(.bodyBudgetExhausted, claim.refusal), headers: BodyClaim.retryAfter)
        bodyClaim = nil
        parser = HTTP1RequestParser(limits: context.settings.limits)
        return false
    }

    private func updateReadPolicy() {
        guard !isClosed, !peerFinishedSending else { return }
        if phase == .reading || input.readableCount < context.settings.pipelineWindowBytes {
            if pendingOutputBytes <= context.settings.outputHighWaterBytes { resumeReading() }
        } else {
            pauseReading()
        }
    }

    /// A malformed or oversized request: answer with its status and a FairCom-shaped body, then close.
    private func reject(_ error: HTTP1ParseError) {
        let code: GatewayErrorCode = error.status == 413 ? .bodyTooLarge : .badHTTPRequest
        context.logger.debug("rejected request from \(peer?.description ?? "?"): \(error)")
        respondAndClose(status: error.status, envelope: .error(code, error.message))
    }

    /// The X-Request-ID in a head the parser refused, which is still in the input.
    private func refusedHeadRequestId() -> String? {
        RawHeaderLookup.value("x-request-id", in: input.readableBytes, limit: context.settings.limits.maxHeaderBytes)
    }

    private func respondAndClose(status: Int, envelope: FairComEnvelope, headers: [HTTPHeaderField] = []) {
        phase = .awaitingResponse
        sequence &+= 1
        responseKeepAlive = false
        disarm()
        let requestId = context.handler.serverAnswered(ServerAnswer(status: status, errorCode: envelope.errorCode, message: envelope.errorMessage,
                                                              peerHost: peerHost, listenerName: context.listenerName, protocolName: "HTTP/1.1",
                                                              tlsVersion: tlsVersion, method: head?.method, path: head.map { String($0.path) },
                                                              clientRequestId: head?.headers["x-request-id"] ?? refusedHeadRequestId()))
        write(HTTP1Serializer.jsonResponse(status: status, body: envelope.bytes, keepAlive: false, extraHeaders: headers + requestId))
        closeAfterFlush()
    }

    // MARK: output (called through HTTPResponder)

    func isAwaiting(_ sequence: UInt64) -> Bool {
        !isClosed && self.sequence == sequence && phase != .reading
    }

    func sendWholeResponse(_ sequence: UInt64, status: Int, headers: [HTTPHeaderField], body: [UInt8]) {
        guard phase == .awaitingResponse else { return }
        var bytes = HTTP1Serializer.responseHead(status: status, headers: withKeepAlive(headers), contentLength: body.count, keepAlive: responseKeepAlive)
        if !answeringHEAD { bytes.append(contentsOf: body) }
        write(bytes)
        finishResponse(reusable: true)
    }

    func beginStreaming(_ sequence: UInt64, status: Int, reason: String?, headers: [HTTPHeaderField], contentLength: Int?) {
        guard phase == .awaitingResponse else { return }
        phase = .streaming
        let http10 = contentLength == nil && headersSaidHTTP10
        streamingChunked = contentLength == nil && !http10
        streamingRaw = http10
        if http10 { responseKeepAlive = false }
        queue(HTTP1Serializer.responseHead(status: status, reason: reason, headers: withKeepAlive(headers), contentLength: streamingRaw ? nil : contentLength,
                                           keepAlive: responseKeepAlive, omitFraming: streamingRaw))
    }


    /// HTTP/1.0 clients keep a connection only when told so explicitly. (Concatenated only when
    /// there is a header to add: even `+ []` copies a shared array, one allocation per answer.)
    private func withKeepAlive(_ headers: [HTTPHeaderField]) -> [HTTPHeaderField] {
        headersSaidHTTP10 && responseKeepAlive ? headers + [HTTPHeaderField("Connection", "keep-alive")] : headers
    }

    func sendStreamedBody(_ sequence: UInt64, _ bytes: [UInt8]) {
        guard phase == .streaming, !bytes.isEmpty else { return }
        write(streamingChunked ? HTTP1Serializer.chunk(bytes) : bytes)
        if isCongested && timer.isNone { arm(.send) }
    }

    func endStreaming(_ sequence: UInt64, reusable: Bool) {
        guard phase == .streaming else { return }
        if streamingChunked && reusable { queue(HTTP1Serializer.chunk([])) }
        flushOutput()
        finishResponse(reusable: reusable && !streamingRaw)
    }

    var isCongested: Bool { pendingOutputBytes > context.settings.outputHighWaterBytes }

    func isCongested(_ sequence: UInt64) -> Bool { isCongested }

    func abort(_ sequence: UInt64) { close() }

    func whenDrained(_ sequence: UInt64, _ resume: @escaping () -> Void) {
        if !isCongested { resume() } else { drainWaiters.append(resume) }
    }

    public override func didDrainOutput() {
        if case .send = currentTimer {
            disarm()
            // The slow reader has read it all: what it sent meanwhile gets the timeout of where it stands.
            if phase == .reading {
                if head != nil { arm(.body) } else if input.isEmpty { armIdle() } else { arm(.header) }
            }
        }
        releaseBuffersIfIdle()
        let waiters = drainWaiters
        drainWaiters.removeAll()
        for resume in waiters { resume() }
        if phase == .reading && !processing {
            updateReadPolicy()
            processInput()
        }
    }

    private func finishResponse(reusable: Bool) {
        exchange = nil
        if !reusable || !responseKeepAlive {
            phase = .awaitingResponse
            sequence &+= 1
            closeAfterFlush()
            return
        }
        phase = .reading
        // While any of the answer still waits in the output, the send timeout applies, not the
        // keep-alive one: a keep-alive close then would throw the unsent tail away.
        if pendingOutputBytes > 0 { arm(.send) } else if input.isEmpty { armIdle() } else { arm(.header) }
        if !processing {
            updateReadPolicy()
            processInput()
            closeIfPeerIsDone()
        }
    }

    /// A client that half-closed gets answers to every complete request it sent, then the close.
    private func closeIfPeerIsDone() {
        guard peerFinishedSending, phase == .reading, !isClosed else { return }
        phase = .awaitingResponse
        sequence &+= 1
        closeAfterFlush()
    }

    // MARK: timers


    private func arm(_ kind: Timer) {
        disarm()
        let milliseconds: Int64
        switch kind {
        case .keepAlive: milliseconds = context.settings.keepAliveTimeoutMilliseconds
        case .header: milliseconds = context.settings.headerTimeoutMilliseconds
        case .body: milliseconds = context.settings.bodyTimeoutMilliseconds
        case .send: milliseconds = context.settings.sendTimeoutMilliseconds
        case .handshake: milliseconds = context.options.handshakeTimeoutMilliseconds
        case .trim: milliseconds = min(Self.idleTrimMilliseconds, context.settings.keepAliveTimeoutMilliseconds)
        }
        currentTimer = kind
        timer = loop.schedule(after: milliseconds, handler: self, tag: kind.rawValue)
    }

    private func disarm() {
        loop.cancel(timer)
        timer = .none
        currentTimer = nil
    }

    public override func timerFired(_ tag: Int) {
        timer = .none
        currentTimer = nil
        guard !isClosed, let kind = Timer(rawValue: tag) else { return }
        switch kind {
        case .keepAlive, .send:
            close()
        case .trim:
            releaseIdleBuffers()
            let rest = context.settings.keepAliveTimeoutMilliseconds - Self.idleTrimMilliseconds
            if rest <= 0 { close(); return }
            currentTimer = .keepAlive
            timer = loop.schedule(after: rest, handler: self, tag: Timer.keepAlive.rawValue)
        case .handshake:
            context.options.statistics.count(.handshakeTimeouts)
            context.logger.debug("listener \(context.listenerName): TLS handshake with \(peer?.description ?? "?") not finished within \(context.options.handshakeTimeoutMilliseconds) ms")
            close()
        case .header, .body:
            guard phase == .reading else { return }
            let what = kind == .header ? "request headers" : "request body"
            let seconds = Double(kind == .header ? context.settings.headerTimeoutMilliseconds : context.settings.bodyTimeoutMilliseconds) / 1000
            respondAndClose(status: 408, envelope: .error(.requestTimeout, "\(what) not received within \(seconds) seconds"))
        }
    }

    public override func didClose(error: SystemError?) {
        disarm()
        context.slot.release()
        drainWaiters.removeAll()
        OffLoopRelease.release(parser.takeBufferedBody())
        bodyClaim = nil
        if let pending = exchange {
            exchange = nil
            pending.cancel()
        }
    }
}
