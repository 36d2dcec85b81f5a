import CGatewayShims

/// Substring search over bytes with glibc's memmem (vectorised), for the hot path's scans of
/// response bodies.
public enum ByteSearch {
    /// Where `needle` first occurs in `haystack` at or after `start`.
    public static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, start >= 0, haystack.count - start >= needle.count else { return nil }
        return haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pin in
                guard let found = cgw_memmem(hay.baseAddress! + start, hay.count - start, pin.baseAddress!, pin.count) else { return nil }
                return hay.baseAddress!.distance(to: UnsafeRawPointer(found))
            }
        }
    }
}
