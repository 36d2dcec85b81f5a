import GatewayEventLoop
import GatewayTestSupport
import GatewayTLS
import Glibc
import Testing

/// Server and client channels over a socketpair, pumped by hand: handshakes, data, resumption
/// and ticket-key rotation without a network or an event loop.
@Suite struct TLSChannelTests {
    let pki: TestCertificates
    let tickets: TicketKeyRing
    let server: TLSServerContext
    let client: TLSClientContext

    init() throws {
        pki = try TestCertificates.make()
        tickets = try TicketKeyRing()
        server = try TLSServerContext(settings: TLSServerSettings(
            defaultPair: CertificatePair(certificateFile: pki.path("server.pem"), privateKeyFile: pki.path("server.key"), configPath: "test"),
            configPath: "test"), tickets: tickets)
        var clientSettings = TLSClientSettings(serverName: "localhost", configPath: "test")
        clientSettings.certificateAuthorityFile = pki.path("ca.pem")
        client = try TLSClientContext(settings: clientSettings)
    }

    /// One connection: handshake, a request and an answer (which carries the TLS 1.3 tickets).
    func connect(serverName: String = "localhost") throws -> (server: TLSChannel, client: TLSChannel, descriptors: [Int32]) {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        for fd in pair { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) }
        let serverSide = try TLSChannel(server: server, descriptor: pair[0])
        let clientSide = try TLSChannel(client: client, descriptor: pair[1])
        var serverDone = false, clientDone = false
        for _ in 0..<50 where !(serverDone && clientDone) {
            if !clientDone { clientDone = try step(clientSide.handshake()) }
            if !serverDone { serverDone = try step(serverSide.handshake()) }
        }
        #expect(serverDone && clientDone)
        try send("ping", from: clientSide, to: serverSide)
        try send("pong", from: serverSide, to: clientSide)
        return (serverSide, clientSide, pair)
    }

    func step(_ result: ChannelStep) throws -> Bool {
        switch result {
        case .done: return true
        case .wantRead, .wantWrite: return false
        case .closed: throw TestSupportError("closed during the handshake")
        case .failed(let reason): throw TestSupportError(reason)
        }
    }

    func send(_ text: String, from sender: TLSChannel, to receiver: TLSChannel) throws {
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { sender.write($0) }
        #expect(written == .done(bytes.count))
        var buffer = [UInt8](repeating: 0, count: 256)
        let got = buffer.withUnsafeMutableBytes { receiver.read(into: $0) }
        guard case .done(let count) = got else { throw TestSupportError("read gave \(got)") }
        #expect(String(decoding: buffer.prefix(count), as: UTF8.self) == text)
        // The reader also takes any post-handshake messages (tickets) queued behind the data.
        _ = buffer.withUnsafeMutableBytes { receiver.read(into: $0) }
    }

    /// Closes as the gateway does (close_notify first): OpenSSL marks the session of a connection
    /// freed without it as not resumable.
    func close(_ connection: (server: TLSChannel, client: TLSChannel, descriptors: [Int32])) {
        connection.client.shutdown()
        connection.server.shutdown()
        connection.descriptors.forEach { _ = Glibc.close($0) }
    }

    @Test func aSecondConnectionResumesAndNegotiatesTLS13() throws {
        let first = try connect()
        #expect(!first.server.isResumed)
        #expect(first.server.protocolVersion == "TLSv1.3")
        close(first)
        let second = try connect()
        #expect(second.server.isResumed && second.client.isResumed)
        close(second)
    }

    @Test func anIdleConnectionGivesBackItsBuffersAndStillWorks() throws {
        let connection = try connect()
        connection.server.releaseBuffers()
        connection.client.releaseBuffers()
        try send("after trimming", from: connection.client, to: connection.server)
        try send("still fine", from: connection.server, to: connection.client)
        close(connection)
    }

    @Test func ticketsOutliveOneRotationButNotThree() throws {
        close(try connect())
        tickets.rotate()
        let afterOne = try connect()
        #expect(afterOne.server.isResumed, "a ticket sealed with the previous key still opens")
        close(afterOne)
        // That resumption handed out a fresh ticket under the newest key; three rotations retire it.
        tickets.rotate()
        tickets.rotate()
        tickets.rotate()
        let afterThree = try connect()
        #expect(!afterThree.server.isResumed, "a ticket whose key rotated out must not resume")
        close(afterThree)
    }

    @Test func theClientChecksTheServersName() throws {
        var settings = TLSClientSettings(serverName: "db.example.com", configPath: "test")
        settings.certificateAuthorityFile = pki.path("ca.pem")
        let strict = try TLSClientContext(settings: settings)
        var pair: [Int32] = [0, 0]
        _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair)
        for fd in pair { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK) }
        defer { pair.forEach { _ = Glibc.close($0) } }
        let serverSide = try TLSChannel(server: server, descriptor: pair[0])
        let clientSide = try TLSChannel(client: strict, descriptor: pair[1])
        var failure: String?
        for _ in 0..<20 where failure == nil {
            if case .failed(let reason) = clientSide.handshake() { failure = reason }
            _ = serverSide.handshake()
        }
        #expect(failure?.contains("hostname mismatch") == true, "\(failure ?? "no failure")")
    }

    @Test func aContextWithAMissingKeyFileNamesIt() throws {
        let settings = TLSServerSettings(defaultPair: CertificatePair(certificateFile: pki.path("server.pem"), privateKeyFile: "/missing/key.pem",
                                                                      configPath: "listeners[2].tls"), configPath: "listeners[2].tls")
        #expect(throws: TLSError(#"listeners[2].tls.privateKeyFilename "/missing/key.pem": cannot read: No such file or directory"#)) {
            _ = try TLSServerContext(settings: settings, tickets: tickets)
        }
    }
}
