import CGatewayShims
import COpenSSL
import Glibc

/// The OpenSSL contexts of one TLS listener: a default certificate and any chosen by SNI, all with
/// the same protocol floor, ciphers, ALPN list, client-certificate policy and ticket keys.
///
/// Immutable once built and shared by every loop (OpenSSL contexts are thread-safe for making
/// connections); a reload builds a new one and swaps it in, while connections keep the one they
/// started with alive through their channel.
public final class TLSServerContext: @unchecked Sendable {
    public let settings: TLSServerSettings
    let defaultContext: OpaquePointer
    /// Exact names first, then `*.` suffixes, each with its context.
    private var exactNames: [String: OpaquePointer] = [:]
    private var wildcardSuffixes: [(String, OpaquePointer)] = []
    private var contexts: [OpaquePointer] = []
    private let alpnWire: [UInt8]
    private let tickets: TicketKeyRing

    /// Builds every context, checking each file; throws the first problem with its path and reason.
    public init(settings: TLSServerSettings, tickets: TicketKeyRing) throws(TLSError) {
        self.settings = settings
        self.tickets = tickets
        var wire: [UInt8] = []
        for name in settings.applicationProtocols {
            wire.append(UInt8(name.utf8.count))
            wire.append(contentsOf: name.utf8)
        }
        alpnWire = wire
        defaultContext = try Self.makeContext(settings)
        contexts.append(defaultContext)
        // From here on a throw runs deinit (every property is set), which frees `contexts`.
        try CertificateFiles.usePair(settings.defaultPair, in: defaultContext)
        for pair in settings.sniPairs {
            let context = try Self.makeContext(settings)
            contexts.append(context)
            try CertificateFiles.usePair(pair, in: context)
            for name in pair.serverNames.map({ $0.lowercased() }) {
                if name.hasPrefix("*.") { wildcardSuffixes.append((String(name.dropFirst(1)), context)) } else { exactNames[name] = context }
            }
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        for context in contexts {
            guard cgw_ticket_keys_install(context, tickets.keys) == 1 else { throw OpenSSLErrors.error("cannot install session ticket keys") }
            SSL_CTX_set_alpn_select_cb(context, alpnSelect, me)
            if !settings.sniPairs.isEmpty { _ = cgw_ssl_ctx_set_servername_callback(context, serverNameSelect, me) }
        }
    }

    deinit {
        for context in contexts { SSL_CTX_free(context) }
    }

    private static func makeContext(_ settings: TLSServerSettings) throws(TLSError) -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw OpenSSLErrors.error("cannot create a TLS context") }
        do throws(TLSError) {
            try TLSContextOptions.applyCommon(settings.minimumProtocol, settings.allowedCipherSuites, configPath: settings.configPath,
                                              releaseBuffers: false, to: context)
            _ = SSL_CTX_set_options(context, cgw_ssl_server_options())
            var sessionContext = Array("faircom-gateway".utf8)
            _ = SSL_CTX_set_session_id_context(context, &sessionContext, UInt32(sessionContext.count))
            _ = SSL_CTX_set_timeout(context, Int(settings.ticketLifetimeSeconds))
            // Resumption is by ticket only: no server-side session store, whose lock and periodic
            // sweep cost every full handshake (nginx's default does the same).
            _ = cgw_ssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE))
            if settings.clientCertificates != .none, let authorities = settings.clientCertificateAuthorityFile {
                try CertificateFiles.useAuthorities(authorities, key: "clientCertificateAuthorityFilename", configPath: settings.configPath, in: context)
                if let names = SSL_load_client_CA_file(authorities) { SSL_CTX_set_client_CA_list(context, names) }
                let mode = settings.clientCertificates == .required ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
                SSL_CTX_set_verify(context, mode, nil)
                SSL_CTX_set_verify_depth(context, 8)
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        return context
    }

    /// The context for an SNI host name, or nil to keep the default.
    fileprivate func context(forServerName name: String) -> OpaquePointer? {
        let name = name.lowercased()
        if let exact = exactNames[name] { return exact }
        if let dot = name.firstIndex(of: ".") {
            let suffix = String(name[dot...])
            if let match = wildcardSuffixes.first(where: { $0.0 == suffix }) { return match.1 }
        }
        return nil
    }

    fileprivate var alpnBytes: [UInt8] { alpnWire }
}

/// Settings every context shares, server or client side.
enum TLSContextOptions {
    /// `releaseBuffers`: OpenSSL frees a connection's record buffers whenever they empty. Client
    /// listeners leave it off (it costs a large malloc and free per request on keep-alive
    /// connections) and trim idle connections with `SecureChannel.releaseBuffers` instead.
    static func applyCommon(_ minimumProtocol: String, _ cipherSuites: String?, configPath: String, releaseBuffers: Bool,
                            to context: OpaquePointer) throws(TLSError) {
        let floor = minimumProtocol == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION
        guard cgw_ssl_ctx_set_min_proto_version(context, floor) == 1 else { throw OpenSSLErrors.error("cannot set the minimum TLS version") }
        let release = releaseBuffers ? SSL_MODE_RELEASE_BUFFERS : 0
        _ = cgw_ssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | release))
        _ = cgw_ssl_ctx_set1_groups_list(context, "X25519:P-256:P-384")
        // One read() takes whatever the kernel has (several records), instead of a header and a body each.
        cgw_ssl_ctx_set_read_ahead(context, 1)
        var classic = TLSServerSettings.defaultCipherList, modern = TLSServerSettings.defaultTLS13Suites
        if let cipherSuites {
            let names = cipherSuites.split(separator: ":").map { $0.trimmingCharacters() }.filter { !$0.isEmpty }
            let tls13 = names.filter { $0.hasPrefix("TLS_") }, older = names.filter { !$0.hasPrefix("TLS_") }
            if !older.isEmpty { classic = older.joined(separator: ":") }
            if !tls13.isEmpty { modern = tls13.joined(separator: ":") }
        }
        guard SSL_CTX_set_cipher_list(context, classic) == 1 else {
            _ = OpenSSLErrors.drain()
            throw TLSError("\(configPath).allowedCipherSuites \"\(cipherSuites ?? classic)\": no TLS 1.2 cipher OpenSSL knows in \"\(classic)\"")
        }
        guard SSL_CTX_set_ciphersuites(context, modern) == 1 else {
            _ = OpenSSLErrors.drain()
            throw TLSError("\(configPath).allowedCipherSuites \"\(cipherSuites ?? modern)\": no TLS 1.3 suite OpenSSL knows in \"\(modern)\"")
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

/// Server preference: the first of our protocols the client also offers; none in common → no ALPN (HTTP/1.1).
private func alpnSelect(_ ssl: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ outLength: UnsafeMutablePointer<UInt8>?,
                        _ offered: UnsafePointer<UInt8>?, _ offeredLength: UInt32, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let argument, let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
    let server = Unmanaged<TLSServerContext>.fromOpaque(argument).takeUnretainedValue()
    let ours = server.alpnBytes
    // Walk our list in order and find each in the client's (both are length-prefixed).
    var index = 0
    while index < ours.count {
        let length = Int(ours[index])
        let candidate = ours[(index + 1)..<(index + 1 + length)]
        var theirs = 0
        while theirs < Int(offeredLength) {
            let theirLength = Int(offered[theirs])
            if theirLength == length && theirs + 1 + length <= Int(offeredLength)
                && candidate.elementsEqual(UnsafeBufferPointer(start: offered + theirs + 1, count: length)) {
                out.pointee = offered + theirs + 1
                outLength.pointee = UInt8(length)
                return SSL_TLSEXT_ERR_OK
            }
            theirs += 1 + theirLength
        }
        index += 1 + length
    }
    return SSL_TLSEXT_ERR_NOACK
}

private func serverNameSelect(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let argument, let raw = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) else { return SSL_TLSEXT_ERR_OK }
    let server = Unmanaged<TLSServerContext>.fromOpaque(argument).takeUnretainedValue()
    if let context = server.context(forServerName: String(cString: raw)) { _ = SSL_set_SSL_CTX(ssl, context) }
    return SSL_TLSEXT_ERR_OK
}
