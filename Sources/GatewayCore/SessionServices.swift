import GatewayConfig
import GatewayJSON
import GatewayLogging
import GatewaySessions
import GatewaySystem
import Synchronization

/// What every loop shares to run sessions: the table, the journal and the rules from gateway.json.
final class SessionServices: Sendable {
    let table: SessionTable
    let journal: SessionJournal?
    /// Held for the gateway's lifetime: its lock keeps other gateways off the folder.
    let dataDirectory: DataDirectory?
    let logger: Logger
    let throttle: LoginThrottle
    /// `jsonActionApiDefaults` and `sessions` as gateway.json last set them (a reload replaces
    /// them). Read on the login path and by the session actions, never per forwarded request.
    private let configured: Mutex<(defaults: JSONActionAPIDefaults, rules: SessionsConfiguration)>

    init(table: SessionTable, journal: SessionJournal?, dataDirectory: DataDirectory?, defaults: JSONActionAPIDefaults, rules: SessionsConfiguration, logger: Logger) {
        self.table = table
        self.journal = journal
        self.dataDirectory = dataDirectory
        configured = Mutex((defaults, rules))
        self.logger = logger
        throttle = LoginThrottle(rules: rules.loginThrottle)
    }

    var defaults: JSONActionAPIDefaults { configured.withLock { $0.defaults } }
    var rules: SessionsConfiguration { configured.withLock { $0.rules } }

    /// A reload: new logins meet the new limits and rules; sessions already open keep theirs.
    func reconfigure(defaults: JSONActionAPIDefaults, rules: SessionsConfiguration) {
        configured.withLock { $0 = (defaults, rules) }
        throttle.setRules(rules.loginThrottle)
        table.setLimits(Self.limits(defaults, rules))
    }

    static func limits(_ defaults: JSONActionAPIDefaults, _ rules: SessionsConfiguration) -> SessionLimits {
        SessionLimits(maxSessions: defaults.maxJsonApiSessions, maxPerAddress: defaults.maxJsonApiSessionsPerIpAddress,
                      maxPerUsername: defaults.maxJsonApiSessionsPerUsername, exemptAddresses: rules.exemptAddresses)
    }

    func isAdministrator(_ username: String) -> Bool {
        let rules = self.rules
        return rules.administrators.contains { $0.lowercased() == username.lowercased() }
    }

    /// Records a change durably, then runs `then` (on the journal's thread) with any error.
    /// Without a journal the change only lives in memory and `then` runs at once.
    func record(_ record: JournalRecord, then: (@Sendable (SystemError?) -> Void)? = nil) {
        guard let journal else { then?(nil); return }
        journal.append(record, completion: then)
    }

    /// The client a login counts against: the socket's peer, or, when the peer is a trusted
    /// proxy, the right-most X-Forwarded-For address that is not itself a trusted proxy.
    func clientAddress(peer: String?, forwardedFor: String?) -> String {
        let rules = self.rules
        let peer = peer ?? "unknown"
        guard let forwardedFor, !rules.trustedProxies.isEmpty, rules.trustedProxies.containsAddress(peer) else { return peer }
        var client = peer
        for hop in forwardedFor.split(separator: ",").reversed() {
            let address = hop.trimmingCharacters()
            guard AddressRange.bytes(of: address) != nil else { break }
            client = address
            if !rules.trustedProxies.containsAddress(address) { break }
        }
        return client
    }
}

private extension Substring {
    func trimmingCharacters() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
