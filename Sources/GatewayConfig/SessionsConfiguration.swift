import GatewaySystem

/// `sessions`: what the gateway needs beyond FairCom's jsonActionApiDefaults to own sessions.
public struct SessionsConfiguration: Sendable, Equatable {
    /// Where the session journal lives (created with mode 0700). Default "data".
    public var dataDirectory = "data"
    /// Whether ordinary (non-permanent) sessions survive a restart. Permanent ones always do.
    /// When false, the upstream sessions behind journaled ordinary sessions are closed at start.
    public var persistSessions = true
    /// Accounts that see and describe every session; others see only their own. Default ["admin"].
    public var administrators = ["admin"]
    /// Peers whose X-Forwarded-For names the client for the per-address limit (e.g. a load
    /// balancer). From anyone else the header is ignored. Addresses or CIDRs.
    public var trustedProxies: [AddressRange] = []
    /// Client addresses or CIDRs (e.g. a NAT gateway) exempt from maxJsonApiSessionsPerIpAddress.
    public var exemptAddresses: [AddressRange] = []
    /// Journal records beyond which the journal is rewritten from the live sessions. Default 10,000.
    public var journalCompactionRecords = 10_000
    /// Failed-login throttling and the cap on logins in flight per client address.
    public var loginThrottle = LoginThrottleRules()

    public init() {}

    static func decode(_ reader: ObjectReader) -> SessionsConfiguration {
        var reader = reader
        var c = SessionsConfiguration()
        c.dataDirectory = reader.string("dataDirectory", default: c.dataDirectory)
        if c.dataDirectory.isEmpty { reader.report("dataDirectory", "must name a directory") }
        c.persistSessions = reader.bool("persistSessions", default: true)
        c.administrators = strings(&reader, "administrators") ?? c.administrators
        c.trustedProxies = ranges(&reader, "trustedProxies")
        c.exemptAddresses = ranges(&reader, "exemptAddresses")
        c.journalCompactionRecords = reader.int("journalCompactionRecords", default: c.journalCompactionRecords, range: 100...100_000_000)
        if let throttle = reader.object("loginThrottle") { c.loginThrottle = LoginThrottleRules.decode(throttle) }
        reader.finish()
        return c
    }

    private static func strings(_ reader: inout ObjectReader, _ key: String) -> [String]? {
        guard let elements = reader.array(key) else { return nil }
        var out: [String] = []
        for (index, element) in elements.enumerated() {
            guard let text = element.stringValue, !text.isEmpty else {
                reader.report("\(key)[\(index)]", "\(ObjectReader.show(element)) is not a non-empty string")
                continue
            }
            out.append(text)
        }
        return out
    }

    private static func ranges(_ reader: inout ObjectReader, _ key: String) -> [AddressRange] {
        (strings(&reader, key) ?? []).enumerated().compactMap { index, text in
            guard let range = AddressRange(text) else {
                reader.report("\(key)[\(index)]", "\"\(text)\" is not an IPv4 or IPv6 address or CIDR such as \"10.0.0.0/8\"")
                return nil
            }
            return range
        }
    }
}
