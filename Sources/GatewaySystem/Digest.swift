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
