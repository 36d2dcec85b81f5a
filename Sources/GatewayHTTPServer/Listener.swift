import Glibc
import GatewayEventLoop
import GatewayHTTP1
import GatewayJSON
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// Accepts connections on one loop's socket of a listener and turns them into HTTP connections
/// (TLS first when the listener has it). Beyond the listener's `maxConnections` a plain client gets
/// a 503 with a FairCom-shaped body and is closed; a TLS client is closed.
///
/// Loop-confined like its connections; `@unchecked Sendable` only so that another thread can hand
/// `shutDown` to its loop through `EventLoop.execute`.
public final class Listener: IOHandler, TimerHandler, @unchecked Sendable {
    public let name: String
    public let loop: EventLoop
    private let socket: Socket
    private let counter: ConnectionCounter
    private let handler: HTTPRequestHandler
    private let logger: Logger
    private let live: LiveConnections
    /// What new connections get; a reload replaces it, and connections already open keep theirs.
    private var context: ConnectionContext
    private var options: ListenerOptions { context.options }
    private var accepting = true
    private var stopped = false

    init(name: String, loop: EventLoop, socket: Socket, counter: ConnectionCounter, settings: HTTPServerSettings,
         options: ListenerOptions, handler: HTTPRequestHandler, logger: Logger) throws(SystemError) {
        self.name = name
        self.loop = loop
        self.socket = socket
        self.counter = counter
        self.handler = handler
        self.logger = logger
        live = LiveConnections(loop: loop)
        context = ConnectionContext(listenerName: name, slot: counter, settings: settings, options: options, live: live,
                                    handler: handler, logger: logger)
        try loop.register(socket, interest: .read, handler: self)
    }

    public func ioReady(_ readiness: Readiness) {
        // A bounded batch per wake-up keeps one busy listener from starving the loop's connections.
        for _ in 0..<64 {
            let result: IOResult<(Socket, SocketAddress?)>
            do {
                result = try socket.accept()
            } catch {
                handleAcceptFailure(error)
                return
            }
            guard case .processed(let (client, peer)) = result else { return }
            admit(client, peer: peer)
        }
    }

    private func admit(_ client: Socket, peer: SocketAddress?) {
        // An address flooding HTTP/2 with costly frames is turned away at accept while it has no
        // allowance left: a new connection then costs it a handshake and us a close.
        if options.http2 != nil, options.addressFrames.mayBeExhausted(now: loop.now), let host = peer?.host,
           options.addressFrames.isExhausted(host, now: loop.now) {
            options.statistics.count(.http2FloodsStopped)
            client.close()
            return
        }
        guard counter.tryAcquire() else {
            refuse(client)
            return
        }
        client.setNoDelay()
        var channel: TLSChannel?
        if let tls = options.tls {
            do {
                channel = try TLSChannel(server: tls.current, descriptor: client.fd)
            } catch {
                logger.error("listener \(name): \(error)")
                client.close()
                counter.release()
                return
            }
        }
        let connection = HTTP1ServerConnection(loop: loop, socket: client, tls: channel, peer: peer, context: context)
        do {
            try connection.start()
        } catch {
            logger.warning("listener \(name): cannot register connection: \(error)")
            connection.close()
        }
    }

    private func refuse(_ client: Socket) {
        if options.tls != nil {
            client.close()
            logger.debug("listener \(name): refused a connection beyond maxConnections \(counter.limit)")
            return
        }
        let envelope = FairComEnvelope.error(.tooManyConnections,
            "listener '\(name)' is at its limit of \(counter.limit) connections (listeners[].maxConnections); try again later")
        let response = HTTP1Serializer.jsonResponse(status: 503, body: envelope.bytes, keepAlive: false)
        _ = response.withUnsafeBytes { try? client.write($0) }
        client.close()
        logger.debug("listener \(name): refused a connection beyond maxConnections \(counter.limit)")
    }

    /// Out of descriptors or memory: stop accepting briefly instead of spinning on a ready listener.
    private func handleAcceptFailure(_ error: SystemError) {
        switch error.errno {
        case ECONNABORTED, EPROTO, EPERM:
            return
        default:
            logger.error("listener \(name): \(error); pausing accepts for 100 ms")
            accepting = false
            try? loop.setInterest(socket, .none)
            _ = loop.schedule(after: 100, handler: self)
        }
    }

    public func timerFired(_ tag: Int) {
        guard !stopped else { return }
        accepting = true
        try? loop.setInterest(socket, .read)
    }

    /// A reload: new connections get these settings and HTTP/2 and TLS options (the TLS contexts,
    /// ticket keys and counters stay the listener's own). Runs on the listener's loop.
    public func update(settings: HTTPServerSettings, options: ListenerOptions) {
        context = ConnectionContext(listenerName: name, slot: counter, settings: settings, options: options, live: live,
                                    handler: handler, logger: logger)
    }

    /// A reload removed or changed this listener: its socket closes, and the connections it
    /// accepted go on as they were. Runs on the listener's loop.
    public func stopAccepting() {
        guard !stopped else { return }
        stopped = true
        loop.deregister(socket)
        socket.close()
    }

    /// Stops accepting and asks every connection to finish what it has begun (HTTP/2: GOAWAY).
    /// Runs on the listener's loop.
    public func shutDown() {
        stopAccepting()
        live.closeAllGracefully()
    }

    /// The grace period is over: every connection is cut. Returns the connections and requests cut.
    public func cutAll() -> (connections: Int, requests: Int) {
        live.cutAll()
    }
}

/// Binds one listening socket per loop on the same address (SO_REUSEPORT), so the kernel spreads
/// connections across loops. Port 0 picks a free port once, and every loop binds that one.
public enum ListenerBinder {
    public static func bind(address: SocketAddress, loopCount: Int) throws(SystemError) -> (sockets: [Socket], bound: SocketAddress) {
        // Serialized with any other gateway binding this port now, then probed for an owner.
        let claim = address.port != 0 ? try PortClaim(port: address.port) : nil
        defer { claim?.release() }
        if address.port != 0 { try Socket.checkAvailable(address) }
        var sockets: [Socket] = []
        do {
            let first = try Socket.listen(on: address, reusePort: true)
            sockets.append(first)
            let bound = try first.localAddress()
            for _ in 1..<max(1, loopCount) {
                sockets.append(try Socket.listen(on: bound, reusePort: true))
            }
            return (sockets, bound)
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
    }

    /// Starts one loop's listener on its socket; on that loop's thread once the loop runs.
    public static func startOne(name: String, socket: Socket, loop: EventLoop, counter: ConnectionCounter,
                                settings: HTTPServerSettings, options: ListenerOptions, handler: HTTPRequestHandler,
                                logger: Logger) throws(SystemError) -> Listener {
        try Listener(name: name, loop: loop, socket: socket, counter: counter, settings: settings, options: options,
                     handler: handler, logger: logger)
    }

    /// Starts a listener on each loop, each on its own socket; must run before the loops start.
    public static func start(name: String, sockets: [Socket], loops: [EventLoop], counter: ConnectionCounter,
                             settings: HTTPServerSettings, options: ListenerOptions, handlers: [HTTPRequestHandler],
                             logger: Logger) throws(SystemError) -> [Listener] {
        var listeners: [Listener] = []
        for (index, loop) in loops.enumerated() {
            listeners.append(try Listener(name: name, loop: loop, socket: sockets[index], counter: counter,
                                          settings: settings, options: options, handler: handlers[index], logger: logger))
        }
        return listeners
    }
}
