/// Decides whether a command is worth sending to Redis. After `failuresToOpen` outages in a row
/// it opens: commands fail at once for `openMilliseconds`, so a dead or paused Redis costs each
/// request nothing instead of a timeout. Then one probe is let through (half open): its success
/// closes the breaker, its failure opens it again.
public struct CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable { case closed, open(until: Int64), halfOpen }

    public let failuresToOpen: Int
    public let openMilliseconds: Int64
    public private(set) var state: State = .closed
    private var failures = 0
    private var probeInFlight = false

    public init(failuresToOpen: Int, openMilliseconds: Int64) {
        self.failuresToOpen = max(1, failuresToOpen)
        self.openMilliseconds = openMilliseconds
    }

    /// Whether a command may go out now; in the half-open state only one at a time does.
    public mutating func allows(now: Int64) -> Bool {
        switch state {
        case .closed: return true
        case .open(let until):
            guard now >= until else { return false }
            state = .halfOpen
            probeInFlight = true
            return true
        case .halfOpen:
            guard !probeInFlight else { return false }
            probeInFlight = true
            return true
        }
    }

    public var isClosed: Bool { state == .closed }

    public mutating func succeeded() {
        failures = 0
        probeInFlight = false
        state = .closed
    }

    /// An outage; returns true when this one opened the breaker.
    @discardableResult
    public mutating func failed(now: Int64) -> Bool {
        probeInFlight = false
        failures += 1
        switch state {
        case .halfOpen:
            state = .open(until: now + openMilliseconds)
            return true
        case .closed where failures >= failuresToOpen:
            state = .open(until: now + openMilliseconds)
            return true
        default:
            return false
        }
    }
}
