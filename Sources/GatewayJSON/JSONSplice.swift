/// Byte-level edits of a JSON document whose layout a `JSONObjectScan` found: replace a value,
/// or add members to an object. Everything else is copied through as the client wrote it.
public struct JSONSplice {
    /// `quoted` edits are written between double quotes (a string value whose bytes need no escaping).
    private typealias Edit = (range: Range<Int>, bytes: [UInt8], quoted: Bool)
    /// The first edit is held inline: a forwarded request has exactly one (its token), and an
    /// array for it would be one more allocation per request.
    private var first: Edit?
    private var more: [Edit] = []

    private var edits: [Edit] { first.map { [$0] + more } ?? [] }

    private mutating func add(_ edit: Edit) {
        if first == nil { first = edit } else { more.append(edit) }
    }

    public init() {}

    /// Replaces the bytes of `range` (a value's range from a scan) with `bytes`.
    public mutating func replace(_ range: Range<Int>, with bytes: [UInt8]) {
        add((range, bytes, false))
    }

    /// Adds `"key":value` members at the end of the object `scan` describes.
    public mutating func append(_ members: [(String, JSONValue)], to scan: JSONObjectScan) {
        append(members, closingBrace: scan.closingBrace, objectIsEmpty: scan.isEmpty)
    }

    /// Adds `"key":value` members at the end of an object that closes at `closingBrace`.
    public mutating func append(_ members: [(String, JSONValue)], closingBrace: Int, objectIsEmpty: Bool) {
        guard !members.isEmpty else { return }
        var bytes: [UInt8] = []
        for (index, (key, value)) in members.enumerated() {
            if index > 0 || !objectIsEmpty { bytes.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(key, into: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONWriter.write(value, into: &bytes)
        }
        add((closingBrace..<closingBrace, bytes, false))
    }

    /// Replaces the value at `range` with the JSON string of `bytes`, escaping them where needed.
    public mutating func replace(_ range: Range<Int>, withStringOf bytes: [UInt8]) {
        if bytes.allSatisfy({ $0 >= 32 && $0 != 34 && $0 != 92 }) {
            add((range, bytes, true))
        } else {
            add((range, JSONWriter.quoted(bytes), false))
        }
    }

    public var isEmpty: Bool { first == nil }

    /// The length of `document` once every edit is applied.
    public func resultCount(from documentCount: Int) -> Int {
        guard let first else { return documentCount }
        return more.reduce(documentCount + Self.growth(of: first)) { $0 + Self.growth(of: $1) }
    }

    private static func growth(of edit: Edit) -> Int { edit.bytes.count + (edit.quoted ? 2 : 0) - edit.range.count }

    /// Appends `document`, with every edit applied, to `out`. Edits must not overlap.
    public func apply(to document: [UInt8], appendingTo out: inout [UInt8]) {
        var position = 0
        func write(_ edit: Edit) {
            out.append(contentsOf: document[position..<edit.range.lowerBound])
            if edit.quoted { out.append(UInt8(ascii: "\"")) }
            out.append(contentsOf: edit.bytes)
            if edit.quoted { out.append(UInt8(ascii: "\"")) }
            position = edit.range.upperBound
        }
        if let first, more.isEmpty {
            write(first)
        } else {
            for edit in edits.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) { write(edit) }
        }
        out.append(contentsOf: document[position...])
    }

    /// `document` with every edit applied.
    public func applied(to document: [UInt8]) -> [UInt8] {
        guard !isEmpty else { return document }
        var out: [UInt8] = []
        out.reserveCapacity(resultCount(from: document.count))
        apply(to: document, appendingTo: &out)
        return out
    }
}

extension JSONObjectScan {
    /// The string value of `member` in `document`; nil when the value is not a string.
    /// Strings without escapes are read straight from the bytes.
    public static func string(_ member: Member, in document: [UInt8]) -> String? {
        let range = member.value
        guard range.count >= 2, document[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        if !document[inner].contains(UInt8(ascii: "\\")) {
            return String(decoding: document[inner], as: UTF8.self)
        }
        return (try? JSONParser.parse(document, range: range))?.stringValue
    }

    /// The first byte of `member`'s value, enough to tell its type.
    public static func leadingByte(_ member: Member, in document: [UInt8]) -> UInt8 { document[member.value.lowerBound] }
}
