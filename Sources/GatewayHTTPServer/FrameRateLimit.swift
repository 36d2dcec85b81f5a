import Synchronization

/// A token bucket of one HTTP/2 connection's costly frames (resets, SETTINGS, PING, oversized
/// header lists), refilled from the loop's clock: `burst` at once, then `perSecond` on average.
struct FrameRateLimit {
    private let burst: Double
    private let perMillisecond: Double
    private var tokens: Double
    private var stamp: Int64

    init(burst: Int, perSecond: Int, now: Int64) {
        self.burst = Double(burst)
        perMillisecond = Double(perSecond) / 1000
        tokens = Double(burst)
        stamp = now
    }

    /// Takes one frame; false when the client has used up its allowance.
    mutating func allow(now: Int64) -> Bool {
        guard hasToken(now: now) else { return false }
        tokens -= 1
        return true
    }

    mutating func hasToken(now: Int64) -> Bool {
        if now > stamp {
            tokens = min(burst, tokens + Double(now - stamp) * perMillisecond)
            stamp = now
        }
        return tokens >= 1
    }

    /// Whether the bucket would be full by `now` (the address is as good as unknown).
    func isFull(now: Int64) -> Bool {
        tokens + Double(max(0, now - stamp)) * perMillisecond >= burst
    }
}

/// The same allowance per client address, across all its connections: a client that is sent
/// GOAWAY and reconnects does not start again with a full bucket. Shared by a listener's loops.
/// The table is bounded: addresses whose bucket has refilled are forgotten first, and past
/// `capacity` addresses it starts afresh (an attacker with that many addresses is then limited
/// per connection only).
final class AddressFrameLimits: Sendable {
    private let buckets = Mutex<[String: FrameRateLimit]>([:])
    static let capacity = 10_000
    /// Until when some address may be out of allowance (loop milliseconds): only then is a new
    /// connection's address looked up, so ordinary accepts never take the lock.
    private let floodSeenUntil = Atomic<Int64>(-1)

    /// Whether any address may be over its allowance now.
    func mayBeExhausted(now: Int64) -> Bool { now < floodSeenUntil.load(ordering: .relaxed) }

    /// Whether `address` has no allowance left: its new connections are turned away at once.
    func isExhausted(_ address: String, now: Int64) -> Bool {
        buckets.withLock { table in
            guard var bucket = table[address] else { return false }
            let exhausted = !bucket.hasToken(now: now)
            table[address] = bucket
            return exhausted
        }
    }

    /// Takes one frame of `address`; false when that address has used up its allowance.
    func allow(_ address: String, burst: Int, perSecond: Int, now: Int64) -> Bool {
        buckets.withLock { table in
            var bucket = table[address] ?? FrameRateLimit(burst: burst, perSecond: perSecond, now: now)
            let allowed = bucket.allow(now: now)
            if !allowed { floodSeenUntil.store(now + 2000, ordering: .relaxed) }
            table[address] = bucket
            if table.count > Self.capacity {
                table = table.filter { !$0.value.isFull(now: now) }
                if table.count > Self.capacity { table.removeAll() }
            }
            return allowed
        }
    }
}
