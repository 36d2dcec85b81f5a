import CGatewayShims
import COpenSSL
import GatewaySystem
import Glibc

/// Loads certificate, key and CA files into a context, checking each the way an operator would:
/// present, readable, a certificate, in its validity period, and matching its key.
enum CertificateFiles {
    /// "`<path>.<key>` "file": reason".
    static func problem(_ configPath: String, _ key: String, _ file: String, _ reason: String) -> TLSError {
        TLSError("\(configPath).\(key) \"\(file)\": \(reason)")
    }

    /// PEM files and CA bundles are small; a device or a FIFO named by mistake must not hang or exhaust the gateway.
    static let maxFileBytes = 16 << 20

    static func checkReadable(_ file: String, key: String, configPath: String) throws(TLSError) {
        if access(file, R_OK) != 0 {
            throw problem(configPath, key, file, "cannot read: \(String(cString: strerror(errno)))")
        }
        if let reason = FileSystem.regularFileProblem(file, maxBytes: maxFileBytes) {
            throw problem(configPath, key, file, reason)
        }
    }

    /// The first certificate of a PEM file must be valid today.
    static func checkValidity(_ file: String, key: String, configPath: String) throws(TLSError) {
        var subject = [CChar](repeating: 0, count: 256)
        var bound = [CChar](repeating: 0, count: 64)
        let state = cgw_pem_certificate_validity(file, &subject, subject.count, &bound, bound.count)
        ERR_clear_error()
        let subjectText = text(subject), boundText = text(bound)
        switch state {
        case 0: return
        case 1: throw problem(configPath, key, file, "certificate \(subjectText) expired on \(boundText)")
        case 2: throw problem(configPath, key, file, "certificate \(subjectText) is not valid before \(boundText)")
        default: throw problem(configPath, key, file, "no PEM certificate found")
        }
    }

    static func usePair(_ pair: CertificatePair, in context: OpaquePointer) throws(TLSError) {
        try checkReadable(pair.certificateFile, key: "certificateFilename", configPath: pair.configPath)
        try checkReadable(pair.privateKeyFile, key: "privateKeyFilename", configPath: pair.configPath)
        try checkValidity(pair.certificateFile, key: "certificateFilename", configPath: pair.configPath)
        guard SSL_CTX_use_certificate_chain_file(context, pair.certificateFile) == 1 else {
            throw problem(pair.configPath, "certificateFilename", pair.certificateFile, "not a usable certificate chain: \(OpenSSLErrors.drain())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, pair.privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
            let reasons = OpenSSLErrors.drain()
            if reasons.contains("mismatch") {
                throw problem(pair.configPath, "privateKeyFilename", pair.privateKeyFile, "does not match the certificate in \"\(pair.certificateFile)\"")
            }
            throw problem(pair.configPath, "privateKeyFilename", pair.privateKeyFile, "not a usable private key (PEM, unencrypted): \(reasons)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            _ = OpenSSLErrors.drain()
            throw problem(pair.configPath, "privateKeyFilename", pair.privateKeyFile,
                          "does not match the certificate in \"\(pair.certificateFile)\"")
        }
    }

    /// Trusts the CAs of `file` for verifying peers.
    static func useAuthorities(_ file: String, key: String, configPath: String, in context: OpaquePointer) throws(TLSError) {
        try checkReadable(file, key: key, configPath: configPath)
        try checkValidity(file, key: key, configPath: configPath)
        guard SSL_CTX_load_verify_locations(context, file, nil) == 1 else {
            throw problem(configPath, key, file, "not a usable CA bundle: \(OpenSSLErrors.drain())")
        }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
