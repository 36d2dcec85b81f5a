/// The start line and header fields of one message, parsed strictly.
struct HeaderBlock {
    var startLine: String
    var headers: HTTPHeaders
    /// The fields that decide framing and connection handling, picked out in the same pass.
    var framingFields = FramingFields()
}

/// Values of the headers the parsers act on, so that no later lookup walks the fields again.
struct FramingFields {
    /// Almost every message has one Content-Length; further ones (to be compared) are rare.
    var firstContentLength: String?
    var moreContentLengths: [String] = []
    var contentLength: [String] { (firstContentLength.map { [$0] } ?? []) + moreContentLengths }
    var transferEncoding: [String] = []
    var connection: [String] = []
    var expect: String?
    var hostCount = 0
    var hasHost: Bool { hostCount > 0 }

    mutating func note(name: UnsafeRawBufferPointer, value: String) {
        switch name.count {
        case 4 where matches(name, "host"): hostCount += 1
        case 6 where matches(name, "expect"): expect = value
        case 10 where matches(name, "connection"): connection.append(value)
        case 14 where matches(name, "content-length"):
            if firstContentLength == nil { firstContentLength = value } else { moreContentLengths.append(value) }
        case 17 where matches(name, "transfer-encoding"): transferEncoding.append(value)
        default: break
        }
    }

    func connectionLists(_ token: String) -> Bool {
        connection.contains { value in
            value.split(separator: ",").contains { equalsIgnoringCase(String($0.trimmingOWS()), token) }
        }
    }

    private func matches(_ name: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        let expected = lowercase.utf8Start
        for index in 0..<name.count where asciiLower(name[index]) != expected[index] { return false }
        return true
    }
}

enum HeaderBlockScan {
    case needMore(scannedUpTo: Int)
    /// The block spans `length` bytes including the blank line.
    case complete(length: Int)
}

/// tchar from RFC 9110: the bytes a method or header name may contain (a bit per byte below 128;
/// constants rather than a table, which as a global is a lazy initializer checked on every byte).
@inline(__always)
func isTokenByte(_ byte: UInt8) -> Bool {
    if byte < 64 { return (0x03ff_6cfa_0000_0000 as UInt64) >> byte & 1 != 0 }
    if byte < 128 { return (0x57ff_ffff_c7ff_fffe as UInt64) >> (byte - 64) & 1 != 0 }
    return false
}

/// The first byte at or after `from` (before `end`) that is `one` or `other`: eight bytes at a
/// time while a word holds neither (the "has a zero byte" bit trick on the word xor each).
@inline(__always)
func firstIndex(of one: UInt8, or other: UInt8, in bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int? {
    var index = from
    if let base = bytes.baseAddress {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let first = ones &* UInt64(one), second = ones &* UInt64(other)
        while index + 8 <= end {
            let word = UInt64(littleEndian: (base + index).loadUnaligned(as: UInt64.self))
            let a = word ^ first, b = word ^ second
            if (((a &- ones) & ~a) | ((b &- ones) & ~b)) & highs != 0 { break }
            index += 8
        }
    }
    while index < end {
        if bytes[index] == one || bytes[index] == other { return index }
        index += 1
    }
    return nil
}

/// Finds the blank line that ends a header block, resuming at `from`; enforces the header byte limit.
func scanHeaderBlock(_ bytes: UnsafeRawBufferPointer, from: Int, limits: HTTP1Limits) throws(HTTP1ParseError) -> HeaderBlockScan {
    var index = max(0, from - 3)
    let end = min(bytes.count, limits.maxHeaderBytes + 4)
    while index + 3 < end {
        if bytes[index + 3] != 10 { index += bytes[index + 3] == 13 ? 1 : 4; continue }
        if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 {
            let length = index + 4
            if length - 4 > limits.maxHeaderBytes { break }
            // The bytes not yet looked at get the bare-LF check an unfinished block gets, so the
            // answer does not depend on how the block was split into reads.
            try refuseBareLF(bytes, from: from, to: length)
            return .complete(length: length)
        }
        index += 1
    }
    if bytes.count > limits.maxHeaderBytes + 3 {
        throw HTTP1ParseError(status: 431, "header section exceeds \(limits.maxHeaderBytes) bytes (limits.maxHeaderBytes)")
    }
    // No end yet. A bare LF means none will come that parses (lines must end in CRLF): refused
    // now, not after the header timeout. Only the bytes new since the last scan are looked at.
    try refuseBareLF(bytes, from: from, to: bytes.count)
    return .needMore(scannedUpTo: bytes.count)
}

private func refuseBareLF(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) throws(HTTP1ParseError) {
    var position = max(1, from)
    while let lineFeed = firstIndex(of: 10, or: 10, in: bytes, from: position, to: end) {
        if bytes[lineFeed - 1] != 13 { throw .bad("bare LF in header section; lines must end in CRLF") }
        position = lineFeed + 1
    }
    if end > 0 && bytes[0] == 10 { throw .bad("bare LF in header section; lines must end in CRLF") }
}

/// Splits a complete block (ending in CRLF CRLF) into lines and fields. Bare CR or LF, obsolete line folding,
/// empty or non-token names, whitespace before the colon and control bytes in values are all rejected.
func parseHeaderBlock(_ bytes: UnsafeRawBufferPointer, limits: HTTP1Limits) throws(HTTP1ParseError) -> HeaderBlock {
    let contentEnd = bytes.count - 2  // the final CRLF of the blank line
    var lineStart = 0
    var startLine: String?
    var headers = HTTPHeaders(reservingCapacity: 16)
    var framingFields = FramingFields()
    while lineStart < contentEnd {
        // The block ends in CRLF CRLF, so a line break is always found.
        guard let lineEnd = firstIndex(of: 13, or: 10, in: bytes, from: lineStart, to: bytes.count) else { throw .bad("bare CR in header section") }
        if bytes[lineEnd] == 10 { throw .bad("bare LF in header section; lines must end in CRLF") }
        if bytes[lineEnd + 1] != 10 { throw .bad("bare CR in header section") }
        let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
        if startLine == nil {
            startLine = KnownText.string(line)
        } else {
            if headers.count >= limits.maxHeaderCount {
                throw HTTP1ParseError(status: 431, "more than \(limits.maxHeaderCount) header fields (limits.maxHeaderCount)")
            }
            let (name, value) = try parseField(line)
            headers.add(String(decoding: name, as: UTF8.self), value)
            framingFields.note(name: name, value: value)
        }
        lineStart = lineEnd + 2
    }
    guard let startLine, !startLine.isEmpty else { throw .bad("empty start line") }
    return HeaderBlock(startLine: startLine, headers: headers, framingFields: framingFields)
}

private func parseField(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (UnsafeRawBufferPointer, String) {
    guard let first = line.first else { throw .bad("empty header line") }
    if first == 32 || first == 9 { throw .bad("obsolete line folding is not accepted") }
    var colon = 0
    while colon < line.count && line[colon] != 58 {
        if !isTokenByte(line[colon]) {
            throw .bad(line[colon] == 32 || line[colon] == 9 ? "whitespace in or after a header name" : "invalid character in header name")
        }
        colon += 1
    }
    guard colon < line.count else { throw .bad("header line without a colon") }
    guard colon > 0 else { throw .bad("empty header name") }
    var valueStart = colon + 1
    var valueEnd = line.count
    while valueStart < valueEnd && (line[valueStart] == 32 || line[valueStart] == 9) { valueStart += 1 }
    while valueEnd > valueStart && (line[valueEnd - 1] == 32 || line[valueEnd - 1] == 9) { valueEnd -= 1 }
    for index in valueStart..<valueEnd {
        let byte = line[index]
        if (byte < 32 && byte != 9) || byte == 127 { throw .bad("control character in header value") }
    }
    return (UnsafeRawBufferPointer(rebasing: line[0..<colon]), KnownText.string(UnsafeRawBufferPointer(rebasing: line[valueStart..<valueEnd])))
}

/// Text nearly every JSON action's head carries, longer than Swift keeps inline (15 bytes): given
/// as a literal (immortal: no allocation, no reference count) instead of a new String per request.
enum KnownText {
    static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        switch bytes.count {
        case 16 where matches(bytes, "application/json"): return "application/json"
        case 18 where matches(bytes, "POST /api HTTP/1.1"): return "POST /api HTTP/1.1"
        case 30 where matches(bytes, "application/json;charset=utf-8"): return "application/json;charset=utf-8"
        case 31 where matches(bytes, "application/json; charset=utf-8"): return "application/json; charset=utf-8"
        default: return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// `bytes` has the literal's length: compared eight bytes at a time, then the rest.
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let count = bytes.count
        let right = UnsafeRawPointer(literal.utf8Start)
        var index = 0
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) != right.loadUnaligned(fromByteOffset: index, as: UInt64.self) { return false }
            index += 8
        }
        while index < count {
            if bytes[index] != literal.utf8Start[index] { return false }
            index += 1
        }
        return true
    }
}

/// How a message's body is delimited.
public enum BodyFraming: Equatable, Sendable {
    case none
    case contentLength(Int)
    case chunked
    /// Responses only: the body runs until the connection closes.
    case untilClose
}

/// Reads Content-Length and Transfer-Encoding strictly: both together, differing lengths, a coding other than
/// chunked, and malformed numbers are errors (the defences against request smuggling).
func bodyFraming(of fields: FramingFields) throws(HTTP1ParseError) -> BodyFraming? {
    // The common case, one plain Content-Length, without splitting strings.
    if fields.transferEncoding.isEmpty, fields.moreContentLengths.isEmpty, let only = fields.firstContentLength {
        let utf8 = only.utf8
        if !utf8.isEmpty, utf8.count <= 18, utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            return .contentLength(utf8.reduce(0) { $0 * 10 + Int($1 - 48) })
        }
    }
    var transferCodings: [String] = []
    var contentLength: Int?
    for value in fields.transferEncoding {
        for element in value.split(separator: ",", omittingEmptySubsequences: false) {
            transferCodings.append(String(element.trimmingOWS()).lowercased())
        }
    }
    for value in fields.contentLength {
        for element in value.split(separator: ",", omittingEmptySubsequences: false) {
            let digits = element.trimmingOWS()
            guard !digits.isEmpty, digits.utf8.count <= 18, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int(digits) else {
                throw .bad("invalid Content-Length \"\(value)\"")
            }
            if let existing = contentLength, existing != number {
                throw .bad("differing Content-Length values \(existing) and \(number)")
            }
            contentLength = number
        }
    }
    if !transferCodings.isEmpty {
        if contentLength != nil { throw .bad("both Content-Length and Transfer-Encoding are present") }
        guard transferCodings == ["chunked"] else {
            throw .bad("Transfer-Encoding \"\(transferCodings.joined(separator: ", "))\" is not supported; only chunked is")
        }
        return .chunked
    }
    if let contentLength { return .contentLength(contentLength) }
    return nil
}
