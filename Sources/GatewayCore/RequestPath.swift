/// What a request path may hold before it is routed, over HTTP/1.1 and HTTP/2 alike: visible
/// ASCII only, and no segment that an upstream could resolve out of `apiRoot` (`.`, `..`, also
/// percent-encoded, or a percent-encoded slash or backslash that an upstream might decode into one).
enum RequestPath {
    /// Why `path` is refused, or nil when it may be routed.
    static func problem(_ path: Substring) -> String? {
        let bytes = Array(path.utf8)
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return "the request path holds the byte 0x\(String(bad, radix: 16)); only visible ASCII is allowed"
        }
        var index = 0
        while index + 2 < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                let code = (bytes[index + 1] | 0x20, bytes[index + 2] | 0x20)
                if code == (UInt8(ascii: "2"), UInt8(ascii: "f")) || code == (UInt8(ascii: "5"), UInt8(ascii: "c")) {
                    return "the request path holds an encoded slash or backslash"
                }
            }
            index += 1
        }
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            let decoded = segment.replacingEncodedDots()
            if decoded == "." || decoded == ".." {
                return "the request path has a \"\(segment)\" segment"
            }
        }
        return nil
    }
}

private extension Substring {
    /// The segment with every %2e / %2E read as a dot.
    func replacingEncodedDots() -> String {
        var out = ""
        var rest = self[...]
        while let first = rest.first {
            if first == "%", rest.count >= 3, rest.dropFirst().prefix(2).lowercased() == "2e" {
                out.append(".")
                rest = rest.dropFirst(3)
            } else {
                out.append(first)
                rest = rest.dropFirst()
            }
        }
        return out
    }
}
