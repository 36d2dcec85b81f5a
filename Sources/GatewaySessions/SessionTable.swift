import GatewayEventLoop
import GatewayJSON
import GatewaySystem
import Synchronization

// Concurrency: the session table is the one piece of state every event loop shares. One Mutex
// guards all of it: the sessions by token digest, the per-username and per-address counts, the
// reservations of logins in flight and the idle wheel. Every method takes the lock once, does a
// few dictionary operations and returns copies (`SessionSnapshot`), so no caller ever holds a
// reference into the table and no I/O (upstream calls, journal writes) happens under the lock.
// Limit checks and the counting of a new login are one step under the lock (`reserve`), which is
// what makes the limits exact when many loops log in at once.

/// How many sessions may exist, in all, per client address and per username.
public struct SessionLimits: Sendable {
    public var maxSessions: Int
    public var maxPerAddress: Int
    public var maxPerUsername: Int
    /// Client addresses (e.g. a NAT gateway) that the per-address limit does not apply to.
    public var exemptAddresses: [AddressRange]

    public init(maxSessions: Int, maxPerAddress: Int, maxPerUsername: Int, exemptAddresses: [AddressRange] = []) {
        self.maxSessions = maxSessions
        self.maxPerAddress = maxPerAddress
        self.maxPerUsername = maxPerUsername
        self.exemptAddresses = exemptAddresses
    }
}

/// The table's counts at one moment.
public struct SessionTally: Sendable {
    public let sessions: Int
    /// Logins counted but still being answered.
    public let reserved: Int
    public let limits: SessionLimits
    public let topUsernames: [(name: String, count: Int)]
    public let topAddresses: [(name: String, count: Int)]
}

/// Which limit refused a login.
public enum LimitRefusal: Error, Sendable, Equatable {
    case total(limit: Int)
    case perAddress(limit: Int, address: String)
    case perUsername(limit: Int, username: String)
}

/// What forwarding one request of a session needs (see `SessionTable.touchForForwarding`).
public struct ForwardingView: Sendable {
    public let digest: TokenDigest
    public let upstream: String
    public let upstreamToken: [UInt8]
    public let username: String
}

/// A counted place for a login that is still being authenticated upstream.
public struct Reservation: Sendable, Equatable {
    let usernameKey: String
    let addressKey: String?
}

public final class SessionTable: SessionSource {
    private struct State {
        var sessions = SessionIndex()
        var perUsername: [String: Int] = [:]
        var perAddress: [String: Int] = [:]
        var reserved = 0
        var limits: SessionLimits
        var wheel: TimerWheel
        /// The settings of recent logins, most recent first, for sharing between sessions.
        var recentSettings: [SharedSettings] = []
    }

    private let state: Mutex<State>
    /// Wall-clock minus monotonic milliseconds, fixed at start: a request stamps only the monotonic time.
    private let wallOffset: Int64

    public init(limits: SessionLimits, now: Int64) {
        wallOffset = Int64(WallClock.nowSeconds()) * 1000 - MonotonicClock.nowMilliseconds()
        // One-second ticks: 4096 slots cover 68 minutes, FairCom's default hour in one turn.
        state = Mutex(State(limits: limits, wheel: TimerWheel(startMilliseconds: now, tickMilliseconds: 1000, slotCount: 4096)))
    }

    public var count: Int { state.withLock { $0.sessions.count } }

    public var liveCount: Int { count }

    public var limits: SessionLimits { state.withLock { $0.limits } }

    /// New limits (a reload) apply to the next login; sessions already over them stay.
    public func setLimits(_ limits: SessionLimits) { state.withLock { $0.limits = limits } }

    /// Live sessions and the accounts and client addresses with the most, for the status page.
    /// One pass over the counts under the lock: fine for thousands of accounts, not free for millions.
    public func tally(top: Int) -> SessionTally {
        state.withLock { s in
            SessionTally(sessions: s.sessions.count, reserved: s.reserved, limits: s.limits,
                         topUsernames: Self.largest(s.perUsername, top), topAddresses: Self.largest(s.perAddress, top))
        }
    }

    private static func largest(_ counts: [String: Int], _ top: Int) -> [(name: String, count: Int)] {
        var best: [(name: String, count: Int)] = []
        guard top > 0 else { return best }
        for (name, count) in counts where count > 0 {
            guard best.count < top || count > best[best.count - 1].count else { continue }
            let at = best.firstIndex { $0.count < count } ?? best.count
            best.insert((name, count), at: at)
            if best.count > top { best.removeLast() }
        }
        return best
    }

    /// Which limit a login would break now, without counting it: a cheap refusal before an
    /// upstream is asked to authenticate a login that could not be admitted anyway.
    public func refusal(username: String, address: String) -> LimitRefusal? {
        state.withLock { s in
            let addressKey: String? = s.limits.exemptAddresses.containsAddress(address) ? nil : address
            return Self.refusal(in: s, limits: s.limits, username: username, addressKey: addressKey)
        }
    }

    private static func refusal(in s: State, limits: SessionLimits, username: String, addressKey: String?) -> LimitRefusal? {
        if s.sessions.count + s.reserved >= limits.maxSessions { return .total(limit: limits.maxSessions) }
        if let addressKey, s.perAddress[addressKey, default: 0] >= limits.maxPerAddress {
            return .perAddress(limit: limits.maxPerAddress, address: addressKey)
        }
        if s.perUsername[username.lowercased(), default: 0] >= limits.maxPerUsername {
            return .perUsername(limit: limits.maxPerUsername, username: username)
        }
        return nil
    }

    /// Checks every limit and, if all allow it, counts the login at once. `limits` replaces the
    /// table's own (fleet mode's local share while Redis is unreachable).
    public func reserve(username: String, address: String, limits: SessionLimits? = nil) -> Result<Reservation, LimitRefusal> {
        let usernameKey = username.lowercased()
        return state.withLock { s in
            let addressKey: String? = s.limits.exemptAddresses.containsAddress(address) ? nil : address
            if let refusal = Self.refusal(in: s, limits: limits ?? s.limits, username: username, addressKey: addressKey) { return .failure(refusal) }
            s.reserved += 1
            Self.count(&s, usernameKey, addressKey, by: 1)
            return .success(Reservation(usernameKey: usernameKey, addressKey: addressKey))
        }
    }

    /// Gives back a reservation whose login failed.
    public func cancel(_ reservation: Reservation) {
        state.withLock { s in
            s.reserved -= 1
            Self.count(&s, reservation.usernameKey, reservation.addressKey, by: -1)
        }
    }

    /// Turns a reservation into a live session.
    @discardableResult
    public func commit(_ reservation: Reservation, digest: TokenDigest, username: String, clientAddress: String,
                       upstream: String, upstreamToken: String, settings: SessionSettings,
                       startedAt: Int, now: Int64) -> SessionSnapshot {
        state.withLock { s in
            // Made under the lock: the table's state may only hold what was created inside it.
            let session = Session(digest: digest, username: username, clientAddress: clientAddress,
                                  addressCounted: reservation.addressKey != nil, upstream: upstream, upstreamToken: upstreamToken,
                                  shared: Self.share(settings, in: &s), startedAt: startedAt, now: now)
            s.reserved -= 1
            s.sessions.insert(session)
            Self.arm(session, in: &s, now: now)
            return session.snapshot(wallOffset: wallOffset)
        }
    }

    /// Puts a session read from the journal back, counted but not limited: it was within the
    /// limits when it was made. Its idle time starts again now.
    public func restore(_ restored: SessionSnapshot, now: Int64) {
        let addressKey: String? = limits.exemptAddresses.containsAddress(restored.clientAddress) ? nil : restored.clientAddress
        state.withLock { s in
            guard s.sessions[restored.digest] == nil else { return }
            let session = Session(digest: restored.digest, username: restored.username, clientAddress: restored.clientAddress,
                                  addressCounted: addressKey != nil, upstream: restored.upstream,
                                  upstreamToken: restored.upstreamToken, shared: Self.share(restored.settings, in: &s),
                                  startedAt: restored.startedAt, now: now)
            s.sessions.insert(session)
            Self.count(&s, restored.username.lowercased(), addressKey, by: 1)
            Self.arm(session, in: &s, now: now)
        }
    }

    /// Finds a session by its token's digest and marks it used now.
    public func touch(_ digest: TokenDigest, now: Int64) -> SessionSnapshot? {
        state.withLock { s in
            guard let session = s.sessions[digest] else { return nil }
            session.lastAccessedMilliseconds = max(session.lastAccessedMilliseconds, now)
            return session.snapshot(wallOffset: wallOffset)
        }
    }

    /// Finds a session, marks it used, and copies out what forwarding a request needs. The copy
    /// shares no reference-counted object with the table (the upstream token's bytes are copied
    /// out of the session, where they live inline), so the loops do not contend on reference
    /// counts per request.
    public func touchForForwarding(_ digest: TokenDigest, now: Int64) -> ForwardingView? {
        state.withLock { s in
            guard let session = s.sessions[digest] else { return nil }
            session.lastAccessedMilliseconds = max(session.lastAccessedMilliseconds, now)
            return ForwardingView(digest: digest, upstream: session.upstream, upstreamToken: session.upstreamToken, username: session.username)
        }
    }

    public func contains(_ digest: TokenDigest) -> Bool {
        state.withLock { $0.sessions[digest] != nil }
    }

    /// Finds a session without marking it used.
    public func find(_ digest: TokenDigest) -> SessionSnapshot? {
        state.withLock { $0.sessions[digest]?.snapshot(wallOffset: wallOffset) }
    }

    /// Ends a session at once; nil when there was none.
    @discardableResult
    public func remove(_ digest: TokenDigest) -> SessionSnapshot? {
        state.withLock { s in
            guard let session = s.sessions.remove(digest) else { return nil }
            Self.forget(session, in: &s)
            return session.snapshot(wallOffset: wallOffset)
        }
    }

    /// Replaces a session's settings (alterSession) and restarts its idle time.
    public func alter(_ digest: TokenDigest, settings: SessionSettings, now: Int64) -> SessionSnapshot? {
        alter(digest, now: now) { _ in settings }?.after
    }

    /// Replaces a session's settings with `change` of its current ones, in one step under the
    /// lock, so that two alterations at once both apply; returns the settings before and the
    /// session after (nil when the session is gone, or when `change` throws).
    public func alter(_ digest: TokenDigest, now: Int64, _ change: (SessionSettings) throws -> SessionSettings)
        -> (before: SessionSettings, after: SessionSnapshot)? {
        state.withLock { s in
            guard let session = s.sessions[digest], let changed = try? change(session.settings) else { return nil }
            let before = session.settings
            s.wheel.cancel(session.timer)
            session.shared = Self.share(changed, in: &s)
            session.lastAccessedMilliseconds = max(session.lastAccessedMilliseconds, now)
            Self.arm(session, in: &s, now: now)
            return (before, session.snapshot(wallOffset: wallOffset))
        }
    }

    /// Every session's digest (for the journal's compaction).
    public func liveDigests() -> [TokenDigest] {
        state.withLock { $0.sessions.digests }
    }

    /// The sessions among `digests` that still exist.
    public func sessions(_ digests: ArraySlice<TokenDigest>) -> [SessionSnapshot] {
        state.withLock { s in digests.compactMap { s.sessions[$0]?.snapshot(wallOffset: wallOffset) } }
    }

    /// Every session, in no particular order.
    public func all() -> [SessionSnapshot] {
        state.withLock { s in s.sessions.sessions.map { $0.snapshot(wallOffset: wallOffset) } }
    }

    /// Removes and returns the sessions idle past their timeout. Cost is proportional to the
    /// timers that come due, not to the table: a session used since its timer was armed is
    /// simply re-armed for the time it has left.
    public func expire(now: Int64) -> [SessionSnapshot] {
        state.withLock { s in
            var expired: [SessionSnapshot] = []
            for (handler, _) in s.wheel.advance(to: now) {
                guard let session = handler as? Session, s.sessions[session.digest] === session,
                      let limit = session.settings.idleLimitMilliseconds else { continue }
                let remaining = session.lastAccessedMilliseconds + limit - now
                if remaining > 0 {
                    session.timer = s.wheel.schedule(after: remaining, now: now, handler: session, tag: 0)
                } else {
                    s.sessions.remove(session.digest)
                    Self.forget(session, in: &s)
                    expired.append(session.snapshot(wallOffset: wallOffset))
                }
            }
            return expired
        }
    }

    /// The shared box for `settings`: one of the recent ones when equal, else a new one.
    private static func share(_ settings: SessionSettings, in s: inout State) -> SharedSettings {
        if let index = s.recentSettings.firstIndex(where: { $0.value == settings }) { return s.recentSettings[index] }
        let box = SharedSettings(settings)
        s.recentSettings.insert(box, at: 0)
        if s.recentSettings.count > 16 { s.recentSettings.removeLast() }
        return box
    }

    private static func arm(_ session: Session, in s: inout State, now: Int64) {
        session.timer = .none
        if let limit = session.settings.idleLimitMilliseconds {
            session.timer = s.wheel.schedule(after: limit, now: now, handler: session, tag: 0)
        }
    }

    private static func forget(_ session: Session, in s: inout State) {
        s.wheel.cancel(session.timer)
        count(&s, session.username.lowercased(), session.countedAddress, by: -1)
    }

    private static func count(_ s: inout State, _ usernameKey: String, _ addressKey: String?, by delta: Int) {
        s.perUsername[usernameKey, default: 0] += delta
        if s.perUsername[usernameKey] == 0 { s.perUsername.removeValue(forKey: usernameKey) }
        if let addressKey {
            s.perAddress[addressKey, default: 0] += delta
            if s.perAddress[addressKey] == 0 { s.perAddress.removeValue(forKey: addressKey) }
        }
    }
}
