/// Recognizes an upstream that refused a login for its own session limits, and says which
/// setting to raise on the FairCom server. Behind the gateway every session reaches FairCom from
/// the gateway's address, so FairCom's maxJsonApiSessionsPerIpAddress (50 by default) caps the
/// whole gateway. FairCom publishes no code for these refusals, so the message's words decide.
enum UpstreamLimitAdvice {
    static func advice(forRefusal message: String, upstream: String) -> String? {
        let text = message.lowercased()
        guard text.contains("session"),
              ["maximum", "limit", "too many", "exceed"].contains(where: { text.contains($0) }) else { return nil }
        let setting: String, why: String
        if text.contains("ip") || text.contains("address") {
            setting = "maxJsonApiSessionsPerIpAddress"
            why = " Every session reaches FairCom from the gateway's address, so that limit caps the whole gateway: raise it to at least the gateway's maxJsonApiSessions."
        } else if text.contains("user") || text.contains("account") {
            setting = "maxJsonApiSessionsPerUsername"
            why = ""
        } else {
            setting = "maxJsonApiSessions"
            why = ""
        }
        return "Upstream '\(upstream)' refused the login for its own session limit: raise \"\(setting)\" in the \"jsonActionApiDefaults\" of services.json on that FairCom server.\(why)"
    }
}
