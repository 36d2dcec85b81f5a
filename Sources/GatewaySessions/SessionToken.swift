import GatewaySystem

/// Gateway-issued session tokens: 384 random bits from OpenSSL's RAND_bytes, base64url: 64
/// characters, the length of FairCom's own tokens, so that swapping one for the other in a
/// response keeps its length and the response can stream through unbuffered.
public enum SessionToken {
    public static let randomByteCount = 48
    public static let length = 64

    public static func generate() -> String { SecureRandom.urlSafeToken(byteCount: randomByteCount) }

    /// Whether `text` could be a token this gateway issued; anything else is unknown without a lookup.
    public static func isWellFormed(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { isWellFormed(UnsafeRawBufferPointer($0)) }
    }

    public static func isWellFormed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == length else { return false }
        // The base64url alphabet as a 128-bit set: one shift and mask per byte.
        let low: UInt64 = 0x03FF_2000_0000_0000    // '-' (45) and '0'...'9' (48...57)
        let high: UInt64 = 0x07FF_FFFE_87FF_FFFE   // 'A'...'Z', '_' (95), 'a'...'z'
        for byte in bytes {
            let allowed = byte < 64 ? (low >> UInt64(byte)) & 1 : byte < 128 ? (high >> UInt64(byte - 64)) & 1 : 0
            if allowed == 0 { return false }
        }
        return true
    }
}

/// The SHA-256 digest of a gateway token: all the table and the journal ever keep of it, so that a
/// copied journal or a memory dump replays no session.
public struct TokenDigest: Hashable, Sendable, CustomStringConvertible {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    public init(token: String) {
        var token = token
        self = token.withUTF8 { TokenDigest(tokenBytes: UnsafeRawBufferPointer($0)) }
    }

    /// The digest of the token whose UTF-8 is `tokenBytes` (e.g. straight from a request body).
    public init(tokenBytes: UnsafeRawBufferPointer) {
        var raw: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { SHA256Digest.hash(tokenBytes, into: $0) }
        // Big-endian words, so that `hex` reads like the digest's bytes.
        words = (UInt64(bigEndian: raw.0), UInt64(bigEndian: raw.1), UInt64(bigEndian: raw.2), UInt64(bigEndian: raw.3))
    }

    init(digestBytes d: [UInt8]) {
        func word(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(d[at + $1]) } }
        words = (word(0), word(8), word(16), word(24))
    }

    /// Parses the 64 hex digits written by `hex`.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.nibble(digits[i]), let low = Self.nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(digestBytes: bytes)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        default: return nil
        }
    }

    public var hex: String { String(unsafeUninitializedCapacity: 64) { writeHex(into: $0) } }

    /// Writes the 64 hex digits of `hex` at the start of `out`; returns 64.
    @discardableResult
    func writeHex(into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        Hex.write(words.0, into: out, at: 0)
        Hex.write(words.1, into: out, at: 16)
        Hex.write(words.2, into: out, at: 32)
        Hex.write(words.3, into: out, at: 48)
        return 64
    }

    /// A short, non-secret name for a session, shown where its token must not be: "sha256:" and 16 hex digits.
    public var fingerprint: String { Hex.string(prefix: "sha256:", words.0) }

    public var description: String { fingerprint }

    /// 64 of its bits, for indexing (`SessionIndex`); not the fingerprint's, which logs show.
    var indexKey: UInt64 { words.1 }

    public static func == (l: TokenDigest, r: TokenDigest) -> Bool {
        l.words.0 == r.words.0 && l.words.1 == r.words.1 && l.words.2 == r.words.2 && l.words.3 == r.words.3
    }

    public func hash(into hasher: inout Hasher) {
        // The words are already uniformly random; one of them is enough for the table.
        hasher.combine(words.0)
    }
}
