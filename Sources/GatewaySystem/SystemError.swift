import Glibc

/// A failed system call: the call's name and the errno it left, readable as "connect: Connection refused".
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno)))"
    }

    /// ENOSPC for `call`, for a write refused before it was tried.
    public static func outOfSpace(_ call: String) -> SystemError { SystemError(call: call, errno: ENOSPC) }

    /// The disk (or the user's quota) is full.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
    /// The file system or kernel does not offer the call (fallocate on some file systems).
    public var isUnsupported: Bool { errno == EOPNOTSUPP || errno == ENOSYS }

    /// The message without the call name, e.g. "Connection refused".
    public var reason: String { String(cString: strerror(errno)) }
}

/// The outcome of a non-blocking operation: "would block" is a value, not an error.
public enum IOResult<Value> {
    case processed(Value)
    case wouldBlock
}

/// Runs `body`, retrying on EINTR, and throws a `SystemError` naming `call` on failure.
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SystemError(call: call(), errno: code)
    }
}

/// Like `syscall`, but EAGAIN / EWOULDBLOCK becomes `.wouldBlock`.
@inline(__always)
public func nonBlockingSyscall<T: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .processed(result) }
        let code = Glibc.errno
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(call: call(), errno: code)
    }
}
