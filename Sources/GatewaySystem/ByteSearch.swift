import CGatewayShims
import Glibc

/// Substring search over bytes for the hot path's scans of response bodies: memchr (vectorised)
/// finds each candidate first byte and memcmp checks the rest. For the short needles searched
/// here (a token, an error code) this beats memmem, whose two-way set-up costs more than the scan.
public enum ByteSearch {
    /// Where `needle` first occurs in `haystack` at or after `start`.
    public static func firstIndex(of needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard needle.count > 0, start >= 0, haystack.count - start >= needle.count,
              let hay = haystack.baseAddress, let pin = needle.baseAddress else { return nil }
        let first = Int32(needle[0])
        let lastStart = haystack.count - needle.count
        var position = start
        while position <= lastStart {
            guard let found = memchr(hay + position, first, lastStart - position + 1) else { return nil }
            let at = hay.distance(to: UnsafeRawPointer(found))
            // Check the second byte inline: most first-byte hits end there, without a memcmp call.
            if needle.count == 1 || (haystack[at + 1] == needle[1] && memcmp(hay + at, pin, needle.count) == 0) { return at }
            position = at + 1
        }
        return nil
    }

    /// Where a proper prefix of `needle` ends `haystack` (starting at or after `start`), if one does:
    /// a needle cut off by the end of a chunk.
    public static func partialSuffixStart(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard let first = needle.first else { return nil }
        return haystack.withUnsafeBytes { hay -> Int? in
            needle.withUnsafeBytes { pin -> Int? in
                var position = max(start, hay.count - needle.count + 1)
                while position < hay.count {
                    guard let found = memchr(hay.baseAddress! + position, Int32(first), hay.count - position) else { return nil }
                    let at = hay.baseAddress!.distance(to: UnsafeRawPointer(found))
                    if memcmp(hay.baseAddress! + at, pin.baseAddress!, hay.count - at) == 0 { return at }
                    position = at + 1
                }
                return nil
            }
        }
    }

    public static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        haystack.withUnsafeBytes { hay in needle.withUnsafeBytes { firstIndex(of: $0, in: hay, from: start) } }
    }
}
