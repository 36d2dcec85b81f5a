import Glibc

/// A log destination written a whole line per call: standard error, or a file opened for appending
/// (O_APPEND, so lines from several writers never overwrite each other). Owned by one thread.
public final class LogFile {
    public let path: String?
    private var descriptor: Int32
    /// Lines that could not be written (a full disk): counted, never retried, never blocking a loop.
    public private(set) var droppedLines = 0

    /// Standard error.
    public init() {
        path = nil
        descriptor = 2
    }

    public init(path: String) throws(SystemError) {
        self.path = path
        descriptor = try Self.open(path)
    }

    deinit { if descriptor > 2 { Glibc.close(descriptor) } }

    /// Without O_NONBLOCK, a FIFO with no reader at the log's name (the account may make one where
    /// it may write) held the opening thread, an event loop at SIGUSR1, for good; with it, that
    /// open fails with ENXIO. Writes block again afterwards, as they always did.
    static func open(_ path: String) throws(SystemError) -> Int32 {
        let descriptor = try syscall("open \(path)") { Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o640) }
        let flags = fcntl(descriptor, F_GETFL)
        if flags < 0 || fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) < 0 {
            let failure = SystemError(call: "fcntl \(path)", errno: errno)
            Glibc.close(descriptor)
            throw failure
        }
        return descriptor
    }

    /// Whether `path` can be opened for appending (check-config), as the reason it cannot.
    public static func problem(_ path: String) -> String? {
        do {
            let descriptor = try open(path)
            Glibc.close(descriptor)
            return nil
        } catch {
            return error.reason
        }
    }

    /// Opens the file again under its name (logrotate moved the old one away); on failure the old
    /// file stays in use and the error is returned.
    public func reopen() throws(SystemError) {
        guard let path else { return }
        let fresh = try Self.open(path)
        if descriptor > 2 { Glibc.close(descriptor) }
        descriptor = fresh
    }

    public func write(_ bytes: [UInt8]) {
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if written != bytes.count { droppedLines += 1 }
    }
}
