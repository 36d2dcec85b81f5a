import Synchronization

/// Open connections of one configured listener across all loops, against its `maxConnections`.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)
    private let accepted = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    public var current: Int { open.load(ordering: .relaxed) }
    /// Connections admitted since start.
    public var acceptedTotal: Int { accepted.load(ordering: .relaxed) }

    /// Takes a slot, or returns false when the listener is full.
    public func tryAcquire() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        accepted.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    public func release() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }
}
