import CGatewayShims
import COpenSSL
import Synchronization

/// The OpenSSL context for one `https://` upstream: verifies the upstream's certificate against the
/// configured CA (or the system store) and its name, presents a client certificate when configured,
/// and remembers the last session so new pool connections resume instead of a full handshake.
public final class TLSClientContext: @unchecked Sendable {
    public let settings: TLSClientSettings
    let context: OpaquePointer
    private let lastSession = Mutex<SessionReference?>(nil)

    public init(settings: TLSClientSettings) throws(TLSError) {
        self.settings = settings
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw OpenSSLErrors.error("cannot create a TLS context") }
        self.context = context
        // Every property is set: a throw below runs deinit, which frees the context.
        do {
            try TLSContextOptions.applyCommon("TLSv1.2", nil, configPath: settings.configPath, releaseBuffers: true, to: context)
            _ = SSL_CTX_set_options(context, cgw_ssl_client_options())
            if let authorities = settings.certificateAuthorityFile {
                try CertificateFiles.useAuthorities(authorities, key: "certificateAuthorityFilename", configPath: settings.configPath, in: context)
            } else if SSL_CTX_set_default_verify_paths(context) != 1 {
                throw OpenSSLErrors.error("\(settings.configPath): cannot load the system's CA store")
            }
            if let pair = settings.clientPair { try CertificateFiles.usePair(pair, in: context) }
            SSL_CTX_set_verify(context, settings.verifyServer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
            // Sessions arrive when the server sends a ticket (in TLS 1.3 after the handshake), so they
            // are taken from the new-session callback rather than read off a finished handshake.
            _ = cgw_ssl_ctx_set_session_cache_mode(context, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
            _ = SSL_CTX_set_ex_data(context, 0, Unmanaged.passUnretained(self).toOpaque())
            SSL_CTX_sess_set_new_cb(context, clientSessionArrived)
        }
    }

    deinit {
        lastSession.withLock { if let session = $0 { SSL_SESSION_free(session.pointer) } }
        SSL_CTX_free(context)
    }

    /// A new reference to the last session, for the caller to hand to `SSL_set_session` and free.
    func resumableSession() -> OpaquePointer? {
        let reference = lastSession.withLock { stored -> SessionReference? in
            guard let session = stored?.pointer, SSL_SESSION_is_resumable(session) == 1 else { return nil }
            _ = SSL_SESSION_up_ref(session)
            return stored
        }
        return reference?.pointer
    }

    /// Takes ownership of `session` (a reference from `SSL_get1_session`).
    func remember(_ session: OpaquePointer) {
        let previous = lastSession.withLock { stored -> SessionReference? in
            let old = stored
            stored = SessionReference(pointer: session)
            return old
        }
        if let previous { SSL_SESSION_free(previous.pointer) }
    }
}

/// OpenSSL hands over a new session (one reference); returning 1 keeps it.
private func clientSessionArrived(_ ssl: OpaquePointer?, _ session: OpaquePointer?) -> Int32 {
    guard let ssl, let session, let context = SSL_get_SSL_CTX(ssl), let owner = SSL_CTX_get_ex_data(context, 0) else { return 0 }
    Unmanaged<TLSClientContext>.fromOpaque(owner).takeUnretainedValue().remember(session)
    return 1
}

/// An `SSL_SESSION` reference; OpenSSL sessions are reference-counted and safe to share.
private struct SessionReference: @unchecked Sendable {
    let pointer: OpaquePointer
}
