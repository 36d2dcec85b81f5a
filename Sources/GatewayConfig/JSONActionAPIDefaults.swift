import GatewayJSON

/// `jsonActionApiDefaults`, with FairCom's names and defaults (see FairCom's services.json).
public struct JSONActionAPIDefaults: Sendable, Equatable {
    public static let apis = ["admin", "db", "hub", "mq", "transform"]
    public static let debugLevels = ["none", "min", "max"]
    public static let binaryFormats = ["base64", "hex", "byteArray"]
    public static let variantFormats = ["json", "binary", "variantObject", "string"]
    public static let dataFormats = ["default", "arrays", "objects"]
    public static let numberFormats = ["number", "string"]

    public var maxJsonApiSessions = 1024
    public var maxJsonApiSessionsPerIpAddress = 50
    public var maxJsonApiSessionsPerUsername = 50
    /// Seconds without a request before a session ends; 0 never ends it.
    public var idleConnectionTimeoutSeconds = 3600
    public var idleCursorTimeoutSeconds = 600
    public var enablePermanentJsonApiSessions = false
    public var defaultApi = "db"
    /// The gateway answers without debugInfo unless asked (FairCom's per-request default).
    public var defaultDebug = "none"
    public var defaultDatabaseName = "faircom"
    /// Nil: each session's own account name, as FairCom reports today.
    public var defaultOwnerName: String?
    public var defaultBinaryFormat = "hex"
    public var defaultVariantFormat = "json"
    public var defaultResponseOptions: JSONValue = .object([
        ("binaryFormat", .string("hex")), ("dataFormat", .string("objects")),
        ("numberFormat", .string("number")), ("variantFormat", .string("json")),
    ])

    /// The session defaults gateway.json sets explicitly, as FairCom names them: given to the
    /// upstream at each createSession that leaves them out, so the upstream session applies them.
    /// What gateway.json leaves out is left to the upstream's own defaults.
    public var configuredSessionDefaults: [(String, JSONValue)] = []
    static let sessionDefaultKeys = [
        "defaultApi", "defaultDebug", "defaultDatabaseName", "defaultOwnerName", "defaultBinaryFormat", "defaultVariantFormat",
        "defaultResponseOptions", "idleCursorTimeoutSeconds", "defaultRetentionPolicy", "defaultRetentionUnit", "defaultRetentionPeriod",
    ]

    public static func == (l: JSONActionAPIDefaults, r: JSONActionAPIDefaults) -> Bool {
        JSONValue.object(l.configuredSessionDefaults) == .object(r.configuredSessionDefaults)
            && l.maxJsonApiSessions == r.maxJsonApiSessions && l.maxJsonApiSessionsPerIpAddress == r.maxJsonApiSessionsPerIpAddress
            && l.maxJsonApiSessionsPerUsername == r.maxJsonApiSessionsPerUsername
            && l.idleConnectionTimeoutSeconds == r.idleConnectionTimeoutSeconds && l.idleCursorTimeoutSeconds == r.idleCursorTimeoutSeconds
            && l.enablePermanentJsonApiSessions == r.enablePermanentJsonApiSessions && l.defaultApi == r.defaultApi
            && l.defaultDebug == r.defaultDebug && l.defaultDatabaseName == r.defaultDatabaseName && l.defaultOwnerName == r.defaultOwnerName
            && l.defaultBinaryFormat == r.defaultBinaryFormat && l.defaultVariantFormat == r.defaultVariantFormat
            && l.defaultResponseOptions == r.defaultResponseOptions
    }

    public init() {}

    static func decode(_ reader: ObjectReader) -> JSONActionAPIDefaults {
        var reader = reader
        var d = JSONActionAPIDefaults()
        let maxInt32 = Int(Int32.max)
        d.maxJsonApiSessions = reader.int("maxJsonApiSessions", default: d.maxJsonApiSessions, range: 1...10_000_000)
        d.maxJsonApiSessionsPerIpAddress = reader.int("maxJsonApiSessionsPerIpAddress", default: d.maxJsonApiSessionsPerIpAddress, range: 1...10_000_000)
        d.maxJsonApiSessionsPerUsername = reader.int("maxJsonApiSessionsPerUsername", default: d.maxJsonApiSessionsPerUsername, range: 1...10_000_000)
        d.idleConnectionTimeoutSeconds = reader.int("idleConnectionTimeoutSeconds", default: d.idleConnectionTimeoutSeconds, range: 0...maxInt32)
        d.idleCursorTimeoutSeconds = reader.int("idleCursorTimeoutSeconds", default: d.idleCursorTimeoutSeconds, range: 0...maxInt32)
        d.enablePermanentJsonApiSessions = reader.bool("enablePermanentJsonApiSessions", default: false)
        d.defaultApi = reader.string("defaultApi", default: d.defaultApi, allowed: apis)
        d.defaultDebug = reader.string("defaultDebug", default: d.defaultDebug, allowed: debugLevels)
        d.defaultDatabaseName = reader.string("defaultDatabaseName", default: d.defaultDatabaseName)
        if reader.value("defaultOwnerName") != nil { d.defaultOwnerName = reader.string("defaultOwnerName", default: "") }
        d.defaultBinaryFormat = reader.string("defaultBinaryFormat", default: d.defaultBinaryFormat, allowed: binaryFormats)
        d.defaultVariantFormat = reader.string("defaultVariantFormat", default: d.defaultVariantFormat, allowed: variantFormats)
        if var options = reader.object("defaultResponseOptions") {
            _ = options.string("binaryFormat", default: "hex", allowed: binaryFormats)
            _ = options.string("dataFormat", default: "objects", allowed: dataFormats)
            _ = options.string("numberFormat", default: "number", allowed: numberFormats)
            _ = options.string("variantFormat", default: "json", allowed: variantFormats)
            _ = options.string("stringFormat", default: "json", allowed: ["json", "hex", "base64"])
            _ = options.string("fixedLengthCharFormat", default: "sql", allowed: ["sql", "json"])
            _ = options.bool("includeBookmarks", default: false)
            options.finish()
            if let value = reader.value("defaultResponseOptions") { d.defaultResponseOptions = value }
        }
        // FairCom's EDGE retention settings are accepted and passed along untouched.
        _ = reader.string("defaultRetentionPolicy", default: "autoPurge", allowed: ["autoPurge", "neverPurge"])
        _ = reader.string("defaultRetentionUnit", default: "week", allowed: ["minute", "hour", "day", "week", "month", "year", "forever"])
        if let period = reader.value("defaultRetentionPeriod"), period.intValue == nil, Int(period.stringValue ?? "") == nil {
            reader.report("defaultRetentionPeriod", "\(ObjectReader.show(period)) is not an integer")
        }
        d.configuredSessionDefaults = sessionDefaultKeys.compactMap { key in reader.value(key).map { (key, $0) } }
        reader.finish()
        return d
    }
}
