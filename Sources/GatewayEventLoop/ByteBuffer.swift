/// A growable byte queue: bytes are appended at the end and consumed from the front.
///
/// Emptied, it keeps up to `retainedCapacity` of storage: an idle connection (client or pooled
/// upstream) that once carried a large body does not hold on to that memory.
public struct ByteBuffer: Sendable {
    static let retainedCapacity = 65536
    public private(set) var storage: [UInt8] = []
    public private(set) var readerIndex = 0

    public init() {}
    public init(_ bytes: [UInt8]) { storage = bytes }

    public var readableCount: Int { storage.count - readerIndex }
    public var isEmpty: Bool { readerIndex == storage.count }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        storage.append(contentsOf: bytes)
    }

    public mutating func append<C: Collection>(contentsOf bytes: C) where C.Element == UInt8 {
        storage.append(contentsOf: bytes)
    }

    /// Appends `bytes`, taking the array itself when nothing is queued (no copy, no allocation).
    public mutating func append(adopting bytes: [UInt8]) {
        if storage.isEmpty { storage = bytes } else { storage.append(contentsOf: bytes) }
    }

    public mutating func append(_ string: String) {
        var string = string
        string.withUTF8 { storage.append(contentsOf: $0) }
    }

    /// Drops `count` consumed bytes from the front, reclaiming space without shifting on every call.
    public mutating func consume(_ count: Int) {
        readerIndex += count
        precondition(readerIndex <= storage.count)
        if readerIndex == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= Self.retainedCapacity)
            readerIndex = 0
        } else if readerIndex >= 65536 && readerIndex * 2 >= storage.count {
            storage.removeFirst(readerIndex)
            readerIndex = 0
        }
    }

    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: storage.capacity <= Self.retainedCapacity)
        readerIndex = 0
    }

    /// The unread bytes as a borrowed pointer, valid only inside `body`. Inlinable: called from other
    /// modules with a tuple result, an unspecialized call destroyed that result through the
    /// runtime's generic witnesses, several times per request.
    @inlinable
    public func withReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[readerIndex...]))
        }
    }

    public var readableBytes: ArraySlice<UInt8> { storage[readerIndex...] }
}
