import Dispatch
import Glibc

/// Frees large buffers away from the event loops. Unmapping a large body (megabytes the kernel
/// must unmap page by page, then flush from every core's TLB) takes milliseconds, which a loop
/// would otherwise spend while its other connections wait; a background queue pays it instead.
public enum OffLoopRelease {
    /// Buffers at least this large are handed to the background queue; smaller ones are freed at once.
    public static let thresholdBytes = 1 << 20
    private static let queue = DispatchQueue(label: "gateway.release", qos: .utility)

    /// Takes `buffer` and lets its last reference go on the background queue when it is large.
    public static func release(_ buffer: consuming [UInt8]) {
        guard buffer.capacity >= thresholdBytes else { return }
        let held = buffer
        queue.async { withExtendedLifetime(held) {} }
    }
}

/// Large buffers' pages: a body of megabytes filled 64 KiB at a time would otherwise take a page
/// fault every 4 KiB.
public enum LargeBufferPages {
    /// Asks for 2 MiB pages over the whole 2 MiB blocks of `count` bytes at `base` (a hint; the
    /// kernel may decline).
    public static func preferHuge(_ base: UnsafeRawPointer?, count: Int) {
        let huge = 2 << 20
        guard let base, count >= 2 * huge else { return }
        let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
        let end = (Int(bitPattern: base) + count) & ~(huge - 1)
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, 14 /* MADV_HUGEPAGE */)
    }
}
