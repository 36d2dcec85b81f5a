import GatewayEventLoop
import GatewayHTTPServer
import GatewayJSON
import GatewayLogging
import GatewaySystem
import GatewayTLS

/// Starts the FairCom-style stub: one loop per worker, a listener on each.
public final class StubServer {
    public struct Options: Sendable {
        public var address = "127.0.0.1"
        public var port = 18080
        public var workers = ProcessSetup.onlineProcessorCount
        public var accounts: [String: String] = ["admin": "ADMIN"]
        public var faults = StubFaults()
        public var allowsPermanentSessions = true
        public var maxSessionsPerAddress = 0
        public var tokenBytes = 48
        public var logLevel = Logger.Level.warning
        /// Serve HTTPS (an `https://` upstream for tests): certificate and key files.
        public var tlsCertificate: String?
        public var tlsKey: String?
        /// Require client certificates issued by this CA (FairCom's mTLS port).
        public var tlsClientAuthority: String?
        public init() {}
    }

    public let state: StubState
    public let boundAddress: SocketAddress
    private let group: EventLoopGroup
    private var listeners: [Listener] = []

    public init(options: Options) throws {
        state = StubState(accounts: options.accounts, faults: options.faults, allowsPermanentSessions: options.allowsPermanentSessions, tokenBytes: options.tokenBytes,
                           maxSessionsPerAddress: options.maxSessionsPerAddress)
        guard let address = SocketAddress(host: options.address, port: options.port) else {
            throw StubError("--address \(options.address) is not a numeric IPv4 or IPv6 address")
        }
        group = try EventLoopGroup(count: options.workers)
        let (sockets, bound) = try ListenerBinder.bind(address: address, loopCount: group.loops.count)
        boundAddress = bound
        let counter = ConnectionCounter(limit: 100_000)
        let handlers = group.loops.map { StubHandler(loop: $0, state: state, counter: counter) }
        var listenerOptions = ListenerOptions()
        if let certificate = options.tlsCertificate, let key = options.tlsKey {
            var tls = TLSServerSettings(defaultPair: CertificatePair(certificateFile: certificate, privateKeyFile: key, configPath: "--tls"),
                                        configPath: "--tls")
            tls.applicationProtocols = ["http/1.1"]
            if let authority = options.tlsClientAuthority {
                tls.clientCertificates = .required
                tls.clientCertificateAuthorityFile = authority
            }
            let tickets = try TicketKeyRing()
            listenerOptions.tls = TLSContextHolder(try TLSServerContext(settings: tls, tickets: tickets), tickets: tickets)
        }
        listeners = try ListenerBinder.start(name: "stub", sockets: sockets, loops: group.loops, counter: counter,
                                             settings: HTTPServerSettings(), options: listenerOptions, handlers: handlers,
                                             logger: Logger(label: "faircom-stub", level: options.logLevel))
    }

    public func start() { group.start() }
    public func stop() { group.stop() }

    /// Reads an accounts file: a JSON object of username to password.
    public static func loadAccounts(path: String) throws -> [String: String] {
        let text = try FileSystem.readText(path)
        guard case .object(let members) = try JSONParser.parse(text) else {
            throw StubError("\(path): expected a JSON object of username to password")
        }
        var accounts: [String: String] = [:]
        for (name, value) in members {
            guard let password = value.stringValue else { throw StubError("\(path): password of '\(name)' is not a string") }
            accounts[name] = password
        }
        return accounts
    }
}

public struct StubError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
