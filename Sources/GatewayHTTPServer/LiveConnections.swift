import GatewayEventLoop

/// A connection that can be asked to finish: answer what it has started, take nothing new, close.
protocol GracefulConnection: AnyObject {
    /// Whose connection it is: the listener's (on this loop) that accepted it.
    var live: LiveConnections { get }
    func closeGracefully()
    /// The shutdown's grace period is over: answers or resets what is under way, closes, and
    /// returns how many requests were cut.
    func cut() -> Int
}

/// The open client connections of one listener on one loop, so a shutdown can reach them all.
/// They are found in the loop's table of registered handlers rather than kept here: an entry per
/// connection in a table of its own cost every idle connection about 50 bytes, for a shutdown's sake.
/// Loop-confined, like the connections themselves.
final class LiveConnections {
    private let loop: EventLoop

    init(loop: EventLoop) { self.loop = loop }

    private var connections: [GracefulConnection] {
        var found: [GracefulConnection] = []
        loop.forEachHandler { handler in
            if let connection = handler as? GracefulConnection, connection.live === self { found.append(connection) }
        }
        return found
    }

    func closeAllGracefully() {
        for connection in connections { connection.closeGracefully() }
    }

    /// Cuts every connection; returns the connections and the requests cut.
    func cutAll() -> (connections: Int, requests: Int) {
        let all = connections
        return (all.count, all.reduce(0) { $0 + $1.cut() })
    }
}
