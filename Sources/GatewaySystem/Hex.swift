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
}
