import GatewayConfig
import GatewayJSON

/// What a session was created with and what alterSession may change: its description, timeouts
/// and the default* values applied to requests that leave them out.
public struct SessionSettings: Sendable, Equatable {
    public var description = ""
    public var defaultApi: String
    public var defaultDebug: String
    public var defaultDatabaseName: String
    public var defaultOwnerName: String
    public var defaultBinaryFormat: String
    public var defaultVariantFormat: String
    public var defaultResponseOptions: JSONValue
    /// Seconds without a request before the session ends; 0 never ends it.
    public var idleConnectionTimeoutSeconds: Int
    public var idleCursorTimeoutSeconds: Int
    /// A permanent session is an API key: it never idles out and survives restarts.
    public var permanentSession = false
    /// What the upstream reported of the session beyond these settings, in its order
    /// (defaultStringFormat, transformBufferInitialBytes, defaultRetention*, serverVersion,
    /// hostname, hostUuid, ...): it belongs to this session and is reported as the upstream said it.
    public var upstreamReport: [(String, JSONValue)] = []

    public static func == (l: SessionSettings, r: SessionSettings) -> Bool {
        l.description == r.description && l.defaultApi == r.defaultApi && l.defaultDebug == r.defaultDebug
            && l.defaultDatabaseName == r.defaultDatabaseName && l.defaultOwnerName == r.defaultOwnerName
            && l.defaultBinaryFormat == r.defaultBinaryFormat && l.defaultVariantFormat == r.defaultVariantFormat
            && l.defaultResponseOptions == r.defaultResponseOptions && l.idleConnectionTimeoutSeconds == r.idleConnectionTimeoutSeconds
            && l.idleCursorTimeoutSeconds == r.idleCursorTimeoutSeconds && l.permanentSession == r.permanentSession
            && l.upstreamReport.count == r.upstreamReport.count
            && zip(l.upstreamReport, r.upstreamReport).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    /// What a member of an upstream's session report is to the gateway.
    private enum ReportedKey {
        /// The gateway owns it rather than the upstream: its token, the account, the description it
        /// validated, the idle timeout it enforces (the upstream's is 0), permanence (an upstream may
        /// have given a never-idling session instead) and its own timestamps.
        case gatewayOwned
        case defaultApi, defaultDebug, defaultDatabaseName, defaultOwnerName, defaultBinaryFormat, defaultVariantFormat
        case defaultResponseOptions, idleCursorTimeoutSeconds
    }

    /// One hash per member instead of a comparison against every name.
    private static let reportedKeys: [String: ReportedKey] = [
        "authToken": .gatewayOwned, "username": .gatewayOwned, "description": .gatewayOwned,
        "idleConnectionTimeoutSeconds": .gatewayOwned, "permanentSession": .gatewayOwned,
        "sessionStartTimestamp": .gatewayOwned, "sessionLastAccessedTimestamp": .gatewayOwned,
        "defaultApi": .defaultApi, "defaultDebug": .defaultDebug, "defaultDatabaseName": .defaultDatabaseName,
        "defaultOwnerName": .defaultOwnerName, "defaultBinaryFormat": .defaultBinaryFormat,
        "defaultVariantFormat": .defaultVariantFormat, "defaultResponseOptions": .defaultResponseOptions,
        "idleCursorTimeoutSeconds": .idleCursorTimeoutSeconds,
    ]

    /// Takes what the upstream reports of the session (a createSession or alterSession result):
    /// the default* values and the cursor timeout it applies, and everything else it says.
    public mutating func adopt(upstreamResult result: [(String, JSONValue)]) {
        var extra: [(String, JSONValue)] = []
        extra.reserveCapacity(result.count)
        for (key, value) in result {
            switch (Self.reportedKeys[key], value) {
            case (.gatewayOwned, _): continue
            case (.defaultApi, .string(let v)): defaultApi = v
            case (.defaultDebug, .string(let v)): defaultDebug = v
            case (.defaultDatabaseName, .string(let v)): defaultDatabaseName = v
            case (.defaultOwnerName, .string(let v)): defaultOwnerName = v
            case (.defaultBinaryFormat, .string(let v)): defaultBinaryFormat = v
            case (.defaultVariantFormat, .string(let v)): defaultVariantFormat = v
            case (.defaultResponseOptions, .object): defaultResponseOptions = value
            case (.idleCursorTimeoutSeconds, _) where value.intValue != nil: idleCursorTimeoutSeconds = value.intValue!
            default:
                if !extra.contains(where: { $0.0.utf8.count == key.utf8.count && $0.0 == key }) { extra.append((key, value)) }
            }
        }
        upstreamReport = extra
    }

    /// The settings of a login that sets nothing: jsonActionApiDefaults.
    public init(defaults: JSONActionAPIDefaults) {
        defaultApi = defaults.defaultApi
        defaultDebug = defaults.defaultDebug
        defaultDatabaseName = defaults.defaultDatabaseName
        // Unset: the account's own name, filled in by createSession (FairCom's current default).
        defaultOwnerName = defaults.defaultOwnerName ?? ""
        defaultBinaryFormat = defaults.defaultBinaryFormat
        defaultVariantFormat = defaults.defaultVariantFormat
        defaultResponseOptions = defaults.defaultResponseOptions
        idleConnectionTimeoutSeconds = defaults.idleConnectionTimeoutSeconds
        idleCursorTimeoutSeconds = defaults.idleCursorTimeoutSeconds
    }

    /// Idle milliseconds before expiry, nil when the session never idles out.
    public var idleLimitMilliseconds: Int64? {
        permanentSession || idleConnectionTimeoutSeconds == 0 ? nil : Int64(idleConnectionTimeoutSeconds) * 1000
    }

    /// The members FairCom reports for a session, in its order. A permanent session reports
    /// idleConnectionTimeoutSeconds as -1, as FairCom does.
    public var reportedMembers: [(String, JSONValue)] {
        [
            ("description", .string(description)),
            ("defaultDatabaseName", .string(defaultDatabaseName)),
            ("defaultOwnerName", .string(defaultOwnerName)),
            ("defaultBinaryFormat", .string(defaultBinaryFormat)),
            ("defaultVariantFormat", .string(defaultVariantFormat)),
            ("defaultResponseOptions", defaultResponseOptions),
            ("idleConnectionTimeoutSeconds", .int(permanentSession ? -1 : idleConnectionTimeoutSeconds)),
            ("idleCursorTimeoutSeconds", .int(idleCursorTimeoutSeconds)),
            ("defaultApi", .string(defaultApi)),
            ("defaultDebug", .string(defaultDebug)),
            ("permanentSession", .bool(permanentSession)),
        ]
    }

    /// The settings as the journal stores them (timeouts as set, not as reported).
    public var journalValue: JSONValue {
        var members = reportedMembers
        members[6] = ("idleConnectionTimeoutSeconds", .int(idleConnectionTimeoutSeconds))
        if !upstreamReport.isEmpty { members.append(("upstreamReport", .object(upstreamReport))) }
        return .object(members)
    }

    /// Appends `journalValue`'s JSON, the same bytes, written member by member.
    public func writeJournalValue(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        writeMembers(into: &out, first: true, reportingIdleTimeout: false)
        if !upstreamReport.isEmpty {
            JSONWriter.writeKey("upstreamReport", into: &out)
            JSONWriter.write(.object(upstreamReport), into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `reportedMembers` (or, not `reportingIdleTimeout`, the journal's: the idle timeout as
    /// set) as `"key":value` pairs, each after a comma unless `first`.
    public func writeMembers(into out: inout [UInt8], first: Bool = false, reportingIdleTimeout: Bool = true) {
        JSONWriter.writeMember("description", description, into: &out, first: first)
        JSONWriter.writeMember("defaultDatabaseName", defaultDatabaseName, into: &out)
        JSONWriter.writeMember("defaultOwnerName", defaultOwnerName, into: &out)
        JSONWriter.writeMember("defaultBinaryFormat", defaultBinaryFormat, into: &out)
        JSONWriter.writeMember("defaultVariantFormat", defaultVariantFormat, into: &out)
        JSONWriter.writeKey("defaultResponseOptions", into: &out)
        JSONWriter.write(defaultResponseOptions, into: &out)
        JSONWriter.writeKey("idleConnectionTimeoutSeconds", into: &out)
        JSONWriter.writeInt(reportingIdleTimeout && permanentSession ? -1 : idleConnectionTimeoutSeconds, into: &out)
        JSONWriter.writeKey("idleCursorTimeoutSeconds", into: &out)
        JSONWriter.writeInt(idleCursorTimeoutSeconds, into: &out)
        JSONWriter.writeMember("defaultApi", defaultApi, into: &out)
        JSONWriter.writeMember("defaultDebug", defaultDebug, into: &out)
        JSONWriter.writeKey("permanentSession", into: &out)
        JSONWriter.write(.bool(permanentSession), into: &out)
    }

    /// Appends `upstreamReport`'s members as `,"key":value` pairs.
    public func writeUpstreamReport(into out: inout [UInt8]) {
        for (key, value) in upstreamReport {
            out.append(UInt8(ascii: ","))
            JSONWriter.writeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.write(value, into: &out)
        }
    }

    /// Reads `journalValue` back over `defaults`; nil when a member is missing or mistyped.
    public init?(journalValue value: JSONValue, defaults: JSONActionAPIDefaults) {
        self.init(defaults: defaults)
        guard case .object = value,
              let description = value["description"]?.stringValue, let api = value["defaultApi"]?.stringValue,
              let debug = value["defaultDebug"]?.stringValue, let database = value["defaultDatabaseName"]?.stringValue,
              let owner = value["defaultOwnerName"]?.stringValue, let binary = value["defaultBinaryFormat"]?.stringValue,
              let variant = value["defaultVariantFormat"]?.stringValue, let options = value["defaultResponseOptions"],
              let idle = value["idleConnectionTimeoutSeconds"]?.intValue, let cursor = value["idleCursorTimeoutSeconds"]?.intValue,
              let permanent = value["permanentSession"]?.boolValue else { return nil }
        self.description = description
        defaultApi = api
        defaultDebug = debug
        defaultDatabaseName = database
        defaultOwnerName = owner
        defaultBinaryFormat = binary
        defaultVariantFormat = variant
        defaultResponseOptions = options
        idleConnectionTimeoutSeconds = idle
        idleCursorTimeoutSeconds = cursor
        permanentSession = permanent
        upstreamReport = value["upstreamReport"]?.objectValue ?? []
    }
}
