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
    let defaults: JSONActionAPIDefaults
    let rules: SessionsConfiguration
    let logger: Logger
    let throttle: LoginThrottle

    init(table: SessionTable, journal: SessionJournal?, dataDirectory: DataDirectory?, defaults: JSONActionAPIDefaults, rules: SessionsConfiguration, logger: Logger) {
        self.table = table
        self.journal = journal
        self.dataDirectory = dataDirectory
        self.defaults = defaults
        self.rules = rules
        self.logger = logger
        throttle = LoginThrottle(rules: rules.loginThrottle)
    }

    func isAdministrator(_ username: String) -> Bool {
        rules.administrators.contains { $0.lowercased() == username.lowercased() }
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
