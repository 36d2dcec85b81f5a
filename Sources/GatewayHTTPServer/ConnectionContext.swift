import GatewayLogging

/// What every connection one listener accepts on one loop shares, held once: a connection keeps one
/// reference to it instead of its own copy of each value (an idle connection's memory is mostly its
/// own object). A reload gives the listener a new context; connections already open keep theirs.
final class ConnectionContext {
    let listenerName: String
    let slot: ConnectionCounter
    let settings: HTTPServerSettings
    let options: ListenerOptions
    let live: LiveConnections
    let handler: HTTPRequestHandler
    let logger: Logger

    init(listenerName: String, slot: ConnectionCounter, settings: HTTPServerSettings, options: ListenerOptions,
         live: LiveConnections, handler: HTTPRequestHandler, logger: Logger) {
        self.listenerName = listenerName
        self.slot = slot
        self.settings = settings
        self.options = options
        self.live = live
        self.handler = handler
        self.logger = logger
    }
}
