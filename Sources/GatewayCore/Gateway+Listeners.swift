import Dispatch
import GatewayConfig
import GatewayEventLoop
import GatewayHTTPServer
import GatewaySystem
import GatewayTLS
import Synchronization

/// One configured listener as it runs: a Listener per loop on its own socket, one connection
/// counter, and the options (TLS contexts, HTTP/2 limits, counters) its connections share.
struct ActiveListener {
    let config: ListenerConfiguration
    let address: SocketAddress
    let listeners: [Listener]
    let counter: ConnectionCounter
    var options: ListenerOptions
    var isAdmin: Bool

    var statisticsEntry: (name: String, counter: ConnectionCounter, statistics: ListenerStatistics) {
        (config.name, counter, options.statistics)
    }
}

/// How many reloads were applied and refused, for /metrics and /stats.
final class ReloadCounters: Sendable {
    let applied = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
}

/// Carries loop-confined objects to their loop; used only by `Gateway.onEveryLoop`, which runs
/// each body on the loop that owns what it touches.
private struct LoopWork: @unchecked Sendable {
    let body: () -> Void
}

extension Gateway {
    /// Starts `config`'s Listener on every loop. Before the loops run that happens here; once they
    /// run, each loop registers its own (its handler table is its own).
    func startListener(_ config: ListenerConfiguration, sockets: [Socket], address: SocketAddress, options: ListenerOptions,
                       settings: HTTPServerSettings, loopsRunning: Bool) throws -> ActiveListener {
        let isAdmin = configuration.admin.map { $0.listener.enabled && $0.listener.name == config.name } ?? false
        let counter = ConnectionCounter(limit: config.maxConnections)
        let perLoop: [HTTPRequestHandler] = isAdmin ? adminHandlers : handlers
        var listeners: [Listener] = []
        if loopsRunning {
            let made = Mutex<[Int: Result<Listener, SystemError>]>([:])
            onEveryLoop { [logger] loop in
                let result = Result { () throws(SystemError) -> Listener in
                    try ListenerBinder.startOne(name: config.name, socket: sockets[loop.index], loop: loop, counter: counter,
                                                settings: settings, options: options, handler: perLoop[loop.index], logger: logger)
                }
                made.withLock { $0[loop.index] = result }
            }
            let results = made.withLock { $0 }
            for index in group.loops.indices {
                switch results[index] {
                case .success(let listener)?: listeners.append(listener)
                case .failure(let error)?:
                    for listener in listeners { listener.loop.execute { listener.stopAccepting() } }
                    throw error
                case nil: throw GatewayStartError(message: "listener \(config.name): loop \(index) did not start it")
                }
            }
        } else {
            listeners = try ListenerBinder.start(name: config.name, sockets: sockets, loops: group.loops, counter: counter,
                                                 settings: settings, options: options, handlers: perLoop, logger: logger)
        }
        if let holder = options.tls, let tls = config.tls {
            // One rotation per TLS listener, at a third of its ticket lifetime.
            let rotation = TicketRotation(loop: group.loops[0], rings: [holder.tickets],
                                          intervalMilliseconds: Int64(max(20, tls.server.ticketLifetimeSeconds / 3)) * 1000)
            ticketRotations.append(rotation)
            if loopsRunning { onLoop(0) { rotation.start() } }
        }
        return ActiveListener(config: config, address: address, listeners: listeners, counter: counter, options: options, isAdmin: isAdmin)
    }

    /// Tells /stats and /metrics which listeners there are (every loop's handler, and the figures).
    func publishListeners() {
        let statistics = active.map(\.statisticsEntry)
        figures.setListeners(active.map { ($0.config.name, $0.address.description, $0.config.tls != nil, $0.counter, $0.options.statistics) })
        for handler in handlers {
            if group.isRunning {
                onLoop(handler.actions.loop.index) { handler.listenerStatistics = statistics }
            } else {
                handler.listenerStatistics = statistics
            }
        }
    }

    /// Runs `body` on every loop, each on its own thread, and returns once all have run.
    func onEveryLoop(_ body: @escaping (EventLoop) -> Void) {
        let done = DispatchSemaphore(value: 0)
        for loop in group.loops {
            let work = LoopWork { body(loop) }
            loop.execute {
                work.body()
                done.signal()
            }
        }
        for _ in group.loops { done.wait() }
    }

    /// Runs `body` on loop `index` and returns once it has run.
    func onLoop(_ index: Int, _ body: @escaping () -> Void) {
        let done = DispatchSemaphore(value: 0)
        let work = LoopWork(body: body)
        group.loops[index].execute {
            work.body()
            done.signal()
        }
        done.wait()
    }
}
