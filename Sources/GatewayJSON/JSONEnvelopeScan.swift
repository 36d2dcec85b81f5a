/// One validating pass over a JSON Action request that records where the members the gateway
/// reads stand (action, api, authToken, params, requestId, debug, responseOptions), building nothing: no arrays, no key strings. The
/// whole document is validated as strictly as `JSONParser` does, so nothing malformed is forwarded.
///
/// Keys are compared after decoding escapes: `"\u0061ction"` is `action`, so a request cannot carry
/// a second copy of a member that the gateway would not see but an upstream would.
public struct JSONEnvelopeScan: Sendable {
    /// Where an object ends, for adding members to it.
    public struct Object: Sendable {
        public var closingBrace = 0
        public var isEmpty = true
    }

    public var action, api, authToken, params, requestId, debug, responseOptions: JSONObjectScan.Member?
    public var top = Object()
    /// The first top-level interpreted member that appears twice.
    public var duplicate: String?

    /// Nil when the document is valid JSON but not an object.
    public static func scan(_ bytes: [UInt8]) throws(JSONParseError) -> JSONEnvelopeScan? {
        try JSONParser.withTopLevelObject(bytes, range: 0..<bytes.count) { (parser) throws(JSONParseError) -> JSONEnvelopeScan in
            var envelope = JSONEnvelopeScan()
            envelope.top = try parser.scanEnvelopeObject(&envelope)
            return envelope
        }
    }

    enum Slot { case action, api, authToken, params, requestId, debug, responseOptions }

    mutating func record(_ slot: Slot, _ member: JSONObjectScan.Member) {
        func take(_ field: inout JSONObjectScan.Member?) {
            if field == nil { field = member } else if duplicate == nil { duplicate = member.key }
        }
        switch slot {
        case .action: take(&action)
        case .api: take(&api)
        case .authToken: take(&authToken)
        case .params: take(&params)
        case .requestId: take(&requestId)
        case .debug: take(&debug)
        case .responseOptions: take(&responseOptions)
        }
    }
}

extension JSONObjectScan.Member: Equatable {
    public static func == (l: Self, r: Self) -> Bool { l.key == r.key && l.value == r.value }
}

extension JSONParser {
    /// At `{`: moves past the top-level object, recording the interpreted members into `envelope`.
    mutating func scanEnvelopeObject(_ envelope: inout JSONEnvelopeScan) throws(JSONParseError) -> JSONEnvelopeScan.Object {
        var object = JSONEnvelopeScan.Object()
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            object.closingBrace = index
            index += 1
            return object
        }
        object.isEmpty = false
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let slot = try envelopeKey()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let start = index
            try skipValue(depth: 1)
            if let (which, name) = slot { envelope.record(which, JSONObjectScan.Member(key: name, value: start..<index)) }
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") {
                object.closingBrace = index
                index += 1
                return object
            }
            throw error("expected ',' or '}' in an object")
        }
    }

    /// Moves past a key; returns which interpreted member it names, if any.
    private mutating func envelopeKey() throws(JSONParseError) -> (JSONEnvelopeScan.Slot, String)? {
        let start = index
        let escaped = try skipString()
        let inner = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)])
        if escaped {
            // Escaped: decode it, so that an escaped spelling is still the same key.
            let end = index
            index = start
            let key = try parseString()
            index = end
            var decoded = key
            return decoded.withUTF8 { Self.slot(named: $0) }
        }
        return Self.slot(named: inner)
    }

    private static func slot(named key: UnsafeBufferPointer<UInt8>) -> (JSONEnvelopeScan.Slot, String)? {
        guard let base = key.baseAddress, !key.isEmpty else { return nil }
        let count = key.count
        // A plain byte loop: this runs for every key of every request.
        func equals(_ literal: StaticString) -> Bool {
            guard literal.utf8CodeUnitCount == count else { return false }
            let expected = literal.utf8Start
            var i = 0
            while i < count {
                if expected[i] != base[i] { return false }
                i += 1
            }
            return true
        }
        switch count {
        case 3: if equals("api") { return (.api, "api") }
        case 5: if equals("debug") { return (.debug, "debug") }
        case 6:
            if equals("action") { return (.action, "action") }
            if equals("params") { return (.params, "params") }
        case 9:
            if equals("authToken") { return (.authToken, "authToken") }
            if equals("requestId") { return (.requestId, "requestId") }
        case 15: if equals("responseOptions") { return (.responseOptions, "responseOptions") }
        default: break
        }
        return nil
    }
}
