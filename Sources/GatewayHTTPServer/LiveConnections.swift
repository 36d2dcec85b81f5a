/// A connection that can be asked to finish: answer what it has started, take nothing new, close.
protocol GracefulConnection: AnyObject {
    func closeGracefully()
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
}
