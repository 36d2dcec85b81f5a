import GatewayConfig
import GatewayEventLoop
import GatewayLogging
import GatewayRedis
import GatewaySessions
import GatewaySystem
import GatewayTLS
import Synchronization

/// Fleet mode's shared part: where Redis is, the key that seals upstream tokens, the cache of
/// sessions Redis vouched for, and what this gateway knows of the fleet. Each loop talks to
/// Redis through its own `FleetStore`.
final class Fleet: Sendable {
    let configuration: FleetConfiguration
    let redis: RedisSettings
    let sealing: SealingKey
    /// Identifies the token key in the fleet record without revealing it.
    let keyCheck: String
    let cache: FleetCache
    /// This process's name in the fleet (the `P gw` set, for the local share of the limits).
    let gatewayId = Hex.string(SecureRandom.bytes(8))
    let prefix: String
    /// How late a use may reach Redis: a session counts, and is not ended, until its deadline is this far past.
    let slackMilliseconds: Int64
    /// How long after a fleet record is made (Redis came back empty) the gateways may still be
    /// writing their sessions back: an unknown token then gets 17038 (retry), not 12031.
    var writeBackMilliseconds: Int64 { 3 * configuration.touchIntervalMilliseconds + 2000 }
    private let known = Mutex<(fleetId: String?, gateways: Int)>((nil, 1))
    func isUnpublished(_ digest: TokenDigest) -> Bool { unpublished.withLock { $0.contains(digest) } }

    /// Logins given up whose FORGET has not reached Redis yet (retried by the first loop).
    let pendingForgets = Mutex<[TokenDigest]>([])
    /// Sessions admitted by the local share while Redis was unreachable, to be written to it once back.
    let unpublished = Mutex<[TokenDigest]>([])
    /// Why logins are refused although Redis answers: this gateway's settings differ from the fleet's.
    let joinProblem = Mutex<String?>(nil)
    /// Monotonic milliseconds since when Redis has not answered (nil: it answers).
    private let outageSince = Mutex<Int64?>(nil)

    let logger: Logger?

    init(configuration: FleetConfiguration, logger: Logger? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        var settings: RedisSettings
        switch configuration.endpoint {
        case .direct(let address): settings = RedisSettings(endpoint: .direct(address))
        case .sentinel(let addresses, let name): settings = RedisSettings(endpoint: .sentinel(addresses, masterName: name))
        }
        if let tls = configuration.tls {
            do { settings.tls = try TLSClientContext(settings: tls) } catch {
                throw GatewayStartError(message: "fleet.tls: \(error.message)")
            }
        }
        settings.username = configuration.username
        settings.password = configuration.password
        settings.sentinelPassword = configuration.sentinelPassword
        settings.database = configuration.database
        settings.connectTimeoutMilliseconds = configuration.connectTimeoutMilliseconds
        settings.commandTimeoutMilliseconds = configuration.commandTimeoutMilliseconds
        settings.breakerFailures = configuration.breakerFailures
        settings.breakerOpenMilliseconds = configuration.breakerOpenMilliseconds
        redis = settings
        guard let key = SealingKey(bytes: configuration.tokenKey) else {
            throw GatewayStartError(message: "fleet.tokenKeyFile: the key must be 32 bytes")
        }
        sealing = key
        keyCheck = Hex.string(Array(SHA256Digest.hash(Array("faircom-gateway fleet key check:".utf8) + configuration.tokenKey).prefix(8)))
        cache = FleetCache(cacheMilliseconds: configuration.cacheMilliseconds)
        prefix = configuration.keyPrefix
        slackMilliseconds = configuration.touchIntervalMilliseconds + configuration.commandTimeoutMilliseconds
    }

    var fleetId: String? { known.withLock { $0.fleetId } }
    var gatewaysAlive: Int { known.withLock { max(1, $0.gateways) } }

    /// Compares the fleet id Redis reported with the one known: true when it is gone or differs
    /// (Redis lost its data). The known id changes only by `setFleetId`, after a join (and write-back).
    func observe(fleetId: String?, gateways: Int? = nil) -> Bool {
        known.withLock { k in
            if let gateways { k.gateways = gateways }
            return fleetId == nil || (k.fleetId != nil && k.fleetId != fleetId)
        }
    }

    func setFleetId(_ id: String) { known.withLock { $0.fleetId = id } }

    /// Every fleet command's outcome: an outage starts the clock of the cache's grace, an answer stops it.
    func noteRedis(available: Bool, now: Int64) {
        outageSince.withLock { since in
            if available { since = nil } else if since == nil { since = now }
        }
    }

    var isRedisDown: Bool { outageSince.withLock { $0 != nil } }

    /// A sealed token this key cannot open: another gateway seals with another key (the join check
    /// compares keys, so this means a gateway older than that check, or a tampered record).
    func noteUnopenableToken(_ digest: TokenDigest) {
        logger?.error("fleet: the upstream token of session \(digest.fingerprint) cannot be opened with this gateway's fleet.tokenKeyFile; every gateway of a fleet needs the same key")
    }

    func sealedToken(_ token: String, digest: TokenDigest) -> [UInt8] {
        sealing.seal(Array(token.utf8), context: Array(digest.hex.utf8))
    }

    func openedToken(_ sealed: [UInt8], digest: TokenDigest) -> String? {
        sealing.open(sealed, context: Array(digest.hex.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }
}
