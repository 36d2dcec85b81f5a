/// A connection that can be asked to finish: answer what it has started, take nothing new, close.
protocol GracefulConnection: AnyObject {
    func closeGracefully()
    /// The shutdown's grace period is over: answers or resets what is under way, closes, and
    /// returns how many requests were cut.
    func cut() -> Int
}

/// The open client connections of one listener on one loop, so a shutdown can reach them all.
/// Loop-confined, like the connections themselves.
final class LiveConnections {
    private var connections: [ObjectIdentifier: GracefulConnection] = [:]

    func add(_ connection: GracefulConnection) { connections[ObjectIdentifier(connection)] = connection }
    func remove(_ connection: GracefulConnection) { connections[ObjectIdentifier(connection)] = nil }

    func closeAllGracefully() {
        for connection in Array(connections.values) { connection.closeGracefully() }
    }

    /// Cuts every connection; returns the connections and the requests cut.
    func cutAll() -> (connections: Int, requests: Int) {
        let all = Array(connections.values)
        return (all.count, all.reduce(0) { $0 + $1.cut() })
    }
}
