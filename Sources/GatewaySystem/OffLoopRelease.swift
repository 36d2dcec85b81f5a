import Dispatch

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

