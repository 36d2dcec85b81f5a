import Synchronization

/// The context a TLS listener hands to new connections. A reload swaps in a new one; connections
/// already running keep theirs (each channel holds its context), so nothing established is touched.
public final class TLSContextHolder: Sendable {
    private let state: Mutex<TLSServerContext>
    public let tickets: TicketKeyRing

    public init(_ context: TLSServerContext, tickets: TicketKeyRing) {
        state = Mutex(context)
        self.tickets = tickets
    }

    public var current: TLSServerContext { state.withLock { $0 } }

    public func replace(with context: TLSServerContext) {
        state.withLock { $0 = context }
    }
}
