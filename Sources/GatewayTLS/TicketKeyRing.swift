import CGatewayShims

/// The session-ticket keys of one listener. Kept across certificate reloads, so clients resume
/// after a reload too; `rotate()` makes a new sealing key and keeps the two before it for opening.
/// Thread-safe: the key ring locks itself (a reader-writer lock inside the C shim).
public final class TicketKeyRing: @unchecked Sendable {
    let keys: OpaquePointer

    public init() throws(TLSError) {
        guard let keys = cgw_ticket_keys_new() else { throw OpenSSLErrors.error("cannot create session ticket keys") }
        self.keys = keys
    }

    deinit { cgw_ticket_keys_free(keys) }

    public func rotate() {
        _ = cgw_ticket_keys_rotate(keys)
    }
}
