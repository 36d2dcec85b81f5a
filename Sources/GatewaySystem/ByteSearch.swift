import CGatewayShims

/// Substring search over bytes with glibc's memmem (vectorised), for the hot path's scans of
/// response bodies.
public enum ByteSearch {
    /// Where `needle` first occurs in `haystack` at or after `start`.
    public static func firstIndex(of needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard needle.count > 0, start >= 0, haystack.count - start >= needle.count,
              let found = cgw_memmem(haystack.baseAddress! + start, haystack.count - start, needle.baseAddress!, needle.count)
        else { return nil }
        return haystack.baseAddress!.distance(to: found)
    }

    public static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        haystack.withUnsafeBytes { hay in needle.withUnsafeBytes { firstIndex(of: $0, in: hay, from: start) } }
    }
}
