/// What a request path may hold before it is routed, over HTTP/1.1 and HTTP/2 alike: visible
/// ASCII only, and no segment that an upstream could resolve out of `apiRoot` (`.`, `..`, also
/// percent-encoded, a backslash, or a percent-encoded slash, backslash or NUL that an upstream
/// might decode into a separator or an end).
///
/// Every request's path goes through here, so it reads bytes in place and allocates nothing
/// unless it has a problem to describe.
enum RequestPath {
    /// Why `path` is refused, or nil when it may be routed.
    static func problem(_ path: Substring) -> String? {
        if let answer = path.utf8.withContiguousStorageIfAvailable({ problem(bytes: $0) }) { return answer }
        return Array(path.utf8).withUnsafeBufferPointer { problem(bytes: $0) }
    }

    private static func problem(bytes: UnsafeBufferPointer<UInt8>) -> String? {
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            return "the request path holds the byte 0x\(String(bad, radix: 16)); only visible ASCII is allowed"
        }
        // A backslash is a separator to some servers (FairCom runs on Windows too).
        if bytes.contains(UInt8(ascii: "\\")) { return "the request path holds a backslash" }
        var index = 0
        while index + 2 < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                let code = (bytes[index + 1] | 0x20, bytes[index + 2] | 0x20)
                if code == (UInt8(ascii: "2"), UInt8(ascii: "f")) || code == (UInt8(ascii: "5"), UInt8(ascii: "c")) {
                    return "the request path holds an encoded slash or backslash"
                }
                if code == (UInt8(ascii: "0"), UInt8(ascii: "0")) {
                    // A C string ends there: an upstream could read a shorter path than the one checked.
                    return "the request path holds an encoded NUL (%00)"
                }
            }
            index += 1
        }
        // Each segment, with %2e read as a dot: is it "." or ".."?
        var segmentStart = 0
        var dots = 0
        var onlyDots = true
        index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if onlyDots && (dots == 1 || dots == 2) {
                    let segment = String(decoding: UnsafeBufferPointer(rebasing: bytes[segmentStart..<index]), as: UTF8.self)
                    return "the request path has a \"\(segment)\" segment"
                }
                segmentStart = index + 1
                dots = 0
                onlyDots = true
                index += 1
            } else if bytes[index] == UInt8(ascii: ".") {
                dots += 1
                index += 1
            } else if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                      bytes[index + 1] == UInt8(ascii: "2"), bytes[index + 2] | 0x20 == UInt8(ascii: "e") {
                dots += 1
                index += 3
            } else {
                onlyDots = false
                index += 1
            }
        }
        return nil
    }
}
