/// One Redis reply in RESP2, the protocol every Redis since 2.0 speaks by default.
public enum RESPValue: Sendable, Equatable {
    case simple(String)
    case error(String)
    case integer(Int)
    /// nil is the null bulk string (`$-1`), e.g. a missing key.
    case bulk([UInt8]?)
    /// nil is the null array (`*-1`).
    case array([RESPValue]?)

    public var string: String? {
        switch self {
        case .simple(let text): text
        case .bulk(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .integer(let n): String(n)
        default: nil
        }
    }

    public var integer: Int? {
        switch self {
        case .integer(let n): n
        case .bulk(let bytes?): Int(String(decoding: bytes, as: UTF8.self))
        case .simple(let text): Int(text)
        default: nil
        }
    }

    public var elements: [RESPValue]? {
        if case .array(let items?) = self { return items }
        return nil
    }

    public var isNull: Bool {
        switch self {
        case .bulk(nil), .array(nil): true
        default: false
        }
    }
}

/// Commands as RESP arrays of bulk strings: binary-safe, so keys and arguments may hold any byte.
public enum RESPEncoder {
    public static func command(_ arguments: [[UInt8]], into out: inout [UInt8]) {
        header(UInt8(ascii: "*"), arguments.count, into: &out)
        for argument in arguments {
            header(UInt8(ascii: "$"), argument.count, into: &out)
            out += argument
            out += [13, 10]
        }
    }

    public static func command(_ arguments: [String]) -> [UInt8] {
        var out: [UInt8] = []
        command(arguments.map { Array($0.utf8) }, into: &out)
        return out
    }

    private static func header(_ kind: UInt8, _ count: Int, into out: inout [UInt8]) {
        out.append(kind)
        out += Array(String(count).utf8)
        out += [13, 10]
    }
}

/// Why a reply could not be read: the connection is out of step with its server and must close.
public struct RESPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
}

/// Reads replies from bytes as they arrive. `parse` either returns one whole reply and how many
/// bytes it took, nil when the bytes so far end inside a reply, or throws on bytes no Redis sends.
/// Sizes are bounded so that a broken or hostile server cannot make the gateway allocate at will.
public struct RESPParser: Sendable {
    public var maxBulkBytes: Int
    public var maxElements: Int
    public var maxDepth: Int
    /// A line (`+`, `-`, `:`, or a length) longer than this is not Redis.
    public var maxLineBytes = 64 * 1024

    public init(maxBulkBytes: Int = 64 << 20, maxElements: Int = 1 << 20, maxDepth: Int = 8) {
        self.maxBulkBytes = maxBulkBytes
        self.maxElements = maxElements
        self.maxDepth = maxDepth
    }

    public func parse(_ bytes: UnsafeRawBufferPointer) throws(RESPProtocolError) -> (value: RESPValue, consumed: Int)? {
        // A large reply arrives in many reads: each incomplete attempt only walks the headers
        // (bulk payloads are skipped by their length), and the values are built once, when whole.
        var end = 0
        guard try value(bytes, &end, depth: 0, build: false) != nil else { return nil }
        var offset = 0
        guard let value = try value(bytes, &offset, depth: 0, build: true) else { return nil }
        return (value, offset)
    }

    private func value(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, depth: Int, build: Bool) throws(RESPProtocolError) -> RESPValue? {
        guard offset < bytes.count else { return nil }
        let kind = bytes[offset]
        var cursor = offset + 1
        guard let line = try line(bytes, &cursor) else { return nil }
        switch kind {
        case UInt8(ascii: "+"):
            offset = cursor
            return build ? .simple(String(decoding: line, as: UTF8.self)) : .integer(0)
        case UInt8(ascii: "-"):
            offset = cursor
            return build ? .error(String(decoding: line, as: UTF8.self)) : .integer(0)
        case UInt8(ascii: ":"):
            offset = cursor
            return .integer(try Self.number(line, "integer"))
        case UInt8(ascii: "$"):
            let length = try Self.number(line, "bulk length")
            if length == -1 { offset = cursor; return .bulk(nil) }
            guard length >= 0, length <= maxBulkBytes else {
                throw RESPProtocolError(description: "a bulk string of \(length) bytes (at most \(maxBulkBytes) are accepted)")
            }
            guard bytes.count - cursor >= length + 2 else { return nil }
            guard bytes[cursor + length] == 13, bytes[cursor + length + 1] == 10 else {
                throw RESPProtocolError(description: "a bulk string of \(length) bytes not followed by CRLF")
            }
            let body = build ? Array(UnsafeRawBufferPointer(rebasing: bytes[cursor..<(cursor + length)])) : []
            offset = cursor + length + 2
            return .bulk(body)
        case UInt8(ascii: "*"):
            let count = try Self.number(line, "array length")
            if count == -1 { offset = cursor; return .array(nil) }
            guard count >= 0, count <= maxElements else {
                throw RESPProtocolError(description: "an array of \(count) elements (at most \(maxElements) are accepted)")
            }
            guard depth < maxDepth else { throw RESPProtocolError(description: "arrays nested deeper than \(maxDepth)") }
            // Every element takes at least three bytes: a count the input cannot hold yet is not reserved.
            var items: [RESPValue] = []
            if build { items.reserveCapacity(min(count, (bytes.count - cursor) / 3)) }
            for _ in 0..<count {
                guard let item = try value(bytes, &cursor, depth: depth + 1, build: build) else { return nil }
                if build { items.append(item) }
            }
            offset = cursor
            return .array(items)
        default:
            throw RESPProtocolError(description: "a reply starting with byte 0x\(String(kind, radix: 16)), not a RESP2 type")
        }
    }

    /// The bytes up to the next CRLF (cursor moves past it); nil when the CRLF has not arrived.
    private func line(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int) throws(RESPProtocolError) -> UnsafeRawBufferPointer? {
        var index = cursor
        while index < bytes.count {
            if bytes[index] == 10 {
                guard index > cursor, bytes[index - 1] == 13 else { throw RESPProtocolError(description: "a line ending in LF without CR") }
                let line = UnsafeRawBufferPointer(rebasing: bytes[cursor..<(index - 1)])
                cursor = index + 1
                return line
            }
            index += 1
            if index - cursor > maxLineBytes { throw RESPProtocolError(description: "a line longer than \(maxLineBytes) bytes") }
        }
        return nil
    }

    private static func number(_ line: UnsafeRawBufferPointer, _ what: String) throws(RESPProtocolError) -> Int {
        guard !line.isEmpty, line.count <= 20, let n = Int(String(decoding: line, as: UTF8.self)) else {
            throw RESPProtocolError(description: "\(what) '\(String(decoding: line.prefix(24), as: UTF8.self))' is not a number")
        }
        return n
    }
}
