/// A loop-owned buffer that sockets read into before the bytes are copied to their connection.
/// One per thread: it is never shared, so no connection holds a pointer into it across calls.
public final class ReadScratch {
    public let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer

    public init(capacity: Int = 65536) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Lets `produce` fill the buffer (a TLS read), then hands what it wrote to `consume`.
    public func fill<R>(_ produce: (UnsafeMutableRawBufferPointer) -> (R, Int), _ consume: (UnsafeRawBufferPointer) -> Void) -> R {
        let (result, count) = produce(storage)
        if count > 0 { consume(UnsafeRawBufferPointer(rebasing: storage[0..<count])) }
        return result
    }

    /// Reads from `socket` once and hands the bytes read to `consume` (only valid inside it).
    public func read(from socket: Socket, upTo limit: Int = .max, _ consume: (UnsafeRawBufferPointer) -> Void) throws(SystemError) -> IOResult<Int> {
        let result = try socket.read(into: limit < capacity ? UnsafeMutableRawBufferPointer(rebasing: storage[0..<limit]) : storage)
        if case .processed(let count) = result, count > 0 {
            consume(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
        }
        return result
    }
}
