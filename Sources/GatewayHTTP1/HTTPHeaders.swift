/// One header field. A struct, not a tuple: an array of tuples is destroyed through the runtime's
/// generic tuple witnesses, field by field, on every request.
public struct HTTPHeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name: name, value: value)
    }
}

/// Header fields in arrival order; names compare case-insensitively.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [HTTPHeaderField] = []

    public init() {}

    /// Room for `capacity` fields up front: a message's fields then cost one allocation, not a few.
    public init(reservingCapacity capacity: Int) {
        fields.reserveCapacity(capacity)
    }
    public init(_ fields: [HTTPHeaderField]) {
        self.fields = fields
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append(HTTPHeaderField(name: name, value: value))
    }

    public var count: Int { fields.count }

    /// The first value of `name`, if any.
    public subscript(name: String) -> String? {
        for field in fields where field.name.utf8.count == name.utf8.count && equalsIgnoringCase(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    /// Whether a comma-separated header such as Connection lists `token`.
    public func contains(_ name: String, token: String) -> Bool {
        for value in values(name) {
            for element in value.split(separator: ",") where equalsIgnoringCase(String(element.trimmingOWS()), token) {
                return true
            }
        }
        return false
    }

    public func makeIterator() -> IndexingIterator<[HTTPHeaderField]> { fields.makeIterator() }
}

@inline(__always)
func asciiLower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte | 0x20 : byte }

public func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    // Over the UTF-8 buffers themselves: header names are compared on every request.
    var a = a, b = b
    return a.withUTF8 { x in
        b.withUTF8 { y in
            var i = 0
            while i < x.count {
                if x[i] != y[i] && asciiLower(x[i]) != asciiLower(y[i]) { return false }
                i += 1
            }
            return true
        }
    }
}

extension Substring {
    func trimmingOWS() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
