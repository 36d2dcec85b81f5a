import GatewayConfig
import Synchronization

// Concurrency: shared by every event loop, like the session table, and guarded the same way: one
// Mutex around all of it, each method one short critical section with no I/O, values copied out.

/// Why a login was not even sent upstream.
public enum LoginThrottleRefusal: Error, Sendable, Equatable {
    /// Too many failures from the address (or of the account from the address); retry after the seconds given.
    case throttledAddress(address: String, retryAfterSeconds: Int)
    case throttledPair(username: String, address: String, retryAfterSeconds: Int)
    case tooManyInFlight(address: String, limit: Int)
}

/// Failed-login throttling and the in-flight cap, per client address and per account-and-address
/// pair, never per account alone: an attacker who knows only a username must not be able to lock
/// its real owner out from another address. What it costs an attacker is bounded too: at most
/// `maxTrackedKeys` addresses and pairs are remembered (the stalest are dropped first).
public final class LoginThrottle: Sendable {
    static let maxTrackedKeys = 100_000

    private struct Failures {
        var count = 0
        var windowStart: Int64 = 0
        var last: Int64 = 0
    }

    private struct State {
        var rules: LoginThrottleRules
        var failures: [String: Failures] = [:]
        var inFlight: [String: Int] = [:]
    }

    private let state: Mutex<State>

    public init(rules: LoginThrottleRules) { state = Mutex(State(rules: rules)) }

    public var rules: LoginThrottleRules { state.withLock { $0.rules } }

    /// A reload: the next logins meet the new rules; failures already counted stay counted.
    public func setRules(_ rules: LoginThrottleRules) { state.withLock { $0.rules = rules } }

    /// Admits a login to be authenticated, counting it in flight; call `finish` once it is settled.
    public func begin(username: String, address: String, nowMilliseconds now: Int64) -> LoginThrottleRefusal? {
        let pair = Self.pairKey(username, address)
        return state.withLock { s in
            let rules = s.rules
            if let wait = retryAfter(s.failures[address], limit: rules.maxFailuresPerAddress, rules: rules, now: now) {
                return .throttledAddress(address: address, retryAfterSeconds: wait)
            }
            if let wait = retryAfter(s.failures[pair], limit: rules.maxFailuresPerUsernameAndAddress, rules: rules, now: now) {
                return .throttledPair(username: username, address: address, retryAfterSeconds: wait)
            }
            let flying = s.inFlight[address, default: 0]
            guard flying < rules.maxLoginsInFlightPerAddress else {
                return .tooManyInFlight(address: address, limit: rules.maxLoginsInFlightPerAddress)
            }
            s.inFlight[address] = flying + 1
            return nil
        }
    }

    /// Settles a login `begin` admitted. A failed authentication counts against the address and
    /// the pair; a successful one clears the pair's failures.
    public func finish(username: String, address: String, authenticated: Bool?, nowMilliseconds now: Int64) {
        let pair = Self.pairKey(username, address)
        state.withLock { s in
            let rules = s.rules
            let flying = s.inFlight[address, default: 1] - 1
            if flying <= 0 { s.inFlight.removeValue(forKey: address) } else { s.inFlight[address] = flying }
            switch authenticated {
            case true?: s.failures.removeValue(forKey: pair)
            case false?:
                if s.failures.count >= Self.maxTrackedKeys { forgetStalest(&s, now: now) }
                count(&s.failures[address, default: Failures()], rules: rules, now: now)
                count(&s.failures[pair, default: Failures()], rules: rules, now: now)
            case nil: break // not an answer about the password (upstream down, client gone)
            }
        }
    }

    private func count(_ entry: inout Failures, rules: LoginThrottleRules, now: Int64) {
        if now - entry.windowStart > Int64(rules.windowSeconds) * 1000 {
            entry.count = 0
            entry.windowStart = now
        }
        entry.count += 1
        entry.last = now
    }

    /// Seconds to wait, or nil when `entry` is below `limit` (or its failures have aged out).
    private func retryAfter(_ entry: Failures?, limit: Int, rules: LoginThrottleRules, now: Int64) -> Int? {
        guard let entry, entry.count >= limit else { return nil }
        let until = max(entry.last + Int64(rules.backoffSeconds) * 1000, entry.windowStart + Int64(rules.windowSeconds) * 1000)
        guard until > now else { return nil }
        return Int((until - now + 999) / 1000)
    }

    private func forgetStalest(_ s: inout State, now: Int64) {
        let horizon = now - Int64(max(s.rules.windowSeconds, s.rules.backoffSeconds)) * 1000
        s.failures = s.failures.filter { $0.value.last > horizon }
        if s.failures.count >= Self.maxTrackedKeys {
            let keep = s.failures.sorted { $0.value.last > $1.value.last }.prefix(Self.maxTrackedKeys / 2)
            s.failures = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }

    /// Accounts are case-insensitive, as the per-username limit counts them; NUL cannot occur in either part.
    static func pairKey(_ username: String, _ address: String) -> String { username.lowercased() + "\u{0}" + address }

    /// Failures now counted against `address`, for tests and /stats.
    public func failures(address: String) -> Int { state.withLock { $0.failures[address]?.count ?? 0 } }
}
