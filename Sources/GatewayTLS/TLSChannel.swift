import CGatewayShims
import COpenSSL
import GatewayEventLoop
import Glibc

/// One TLS connection over a non-blocking socket (OpenSSL's `SSL`), driven by its StreamConnection.
public final class TLSChannel: SecureChannel {
    private let ssl: OpaquePointer
    /// Keeps the listener's or upstream's contexts (and the callbacks' argument) alive.
    private let owner: AnyObject
    private var shutdownSent = false

    /// The server side of an accepted socket.
    public init(server: TLSServerContext, descriptor: Int32) throws(TLSError) {
        guard let ssl = SSL_new(server.defaultContext) else { throw OpenSSLErrors.error("cannot create a TLS connection") }
        self.ssl = ssl
        owner = server
        guard SSL_set_fd(ssl, descriptor) == 1 else { throw OpenSSLErrors.error("cannot attach TLS to the socket") }
        SSL_set_accept_state(ssl)
    }

    /// The client side of a connected (or connecting) socket to an upstream.
    public init(client: TLSClientContext, descriptor: Int32) throws(TLSError) {
        guard let ssl = SSL_new(client.context) else { throw OpenSSLErrors.error("cannot create a TLS connection") }
        self.ssl = ssl
        owner = client
        guard SSL_set_fd(ssl, descriptor) == 1 else { throw OpenSSLErrors.error("cannot attach TLS to the socket") }
        let name = client.settings.serverName
        if !name.isEmpty && !Self.isAddressLiteral(name) { _ = cgw_ssl_set_tlsext_host_name(ssl, name) }
        if client.settings.verifyServer && !name.isEmpty { _ = SSL_set1_host(ssl, name) }
        if let session = client.resumableSession() { _ = SSL_set_session(ssl, session); SSL_SESSION_free(session) }
        SSL_set_connect_state(ssl)
    }

    deinit { SSL_free(ssl) }

    public func handshake() -> ChannelStep {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .done(0) }
        return step(after: result, handshaking: true)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) -> ChannelStep {
        ERR_clear_error()
        let result = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        return result > 0 ? .done(Int(result)) : step(after: result, handshaking: false)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> ChannelStep {
        ERR_clear_error()
        let result = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        return result > 0 ? .done(Int(result)) : step(after: result, handshaking: false)
    }

    public var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 }

    public func releaseBuffers() {
        _ = SSL_free_buffers(ssl)
    }

    public func shutdown() {
        guard !shutdownSent else { return }
        shutdownSent = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func step(after result: Int32, handshaking: Bool) -> ChannelStep {
        let code = SSL_get_error(ssl, result)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .closed
        case SSL_ERROR_SYSCALL:
            let reasons = OpenSSLErrors.drain()
            let number = errno
            if reasons.isEmpty && (number == 0 || result == 0) { return handshaking ? .failed("the peer closed the connection during the handshake") : .closed }
            return .failed(reasons.isEmpty ? String(cString: strerror(number)) : reasons)
        default:
            shutdownSent = true // no close_notify on a broken connection
            let verify = SSL_get_verify_result(ssl)
            let reasons = OpenSSLErrors.drain()
            if verify != X509_V_OK {
                let who = SSL_is_server(ssl) == 1 ? "client" : "server"
                return .failed("\(who) certificate rejected: \(String(cString: X509_verify_cert_error_string(verify)))")
            }
            return .failed(reasons.isEmpty ? "TLS error \(code)" : reasons)
        }
    }

    // MARK: what was negotiated

    /// The ALPN protocol both sides agreed on ("h2", "http/1.1"), nil without ALPN.
    public var applicationProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    public var serverName: String? {
        SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    }

    /// The verified client certificate's subject common name.
    /// Read once, after the handshake: every request of the connection reports it.
    public private(set) lazy var peerCommonName: String? = readPeerCommonName()

    private func readPeerCommonName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let length = cgw_ssl_peer_common_name(ssl, &buffer, buffer.count)
        guard length > 0 else { return nil }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var isResumed: Bool { SSL_session_reused(ssl) == 1 }
    public private(set) lazy var protocolVersion: String = String(cString: SSL_get_version(ssl))
    public var cipher: String { SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)).map { String(cString: $0) } ?? "" }

    static func isAddressLiteral(_ name: String) -> Bool {
        name.contains(":") || name.allSatisfy { $0 == "." || $0.isNumber }
    }
}
