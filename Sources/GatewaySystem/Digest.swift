import COpenSSL

/// SHA-256 through OpenSSL's one-shot EVP interface.
public enum SHA256Digest {
    public static let byteCount = 32

    public static func hash<Bytes: Collection<UInt8>>(_ input: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        let ok = input.withContiguousStorageIfAvailable { buffer in
            digest(buffer, into: &out)
        } ?? Array(input).withUnsafeBufferPointer { digest($0, into: &out) }
        precondition(ok, "EVP_Digest(SHA-256) failed")
        return out
    }

    private static func digest(_ input: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        var length: UInt32 = 0
        return out.withUnsafeMutableBufferPointer { outBuffer in
            EVP_Digest(input.baseAddress, input.count, outBuffer.baseAddress, &length, EVP_sha256(), nil) == 1
        }
    }
}
