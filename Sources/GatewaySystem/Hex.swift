/// Lowercase hexadecimal without the allocations of `String(_:radix:)`: request IDs and session
/// fingerprints are made per request.
public enum Hex {
    private static let digits: StaticString = "0123456789abcdef"

    /// Writes `value` as exactly 16 digits at `out[at...]`.
    @inline(__always)
    public static func write(_ value: UInt64, into out: UnsafeMutableBufferPointer<UInt8>, at: Int) {
        digits.withUTF8Buffer { table in
            var v = value
            var i = at + 15
            while i >= at {
                out[i] = table[Int(v & 15)]
                v >>= 4
                i -= 1
            }
        }
    }

    /// `prefix` followed by `value` as 16 digits, in one allocation.
    public static func string(prefix: StaticString, _ value: UInt64) -> String {
        let head = prefix.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: head + 16) { out in
            prefix.withUTF8Buffer { bytes in
                for index in 0..<head { out[index] = bytes[index] }
            }
            write(value, into: out, at: head)
            return head + 16
        }
    }

    /// Two values as 32 digits, in one allocation.
    public static func string(_ first: UInt64, _ second: UInt64) -> String {
        String(unsafeUninitializedCapacity: 32) { out in
            write(first, into: out, at: 0)
            write(second, into: out, at: 16)
            return 32
        }
    }

    /// Any bytes as two digits each.
    public static func string(_ bytes: [UInt8]) -> String {
        digits.withUTF8Buffer { table in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                for (index, byte) in bytes.enumerated() {
                    out[2 * index] = table[Int(byte >> 4)]
                    out[2 * index + 1] = table[Int(byte & 15)]
                }
                return bytes.count * 2
            }
        }
    }

    /// The bytes `string` wrote; nil for an odd length or a non-hex digit (either case).
    public static func bytes(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
