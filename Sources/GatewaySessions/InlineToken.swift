/// An upstream token's bytes, held inside the session object when they fit (FairCom's tokens are
/// 64 characters): an array of its own would cost a 112-byte allocation per session, 107 MiB at a
/// million sessions. Longer tokens (another upstream's) go to the heap as before. An enum, so that
/// both share the same 66 bytes.
enum InlineToken {
    typealias Words = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    static let capacity = MemoryLayout<Words>.size
    case short(Words, count: UInt8)
    case long([UInt8])

    init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        guard bytes.count <= Self.capacity else {
            self = .long(Array(bytes))
            return
        }
        var words: Words = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            // Contiguous bytes (a String's UTF-8, an array) are copied whole, not byte by byte.
            let copied: Void? = bytes.withContiguousStorageIfAvailable { raw.copyMemory(from: UnsafeRawBufferPointer($0)) }
            if copied == nil { for (offset, byte) in bytes.enumerated() { raw[offset] = byte } }
        }
        self = .short(words, count: UInt8(bytes.count))
    }

    var bytes: [UInt8] {
        switch self {
        case .long(let bytes):
            return bytes
        case .short(var words, let count):
            return withUnsafeBytes(of: &words) { Array($0.prefix(Int(count))) }
        }
    }
}
