import GatewayEventLoop
import GatewaySystem
import GatewayTLS

/// Opens a connection to the Redis master: straight to the configured address, or to the one the
/// Sentinels name (asked in turn, each with the connect timeout), and queues the handshake
/// (AUTH, SELECT, and ROLE to confirm a Sentinel's answer) ahead of whatever the caller sends.
struct RedisConnector {
    let loop: EventLoop
    let settings: RedisSettings

    func connect(_ completion: @escaping (Result<RedisConnection, RedisError>) -> Void) {
        switch settings.endpoint {
        case .direct(let address):
            completion(Result { () throws(RedisError) in try open(address, expectMaster: false) })
        case .sentinel(let sentinels, let name):
            resolveMaster(sentinels, name: name, index: 0, completion)
        }
    }

    private func resolveMaster(_ sentinels: [SocketAddress], name: String, index: Int,
                               _ completion: @escaping (Result<RedisConnection, RedisError>) -> Void) {
        guard index < sentinels.count else {
            completion(.failure(.connectionLost("no Sentinel of \(sentinels.map(\.description).joined(separator: ", ")) named a master for '\(name)'")))
            return
        }
        let probe: RedisConnection
        do { probe = try connection(to: sentinels[index], tls: nil) } catch {
            resolveMaster(sentinels, name: name, index: index + 1, completion)
            return
        }
        if let password = settings.sentinelPassword { probe.send(["AUTH", password].map { Array($0.utf8) }) { _ in } }
        probe.send(["SENTINEL", "get-master-addr-by-name", name].map { Array($0.utf8) }) { result in
            probe.fail("done", nil)
            if case .success(let value) = result, let parts = value.elements, parts.count == 2,
               let host = parts[0].string, let port = parts[1].integer, let address = SocketAddress(host: host, port: port) {
                completion(Result { () throws(RedisError) in try open(address, expectMaster: true) })
            } else {
                resolveMaster(sentinels, name: name, index: index + 1, completion)
            }
        }
    }

    private func open(_ address: SocketAddress, expectMaster: Bool) throws(RedisError) -> RedisConnection {
        let connection = try connection(to: address, tls: settings.tls)
        // The handshake goes first in the pipeline; a command behind a failed AUTH fails with NOAUTH.
        if let password = settings.password {
            let auth = settings.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            connection.send(auth.map { Array($0.utf8) }) { [weak connection] result in
                // The reply may quote the command: only its code is kept, never the password.
                if case .failure(let error) = result {
                    let code: String
                    if case .unavailable(let text) = error { code = String(text.prefix { $0 != " " }) } else { code = "\(error)" }
                    connection?.fail("AUTH refused (\(code))", .unavailable("AUTH refused (\(code)); check fleet.username and fleet.password or fleet.passwordFile"))
                }
            }
        }
        if settings.database != 0 {
            connection.send(["SELECT", String(settings.database)].map { Array($0.utf8) }) { _ in }
        }
        if expectMaster {
            connection.send([Array("ROLE".utf8)]) { [weak connection] result in
                if case .success(let value) = result, value.elements?.first?.string != "master" {
                    connection?.fail("the Sentinels' master is not a master (ROLE \(value.elements?.first?.string ?? "?"))",
                                     .unavailable("READONLY the Sentinels named a replica"))
                }
            }
        }
        return connection
    }

    private func connection(to address: SocketAddress, tls: TLSClientContext?) throws(RedisError) -> RedisConnection {
        let socket: Socket, state: IOResult<Void>
        do { (socket, state) = try Socket.connect(to: address) } catch {
            throw .connectionLost("connect to \(address) failed: \(error.reason)")
        }
        var channel: TLSChannel?
        if let tls {
            do { channel = try TLSChannel(client: tls, descriptor: socket.fd) } catch {
                socket.close()
                throw .connectionLost("TLS to \(address): \(error.message)")
            }
        }
        let connection = RedisConnection(loop: loop, socket: socket, channel: channel,
                                         commandTimeoutMilliseconds: settings.commandTimeoutMilliseconds,
                                         connectTimeoutMilliseconds: settings.connectTimeoutMilliseconds)
        var connected = false
        if case .processed = state { connected = true }
        do { try connection.begin(alreadyConnected: connected) } catch {
            connection.close()
            throw .connectionLost("connect to \(address) failed: \(error.reason)")
        }
        return connection
    }
}
