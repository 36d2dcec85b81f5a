/// The members of one JSON object, found in a single validating pass that builds no values:
/// each member's key and the byte range of its value. The gateway reads the few members it needs
/// (action, authToken, api, ...) from the ranges and splices the rest through untouched, so a
/// forwarded request costs one pass over its bytes and no tree.
public struct JSONObjectScan: Sendable {
    public struct Member: Sendable {
        public let key: String
        /// The value's bytes, from its first to its last character.
        public let value: Range<Int>
    }

    public let members: [Member]
    /// Where the object's `{` and `}` stand.
    public let openingBrace: Int
    public let closingBrace: Int

    /// Scans the object that fills `range` of `bytes` (the whole document when nil), validating
    /// every nested value as strictly as `JSONParser`. Nil when the value there is not an object.
    public static func scan(_ bytes: [UInt8], range: Range<Int>? = nil) throws(JSONParseError) -> JSONObjectScan? {
        let range = range ?? 0..<bytes.count
        return try JSONParser.withTopLevelObject(bytes, range: range) { (parser) throws(JSONParseError) -> JSONObjectScan in
            let opening = parser.index
            let (members, closing) = try parser.scanMembers()
            let base = range.lowerBound
            func rebased(_ list: [Member]) -> [Member] {
                base == 0 ? list : list.map { Member(key: $0.key, value: ($0.value.lowerBound + base)..<($0.value.upperBound + base)) }
            }
            return JSONObjectScan(members: rebased(members), openingBrace: opening + base, closingBrace: closing + base)
        }
    }

    /// The member named `key` (the first when it repeats).
    public func member(_ key: String) -> Member? { members.first { $0.key == key } }

    /// How many times `key` occurs.
    public func count(of key: String) -> Int { members.reduce(0) { $0 + ($1.key == key ? 1 : 0) } }

    public var isEmpty: Bool { members.isEmpty }
}

extension JSONParser {
    /// Runs `scanObject` on the object that fills `range` of `bytes` (the parser at its `{`), and
    /// checks that nothing but white space surrounds it. Nil, after validating it, when the value
    /// there is not an object.
    static func withTopLevelObject<Result>(_ bytes: [UInt8], range: Range<Int>,
                                           _ scanObject: (inout JSONParser) throws(JSONParseError) -> Result) throws(JSONParseError) -> Result? {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> Result? in
            var parser = JSONParser(bytes: UnsafeBufferPointer(rebasing: buffer[range]))
            parser.skipWhitespace()
            guard parser.index < parser.bytes.count else { throw parser.error("unexpected end of input") }
            let isObject = parser.bytes[parser.index] == UInt8(ascii: "{")
            let result: Result?
            if isObject { result = try scanObject(&parser) } else { try parser.skipValue(depth: 0); result = nil }
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
            return result
        }
    }

    /// At `{`: moves past the object and returns its members (offsets relative to this parser).
    mutating func scanMembers() throws(JSONParseError) -> ([JSONObjectScan.Member], Int) {
        index += 1
        var members: [JSONObjectScan.Member] = []
        members.reserveCapacity(8)
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return (members, index - 1) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try scanKey()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let start = index
            try skipValue(depth: 1)
            members.append(JSONObjectScan.Member(key: key, value: start..<index))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return (members, index - 1) }
            throw error("expected ',' or '}' in an object")
        }
    }

    /// A member's key: taken straight from the bytes when it has no escapes, else decoded.
    mutating func scanKey() throws(JSONParseError) -> String {
        let start = index
        if try !skipString() {
            // No escapes, and skipString has validated the UTF-8: the bytes are the key.
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)]), as: UTF8.self)
        }
        let end = index
        index = start
        let key = try parseString()
        index = end
        return key
    }

    /// Moves past one value, validating it, without building it.
    mutating func skipValue(depth: Int) throws(JSONParseError) {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth)") }
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let closing = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = closing == UInt8(ascii: "}")
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == closing { index += 1; return }
            while true {
                skipWhitespace()
                if isObject {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                    try skipString()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                    index += 1
                    skipWhitespace()
                }
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == closing { index += 1; return }
                throw error(isObject ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try scanNumber()
        default: throw error("unexpected character '\(Unicode.Scalar(bytes[index]))'")
        }
    }

    /// Where the run of plain characters starting at `from` ends: the first quote, backslash,
    /// control character or non-ASCII byte (or the end). Eight bytes at a time while none of them
    /// is one (the classic "has a zero byte" bit tricks), then byte by byte.
    func plainRunEnd(from: Int) -> Int {
        var i = from
        let end = bytes.count
        guard let base = bytes.baseAddress else { return i }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= end {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
            let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w) | w
            if special & highs != 0 { break }
            i += 8
        }
        while i < end {
            let b = base[i]
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 32 || b >= 0x80 { break }
            i += 1
        }
        return i
    }

    /// Moves past a string, checking escapes, control characters and UTF-8 as `parseString` does.
    /// Returns whether the string had escapes.
    @discardableResult
    mutating func skipString() throws(JSONParseError) -> Bool {
        index += 1
        let start = index
        var nonASCII = false
        var escaped = false
        while true {
            index = plainRunEnd(from: index)
            guard index < bytes.count else { throw error("unterminated string") }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                if nonASCII && !Self.isValidUTF8(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                    throw error("invalid UTF-8 in a string")
                }
                index += 1
                return escaped
            }
            if b < 32 { throw error("control character in a string") }
            index += 1
            if b >= 0x80 { nonASCII = true; continue }
            escaped = true
            guard index < bytes.count else { throw error("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                continue
            case UInt8(ascii: "u"):
                let scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == 92, bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate")
                    }
                    index += 2
                    guard (0xDC00...0xDFFF).contains(try hex4()) else { throw error("unpaired surrogate") }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("unpaired surrogate")
                }
            default:
                throw error("invalid escape")
            }
        }
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
