import GatewayConfig
import GatewayEventLoop
import GatewayJSON
import GatewayLogging
import GatewayRedis
import GatewaySessions
import GatewaySystem

/// One loop's door to the fleet's sessions in Redis: each operation is one script (see
/// `FleetScripts`), its answer decoded into the gateway's own types. Completions run on the loop.
final class FleetStore {
    let fleet: Fleet
    let client: RedisClient
    private let loop: EventLoop

    init(fleet: Fleet, loop: EventLoop, logger: Logger) {
        self.fleet = fleet
        self.loop = loop
        client = RedisClient(loop: loop, settings: fleet.redis, logger: logger)
    }

    enum Admission {
        case admitted
        case refused(LimitRefusal)
        /// Redis has no fleet record (it came back empty): the caller joins again and retries.
        case noFleet
    }

    private var prefix: [UInt8] { Array(fleet.prefix.utf8) }
    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private static func bytes(_ number: Int64) -> [UInt8] { Array(String(number).utf8) }

    private func run(_ script: RedisScript, _ arguments: [[UInt8]], _ completion: @escaping (Result<RESPValue, RedisError>) -> Void) {
        let fleet = self.fleet
        // Another loop heard Redis answer since this loop's breaker opened: no need to wait out its period.
        if !client.isAvailable && !fleet.isRedisDown { client.closeBreaker() }
        client.evaluate(script, keys: [], arguments: [prefix] + arguments) { result in
            if case .failure(let error) = result, error.isOutage {
                fleet.noteRedis(available: false, now: MonotonicClock.nowMilliseconds())
            } else {
                fleet.noteRedis(available: true, now: MonotonicClock.nowMilliseconds())
            }
            completion(result)
        }
    }

    static func idleMilliseconds(_ settings: SessionSettings) -> Int64 { settings.idleLimitMilliseconds ?? 0 }

    func admit(_ session: SessionSnapshot, usernameKey: String, addressKey: String?, _ completion: @escaping (Result<Admission, RedisError>) -> Void) {
        let arguments = [Self.bytes(session.digest.hex), FleetRecord.encode(session), fleet.sealedToken(session.upstreamToken, digest: session.digest),
                         Self.bytes(usernameKey), Self.bytes(addressKey ?? ""), Self.bytes(Self.idleMilliseconds(session.settings)),
                         Self.bytes(fleet.slackMilliseconds)]
        run(FleetScripts.admit, arguments) { result in
            completion(result.flatMap { value in
                guard let items = value.elements, let verdict = items.first?.string else { return .failure(.reply("ADMIT answered \(value)")) }
                let limit = items.count > 1 ? items[1].integer ?? 0 : 0
                switch verdict {
                case "ok": return .success(.admitted)
                case "nofleet": return .success(.noFleet)
                case "forgotten": return .failure(.reply("ADMIT of a login already given up"))
                case "total": return .success(.refused(.total(limit: limit)))
                case "address": return .success(.refused(.perAddress(limit: limit, address: session.clientAddress)))
                case "username": return .success(.refused(.perUsername(limit: limit, username: session.username)))
                default: return .failure(.reply("ADMIT answered \(verdict)"))
                }
            })
        }
    }

    /// The session as Redis has it, nil when it is unknown there (or idle past its deadline), with
    /// the fleet id Redis holds (nil: Redis lost its data).
    func fetch(_ digest: TokenDigest, defaults: JSONActionAPIDefaults,
               _ completion: @escaping (Result<(fleetId: String?, session: SessionSnapshot?, fleetAge: Int64), RedisError>) -> Void) {
        run(FleetScripts.fetch, [Self.bytes(digest.hex), Self.bytes(fleet.slackMilliseconds)]) { [fleet] result in
            completion(result.map { value in
                let items = value.elements ?? []
                let fleetId = items.first?.string
                guard items.count == 4, case .bulk(let record?) = items[1], case .bulk(let sealed?) = items[2] else {
                    return (fleetId, nil, Int64(items.count == 2 ? items[1].integer ?? .max : .max))
                }
                guard let token = fleet.openedToken(sealed, digest: digest) else {
                    fleet.noteUnopenableToken(digest)
                    return (fleetId, nil, .max)
                }
                return (fleetId, FleetRecord.decode(record, digest: digest, upstreamToken: token,
                                                    lastAccessedAt: items[3].integer.map { $0 / 1000 }, defaults: defaults), .max)
            })
        }
    }

    /// Ends a session fleet-wide; its upstream and upstream token, or nil when Redis did not know it.
    func delete(_ digest: TokenDigest, _ completion: @escaping (Result<(upstream: String, upstreamToken: String)?, RedisError>) -> Void) {
        run(FleetScripts.delete, [Self.bytes(digest.hex)]) { [fleet] result in
            completion(result.map { value in Self.ended(value.elements ?? [], digest: digest, fleet: fleet) })
        }
    }

    private static func ended(_ items: [RESPValue], digest: TokenDigest, fleet: Fleet) -> (upstream: String, upstreamToken: String)? {
        guard items.count >= 2, case .bulk(let record?) = items[0], case .bulk(let sealed?) = items[1],
              let upstream = (try? JSONParser.parse(record))?["upstream"]?.stringValue,
              let token = fleet.openedToken(sealed, digest: digest) else { return nil }
        return (upstream, token)
    }

    /// Upstream sessions of ended sessions to close, each leased to this caller for `leaseMilliseconds`
    /// (see `FleetScripts.closes`); `closed` acknowledges one.
    func takeCloses(max: Int = 200, leaseMilliseconds: Int64 = 30_000,
                    _ completion: @escaping (Result<[(digest: TokenDigest, upstream: String, upstreamToken: String)], RedisError>) -> Void) {
        run(FleetScripts.closes, [Self.bytes(Int64(max)), Self.bytes(leaseMilliseconds)]) { [fleet] result in
            completion(result.map { value in
                (value.elements ?? []).compactMap { entry in
                    guard let parts = entry.elements, parts.count == 3, let hex = parts[0].string, let digest = TokenDigest(hex: hex),
                          let ended = Self.ended(Array(parts[1...]), digest: digest, fleet: fleet) else { return nil }
                    return (digest, ended.upstream, ended.upstreamToken)
                }
            })
        }
    }

    func closed(_ digest: TokenDigest) {
        run(FleetScripts.closed, [Self.bytes(digest.hex)]) { _ in }
    }

    /// A login given up (its ADMIT unanswered, or its client gone): whenever the ADMIT runs, the
    /// session does not exist. Its upstream session is the caller's to close.
    func forget(_ digest: TokenDigest, _ completion: @escaping (Result<Void, RedisError>) -> Void) {
        run(FleetScripts.forget, [Self.bytes(digest.hex)]) { result in completion(result.map { _ in () }) }
    }

    /// New settings for a live session (its idle time restarts); false when it is gone.
    func alter(_ session: SessionSnapshot, _ completion: @escaping (Result<Bool, RedisError>) -> Void) {
        run(FleetScripts.alter, [Self.bytes(session.digest.hex), FleetRecord.encode(session),
                                 Self.bytes(Self.idleMilliseconds(session.settings)), Self.bytes(fleet.slackMilliseconds)]) { result in
            completion(result.map { $0.integer == 1 })
        }
    }

    /// The fleet's live sessions (of one account, or all), without their upstream tokens, at most
    /// `max`, asked for in pages of `page`.
    func list(usernameKey: String?, defaults: JSONActionAPIDefaults, max: Int = 10_000, page: Int = 500,
              _ completion: @escaping (Result<[SessionSnapshot], RedisError>) -> Void) {
        listPage(usernameKey: usernameKey, defaults: defaults, offset: 0, max: max, page: page, gathered: [], completion)
    }

    private func listPage(usernameKey: String?, defaults: JSONActionAPIDefaults, offset: Int, max: Int, page: Int,
                          gathered: [SessionSnapshot], _ completion: @escaping (Result<[SessionSnapshot], RedisError>) -> Void) {
        let count = Swift.min(page, max - offset)
        run(FleetScripts.list, [Self.bytes(fleet.slackMilliseconds), Self.bytes(usernameKey ?? ""), Self.bytes(Int64(offset)),
                                Self.bytes(Int64(count))]) { [self] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let value):
                let entries = value.elements ?? []
                let sessions = gathered + entries.compactMap { entry -> SessionSnapshot? in
                    guard let parts = entry.elements, parts.count == 3, let hex = parts[0].string, let digest = TokenDigest(hex: hex),
                          case .bulk(let record?) = parts[1] else { return nil }
                    return FleetRecord.decode(record, digest: digest, upstreamToken: "", lastAccessedAt: parts[2].integer.map { $0 / 1000 },
                                              defaults: defaults)
                }
                if entries.count < count || offset + count >= max {
                    completion(.success(sessions))
                } else {
                    listPage(usernameKey: usernameKey, defaults: defaults, offset: offset + count, max: max, page: page, gathered: sessions, completion)
                }
            }
        }
    }

    struct Report {
        let fleetId: String?
        let missing: [TokenDigest]
        let gateways: Int
    }

    /// Reports sessions used here (`touch`), or only asks which of them Redis no longer has (`check`).
    func report(_ digests: [TokenDigest], touch: Bool, _ completion: @escaping (Result<Report, RedisError>) -> Void) {
        let arguments = [Self.bytes(fleet.slackMilliseconds), Self.bytes(touch ? "touch" : "check"), Self.bytes(fleet.gatewayId)]
            + digests.map { Self.bytes($0.hex) }
        run(FleetScripts.touch, arguments) { result in
            completion(result.map { value in
                let items = value.elements ?? []
                let missing = (items.count > 1 ? items[1].elements ?? [] : []).compactMap { $0.string.flatMap(TokenDigest.init(hex:)) }
                return Report(fleetId: items.first?.string, missing: missing, gateways: items.count > 2 ? items[2].integer ?? 1 : 1)
            })
        }
    }

    struct Claimed {
        let digest: TokenDigest
        let username: String
        let upstream: String
        let upstreamToken: String
        let idleSeconds: Int
    }

    /// Takes the sessions idle past their deadline (each is claimed by exactly one gateway).
    func claimExpired(limit: Int = 500, defaults: JSONActionAPIDefaults,
                      _ completion: @escaping (Result<(fleetId: String?, claimed: [Claimed]), RedisError>) -> Void) {
        run(FleetScripts.claim, [Self.bytes(fleet.slackMilliseconds), Self.bytes(Int64(limit))]) { [fleet] result in
            completion(result.map { value in
                let items = value.elements ?? []
                let claimed: [Claimed] = (items.count > 1 ? items[1].elements ?? [] : []).compactMap { entry in
                    guard let parts = entry.elements, parts.count == 3, let hex = parts[0].string, let digest = TokenDigest(hex: hex),
                          case .bulk(let record?) = parts[1], case .bulk(let sealed?) = parts[2],
                          let token = fleet.openedToken(sealed, digest: digest),
                          let session = FleetRecord.decode(record, digest: digest, upstreamToken: token, lastAccessedAt: nil, defaults: defaults)
                    else { return nil }
                    return Claimed(digest: digest, username: session.username, upstream: session.upstream, upstreamToken: token,
                                   idleSeconds: session.settings.idleConnectionTimeoutSeconds)
                }
                return (items.first?.string, claimed)
            })
        }
    }

    /// Writes a session this gateway holds back into a Redis that lost it; false when Redis has it already.
    func restore(_ session: SessionSnapshot, usernameKey: String, addressKey: String?, _ completion: @escaping (Result<Bool, RedisError>) -> Void) {
        let arguments = [Self.bytes(session.digest.hex), FleetRecord.encode(session), fleet.sealedToken(session.upstreamToken, digest: session.digest),
                         Self.bytes(usernameKey), Self.bytes(addressKey ?? ""), Self.bytes(Self.idleMilliseconds(session.settings))]
        run(FleetScripts.restore, arguments) { result in completion(result.map { $0.integer == 1 }) }
    }

    struct FleetRecordLimits: Equatable {
        var maxSessions: Int
        var maxPerAddress: Int
        var maxPerUsername: Int
        var upstreams: String
        var touchMilliseconds: Int64
        /// A fingerprint of the token key (never the key): gateways with different keys could not open each other's tokens.
        var keyCheck: String
    }

    /// Joins the fleet: creates its record when Redis has none, else returns the record to compare.
    func join(_ ours: FleetRecordLimits, restoring: Bool = false, _ completion: @escaping (Result<(created: Bool, id: String, theirs: FleetRecordLimits), RedisError>) -> Void) {
        let id = Hex.string(SecureRandom.bytes(8))
        let arguments = [Self.bytes(id), Self.bytes(Int64(ours.maxSessions)), Self.bytes(Int64(ours.maxPerAddress)),
                         Self.bytes(Int64(ours.maxPerUsername)), Self.bytes(ours.upstreams), Self.bytes(ours.touchMilliseconds),
                         Self.bytes(ours.keyCheck), Self.bytes(restoring ? "1" : "0")]
        run(FleetScripts.join, arguments) { result in
            completion(result.flatMap { value in
                guard let items = value.elements, let verdict = items.first?.string, items.count >= 2, let fleetId = items[1].string else {
                    return .failure(.reply("JOIN answered \(value)"))
                }
                if verdict == "created" { return .success((true, fleetId, ours)) }
                guard items.count == 8 else { return .failure(.reply("JOIN answered \(value)")) }
                let theirs = FleetRecordLimits(maxSessions: items[2].integer ?? -1, maxPerAddress: items[3].integer ?? -1,
                                               maxPerUsername: items[4].integer ?? -1, upstreams: items[5].string ?? "",
                                               touchMilliseconds: Int64(items[6].integer ?? -1), keyCheck: items[7].string ?? "")
                return .success((false, fleetId, theirs))
            })
        }
    }

    func setLimits(_ ours: FleetRecordLimits, _ completion: @escaping (Result<Bool, RedisError>) -> Void) {
        run(FleetScripts.setLimits, [Self.bytes(Int64(ours.maxSessions)), Self.bytes(Int64(ours.maxPerAddress)),
                                     Self.bytes(Int64(ours.maxPerUsername)), Self.bytes(ours.upstreams)]) { result in
            completion(result.map { !$0.isNull })
        }
    }
}
