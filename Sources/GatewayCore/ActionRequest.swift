import GatewayJSON

/// A JSON Action request as the gateway reads it: the members it needs, found by one scan, and
/// the body kept as the client sent it so that forwarding only splices.
struct ActionRequest {
    let body: [UInt8]
    /// Where the members the gateway reads stand in `body`.
    let envelope: JSONEnvelopeScan
    /// What the gateway does with the action.
    let kind: ActionKind
    /// The token's bytes in `body` when it is a plain string (no escapes): read in place on the hot path.
    let authTokenBytes: Range<Int>?
    let debug: String?

    var requestId: JSONValue? { envelope.requestId.flatMap { try? JSONParser.parse(body, range: $0.value) } }

    /// The token as a string, made only where an answer needs it.
    var authToken: String? { envelope.authToken.flatMap { JSONObjectScan.string($0, in: body) } }

    var params: JSONValue? { envelope.params.flatMap { try? JSONParser.parse(body, range: $0.value) } }

    /// A JSON-level error found before any upstream is involved.
    struct Rejection: Error {
        let code: GatewayErrorCode
        let message: String
        let requestId: JSONValue?
    }

    static func parse(_ body: [UInt8]) -> Result<ActionRequest, Rejection> {
        let scanned: JSONEnvelopeScan?
        do {
            scanned = try JSONEnvelopeScan.scan(body)
        } catch {
            let what = body.isEmpty ? "The request body is empty; it must be a JSON object such as {\"api\":\"admin\",\"action\":\"pingSession\"}."
                                    : "The request body is not valid JSON: \(error.message) at byte \(error.offset)."
            return .failure(Rejection(code: .invalidJSON, message: what, requestId: nil))
        }
        guard let envelope = scanned else {
            let kind = (try? JSONParser.parse(body))?.typeDescription ?? "another value"
            return .failure(Rejection(code: .notAnObject, message: "The request body must be a JSON object, not \(kind).", requestId: nil))
        }
        func reject(_ code: GatewayErrorCode, _ message: String) -> Result<ActionRequest, Rejection> {
            .failure(Rejection(code: code, message: message, requestId: envelope.requestId.flatMap { try? JSONParser.parse(body, range: $0.value) }))
        }
        if let duplicate = envelope.duplicate {
            return reject(.duplicateProperty, "The property '\(duplicate)' appears more than once; send it once.")
        }
        guard let actionMember = envelope.action else {
            return reject(.missingAction, "The required property 'action' is missing; name the action to run, such as \"createSession\".")
        }
        guard let kind = Self.kind(of: actionMember, in: body) else {
            return reject(.missingAction, "The property 'action' must be a non-empty string, not \(describe(actionMember, in: body)).")
        }
        // Checked one by one rather than over an array literal, which would be allocated per request.
        func wrongType(_ member: JSONObjectScan.Member?, _ leading: UInt8) -> JSONObjectScan.Member? {
            guard let member, !isType(member, leading, in: body) else { return nil }
            return member
        }
        let quote = UInt8(ascii: "\""), brace = UInt8(ascii: "{")
        if let member = wrongType(envelope.api, quote) ?? wrongType(envelope.authToken, quote) ?? wrongType(envelope.debug, quote) {
            return reject(.invalidProperty, "The property '\(member.key)' must be a string, not \(describe(member, in: body)).")
        }
        if let member = wrongType(envelope.params, brace) ?? wrongType(envelope.responseOptions, brace) {
            return reject(.invalidProperty, "The property '\(member.key)' must be an object, not \(describe(member, in: body)).")
        }
        let tokenBytes = envelope.authToken.flatMap { member -> Range<Int>? in
            let inner = (member.value.lowerBound + 1)..<(member.value.upperBound - 1)
            guard body[member.value.lowerBound] == quote else { return nil }
            let plain = body.withUnsafeBufferPointer { bytes in !UnsafeBufferPointer(rebasing: bytes[inner]).contains(UInt8(ascii: "\\")) }
            return plain ? inner : nil
        }
        let debug = envelope.debug.flatMap { JSONObjectScan.string($0, in: body) }
        return .success(ActionRequest(body: body, envelope: envelope, kind: kind, authTokenBytes: tokenBytes, debug: debug))
    }

    /// Names the request's api and action in its record, as catalog indexes (and the client's
    /// action name for the log, when `logging` and the catalog does not know it).
    func name(into record: RequestRecord, logging: Bool) {
        body.withUnsafeBytes { bytes in
            func inner(_ member: JSONObjectScan.Member?) -> UnsafeRawBufferPointer? {
                guard let range = member?.value, range.count >= 2, body[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
                return UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound + 1)..<(range.upperBound - 1)])
            }
            if let api = inner(envelope.api) { record.api = ActionCatalog.api(api) }
            if let action = inner(envelope.action) { record.action = ActionCatalog.action(action) }
        }
        if logging && record.action == ActionCatalog.otherAction, let action = envelope.action,
           let name = JSONObjectScan.string(action, in: body) {
            record.actionName = Self.loggable(actionName: name) ? name : "other"
        }
    }

    /// Whether an action name the catalog does not know may be written to the access log as sent:
    /// FairCom's action names are camel-case words, letters only. Anything else (a token pasted
    /// into `action` once reached the log whole) is logged as `other`, as metrics count it.
    static func loggable(actionName name: String) -> Bool {
        name.utf8.count <= 64 && name.utf8.allSatisfy { ($0 | 0x20) >= UInt8(ascii: "a") && ($0 | 0x20) <= UInt8(ascii: "z") }
    }

    /// The kind of a non-empty string action; nil for anything else. A plain name is read in place.
    static func kind(of member: JSONObjectScan.Member, in body: [UInt8]) -> ActionKind? {
        let range = member.value
        guard range.count > 2, body[range.lowerBound] == UInt8(ascii: "\"") else { return nil }
        let inner = (range.lowerBound + 1)..<(range.upperBound - 1)
        if !body[inner].contains(UInt8(ascii: "\\")) {
            return body.withUnsafeBufferPointer { ActionKind(name: UnsafeBufferPointer(rebasing: $0[inner])) }
        }
        guard var decoded = JSONObjectScan.string(member, in: body), !decoded.isEmpty else { return nil }
        return decoded.withUTF8 { ActionKind(name: $0) }
    }

    /// Whether a member's value starts with `leading` (a string's quote, an object's brace) or is null.
    private static func isType(_ member: JSONObjectScan.Member, _ leading: UInt8, in body: [UInt8]) -> Bool {
        let first = JSONObjectScan.leadingByte(member, in: body)
        return first == leading || first == UInt8(ascii: "n")
    }

    private static func describe(_ member: JSONObjectScan.Member, in body: [UInt8]) -> String {
        guard let value = try? JSONParser.parse(body, range: member.value) else { return "an invalid value" }
        let text = JSONWriter.string(value)
        return "\(value.typeDescription) \(text.utf8.count > 40 ? String(text.prefix(37)) + "..." : text)"
    }

    /// The request as debugInfo echoes it: every password replaced by "********".
    var maskedEcho: JSONValue {
        guard let value = try? JSONParser.parse(body) else { return .null }
        return Self.maskingPasswords(value)
    }

    static func maskingPasswords(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            return .object(members.map { key, member in
                key.lowercased() == "password" ? (key, .string("********")) : (key, maskingPasswords(member))
            })
        case .array(let elements):
            return .array(elements.map(maskingPasswords))
        default:
            return value
        }
    }
}
