import GatewayConfig
import GatewayJSON

/// A createSession or alterSession parameter that breaks FairCom's rules, naming the property.
public struct InvalidParameter: Error, Sendable, Equatable {
    public let property: String
    public let message: String
    /// The property appears more than once (17024 rather than 17023).
    public var isDuplicate = false
    public var description: String { "\(message)" }
}

/// The `params` of createSession and alterSession, validated as FairCom documents them.
public struct SessionParameters: Sendable {
    public var username = ""
    public var password = ""
    public var settings: SessionSettings
    /// Whether the request asked for a permanent session (needs enablePermanentJsonApiSessions).
    public var requestsPermanentSession: Bool { settings.permanentSession }

    static let maxInt32 = Int(Int32.max)

    /// createSession: username and password are required; every other property falls back to
    /// jsonActionApiDefaults. A property set to null counts as omitted, as FairCom treats it.
    public static func forCreate(_ params: JSONValue?, defaults: JSONActionAPIDefaults) throws(InvalidParameter) -> SessionParameters {
        var parameters = SessionParameters(settings: SessionSettings(defaults: defaults))
        let members = try objectMembers(params)
        guard let username = members.value("username") else {
            throw InvalidParameter(property: "params.username", message: "The required property 'params.username' is missing: createSession needs the account name (1 to 64 bytes).")
        }
        parameters.username = try string(username, "params.username", bytes: 1...64)
        guard let password = members.value("password") else {
            throw InvalidParameter(property: "params.password", message: "The required property 'params.password' is missing: createSession needs the account's password (0 to 256 bytes).")
        }
        parameters.password = try string(password, "params.password", bytes: 0...256, secret: true)
        try apply(members, to: &parameters.settings)
        if parameters.settings.defaultOwnerName.isEmpty { parameters.settings.defaultOwnerName = parameters.username }
        return parameters
    }

    /// alterSession: the same properties but username, password and permanentSession: true.
    public static func applyAlter(_ params: JSONValue?, to settings: SessionSettings) throws(InvalidParameter) -> SessionSettings {
        let members = try objectMembers(params)
        for forbidden in ["username", "password"] where members.value(forbidden) != nil {
            throw InvalidParameter(property: "params.\(forbidden)", message: "alterSession cannot change 'params.\(forbidden)'; create a new session with createSession instead.")
        }
        var altered = settings
        try apply(members, to: &altered)
        if altered.permanentSession != settings.permanentSession {
            throw InvalidParameter(property: "params.permanentSession", message: "alterSession cannot change 'params.permanentSession'; create a permanent session with createSession instead.")
        }
        return altered
    }

    private struct Members {
        let list: [(String, JSONValue)]
        /// Nil when absent or null.
        func value(_ key: String) -> JSONValue? {
            guard let value = list.last(where: { $0.0 == key })?.1, value != .null else { return nil }
            return value
        }
    }

    private static func objectMembers(_ params: JSONValue?) throws(InvalidParameter) -> Members {
        guard let params, params != .null else { return Members(list: []) }
        guard let members = params.objectValue else {
            throw InvalidParameter(property: "params", message: "The property 'params' must be an object, not \(params.typeDescription).")
        }
        // Keys compare as decoded: "user\u006eame" is "username". The gateway and the upstream
        // could otherwise each read a different one of two values.
        var seen = Set<String>()
        for (key, _) in members where !seen.insert(key).inserted {
            throw InvalidParameter(property: "params.\(key)", message: "The property 'params.\(key)' appears more than once (however its key is escaped); send it once.",
                                   isDuplicate: true)
        }
        return Members(list: members)
    }

    private static func apply(_ members: Members, to s: inout SessionSettings) throws(InvalidParameter) {
        if let v = members.value("description") { s.description = try string(v, "params.description", bytes: 0...65_500) }
        if let v = members.value("defaultApi") { s.defaultApi = try choice(v, "params.defaultApi", JSONActionAPIDefaults.apis) }
        if let v = members.value("defaultDebug") { s.defaultDebug = try choice(v, "params.defaultDebug", JSONActionAPIDefaults.debugLevels) }
        if let v = members.value("defaultDatabaseName") { s.defaultDatabaseName = try string(v, "params.defaultDatabaseName", bytes: 1...64) }
        if let v = members.value("defaultOwnerName") { s.defaultOwnerName = try string(v, "params.defaultOwnerName", bytes: 1...64) }
        if let v = members.value("defaultBinaryFormat") { s.defaultBinaryFormat = try choice(v, "params.defaultBinaryFormat", JSONActionAPIDefaults.binaryFormats) }
        if let v = members.value("defaultVariantFormat") { s.defaultVariantFormat = try choice(v, "params.defaultVariantFormat", JSONActionAPIDefaults.variantFormats) }
        if let v = members.value("defaultResponseOptions") { s.defaultResponseOptions = try responseOptions(v, "params.defaultResponseOptions") }
        if let v = members.value("idleConnectionTimeoutSeconds") {
            s.idleConnectionTimeoutSeconds = try integer(v, "params.idleConnectionTimeoutSeconds", 0...maxInt32, note: "; 0 keeps the session open until deleteSession")
        }
        if let v = members.value("idleCursorTimeoutSeconds") {
            s.idleCursorTimeoutSeconds = try integer(v, "params.idleCursorTimeoutSeconds", -1...maxInt32, note: "; -1 keeps cursors open indefinitely")
        }
        if let v = members.value("permanentSession") {
            guard let flag = v.boolValue else {
                throw InvalidParameter(property: "params.permanentSession", message: "The property 'params.permanentSession' must be true or false, not \(describe(v)).")
            }
            s.permanentSession = flag
        }
    }

    /// responseOptions values are checked where FairCom names the choices; other members pass through.
    static func responseOptions(_ value: JSONValue, _ property: String) throws(InvalidParameter) -> JSONValue {
        guard let members = value.objectValue else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be an object, not \(value.typeDescription).")
        }
        let choices: [String: [String]] = [
            "dataFormat": JSONActionAPIDefaults.dataFormats, "numberFormat": JSONActionAPIDefaults.numberFormats,
            "binaryFormat": JSONActionAPIDefaults.binaryFormats, "variantFormat": JSONActionAPIDefaults.variantFormats,
            "stringFormat": ["json", "hex", "base64"], "fixedLengthCharFormat": ["sql", "json"],
        ]
        for (key, member) in members where member != .null {
            if let allowed = choices[key] {
                _ = try choice(member, "\(property).\(key)", allowed, caseInsensitive: key == "dataFormat")
            } else if key == "includeBookmarks", member.boolValue == nil {
                throw InvalidParameter(property: "\(property).\(key)", message: "The property '\(property).\(key)' must be true or false, not \(describe(member)).")
            }
        }
        return value
    }

    static func describe(_ value: JSONValue) -> String {
        let text = JSONWriter.string(value)
        return text.utf8.count > 40 ? "\(value.typeDescription) \(text.prefix(37))..." : "\(value.typeDescription) \(text)"
    }

    /// A `secret` (the password) is never echoed back, whatever its type.
    static func string(_ value: JSONValue, _ property: String, bytes range: ClosedRange<Int>, secret: Bool = false) throws(InvalidParameter) -> String {
        guard let text = value.stringValue else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be a string, not \(secret ? value.typeDescription : describe(value)).")
        }
        guard range.contains(text.utf8.count) else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be \(range.lowerBound) to \(range.upperBound) bytes long; it has \(text.utf8.count).")
        }
        return text
    }

    static func choice(_ value: JSONValue, _ property: String, _ allowed: [String], caseInsensitive: Bool = false) throws(InvalidParameter) -> String {
        let list = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        guard let text = value.stringValue else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be one of \(list), not \(describe(value)).")
        }
        if let match = allowed.first(where: { caseInsensitive ? $0.lowercased() == text.lowercased() : $0 == text }) { return match }
        throw InvalidParameter(property: property, message: "The property '\(property)' must be one of \(list), not \"\(text.prefix(64))\".")
    }

    static func integer(_ value: JSONValue, _ property: String, _ range: ClosedRange<Int>, note: String) throws(InvalidParameter) -> Int {
        guard let number = value.intValue, case .number(let text) = value, !text.contains("."), !text.lowercased().contains("e") else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be an integer from \(range.lowerBound) to \(range.upperBound), not \(describe(value)).")
        }
        guard range.contains(number) else {
            throw InvalidParameter(property: property, message: "The property '\(property)' must be an integer from \(range.lowerBound) to \(range.upperBound)\(note); \(number) is out of range.")
        }
        return number
    }
}
