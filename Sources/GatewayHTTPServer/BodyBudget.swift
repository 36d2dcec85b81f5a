import GatewayHTTP1
import GatewayLogging
import GatewaySystem
import Synchronization

/// The request body bytes the whole gateway holds at once, across loops and connections
/// (`limits.maxBufferedBodyBytes`). Bodies are buffered whole before the token in them is known, so
/// without a shared ceiling many clients sending large bodies slowly could exhaust the machine's
/// memory; beyond it a new body is refused with 503 while the ones already held go on.
///
/// The last eighth is kept for small bodies (up to 64 KiB, a typical JSON action), so clients
/// holding large bodies cannot make the gateway refuse everyone else's ordinary requests.
public final class BodyBudget: Sendable {
    private let limitValue: Atomic<Int>
    private let used = Atomic<Int>(0)
    static let smallBodyBytes = 64 * 1024
    private var largeBodyLimit: Int { limit - limit / 8 }

    public init(limit: Int) { limitValue = Atomic(limit) }

    public var limit: Int { limitValue.load(ordering: .relaxed) }

    /// A reload's new limit: bodies already held keep their claims; new claims meet the new limit.
    public func setLimit(_ limit: Int) { limitValue.store(limit, ordering: .relaxed) }

    /// Bytes currently claimed by request bodies.
    public var inUse: Int { used.load(ordering: .relaxed) }

    /// Claims `count` more bytes for a body that will then hold `total`, or nothing when they
    /// would pass the limit that applies to a body of that size.
    func claim(_ count: Int, total: Int) -> Bool {
        let ceiling = total <= Self.smallBodyBytes ? limit : largeBodyLimit
        var current = used.load(ordering: .relaxed)
        while true {
            guard count <= ceiling - current else { return false }
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func release(_ count: Int) {
        used.wrappingSubtract(count, ordering: .relaxed)
    }
}

/// The part of the budget one request body holds. It travels with the request (into the exchange
/// that forwards it) and gives its bytes back when the last holder lets go of it.
public final class BodyClaim: Sendable {
    private let budget: BodyBudget
    private let claimed = Atomic<Int>(0)

    init(_ budget: BodyBudget) { self.budget = budget }

    /// Bytes held by this body.
    public var bytes: Int { claimed.load(ordering: .relaxed) }

    /// Grows the claim to cover `total` bytes; false (and unchanged) when the budget is spent.
    func cover(_ total: Int) -> Bool {
        let more = total - bytes
        guard more > 0 else { return true }
        guard budget.claim(more, total: total) else { return false }
        claimed.wrappingAdd(more, ordering: .relaxed)
        return true
    }

    deinit { budget.release(claimed.load(ordering: .relaxed)) }

    /// Counts and logs (at most once a second per listener) a body refused for the budget.
    func noteRefusal(_ statistics: ListenerStatistics, logger: Logger, listener: String, peer: SocketAddress?, now: Int64) {
        statistics.count(.bodyBudgetRefusals)
        guard statistics.mayWarn(now: now) else { return }
        logger.warning("listener \(listener): request body from \(peer?.description ?? "?") refused: \(refusal)")
    }

    /// Sent with the 503: the bodies held are usually done within a second or so.
    static let retryAfter = [HTTPHeaderField("Retry-After", "1")]

    /// The 503 message: what is full, and the key that sets it.
    var refusal: String {
        "the gateway already holds \(budget.inUse) bytes of request bodies, its limit (limits.maxBufferedBodyBytes \(budget.limit)); retry later"
    }
}
