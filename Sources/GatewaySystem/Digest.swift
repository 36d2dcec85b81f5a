import CGatewayShims

/// SHA-256 through OpenSSL's SHA256 functions (see cgw_sha256 for why not EVP).
public enum SHA256Digest {
    public static let byteCount = 32

    public static func hash(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= byteCount)
        cgw_sha256(input.baseAddress, input.count, output.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    public static func hash(_ input: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        input.withUnsafeBytes { bytes in out.withUnsafeMutableBytes { hash(bytes, into: $0) } }
        return out
    }
}

/// CRC-32C (Castagnoli), the checksum of iSCSI, ext4 metadata and the session journal's lines.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        cgw_crc32c(bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// Eight lowercase hex digits, as the journal writes a checksum.
    public static func hex(_ value: UInt32) -> [UInt8] {
        // Hex.write gives 16 digits: shifted up, the value's 8 come first and the rest is dropped.
        [UInt8](unsafeUninitializedCapacity: 16) { out, count in
            Hex.write(UInt64(value) << 32, into: out, at: 0)
            count = 8
        }
    }
}

/// SHA-1, only for what names things by it (Redis scripts for EVALSHA); never for security.
public enum SHA1Digest {
    public static func hex(_ input: [UInt8]) -> String {
        var out = [UInt8](repeating: 0, count: 20)
        input.withUnsafeBytes { bytes in out.withUnsafeMutableBufferPointer { cgw_sha1(bytes.baseAddress, bytes.count, $0.baseAddress!) } }
        return Hex.string(out)
    }
}

/// Authenticated encryption (AES-256-GCM) with a 32-byte key: a secret stored where others can
/// read it (an upstream token in Redis) is sealed, and bound to what it belongs to (`context`),
/// so that a sealed value copied to another record does not open there.
public struct SealingKey: Sendable {
    public static let byteCount = 32
    private let key: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        key = bytes
    }

    /// nonce (12 bytes) + ciphertext + tag (16 bytes).
    public func seal(_ plain: [UInt8], context: [UInt8]) -> [UInt8] {
        let nonce = SecureRandom.bytes(12)
        var out = [UInt8](repeating: 0, count: plain.count + 16)
        let written = out.withUnsafeMutableBufferPointer { o in
            cgw_aes256gcm_seal(key, nonce, context, Int32(context.count), plain, Int32(plain.count), o.baseAddress!)
        }
        precondition(written == plain.count + 16, "AES-256-GCM failed in OpenSSL")
        return nonce + out
    }

    /// The plain bytes, or nil when `sealed` was not made by this key for this `context`.
    public func open(_ sealed: [UInt8], context: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 28 else { return nil }
        let nonce = Array(sealed[0..<12]), body = Array(sealed[12...])
        var out = [UInt8](repeating: 0, count: body.count)
        let written = out.withUnsafeMutableBufferPointer { o in
            cgw_aes256gcm_open(key, nonce, context, Int32(context.count), body, Int32(body.count), o.baseAddress!)
        }
        guard written >= 0 else { return nil }
        return Array(out[0..<Int(written)])
    }
}
