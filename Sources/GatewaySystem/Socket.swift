import CGatewayShims
import Glibc

/// A non-blocking TCP socket. The value does not close itself: its owner calls `close()` exactly once.
public struct Socket: Sendable, Hashable {
    public let fd: Int32

    public init(adopting fd: Int32) { self.fd = fd }

    /// A listening socket on `address`; with `reusePort` several loops can each bind their own.
    public static func listen(on address: SocketAddress, reusePort: Bool, backlog: Int32 = 1024) throws(SystemError) -> Socket {
        let fd = try syscall("socket") { Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let socket = Socket(adopting: fd)
        do {
            try socket.setOption(SOL_SOCKET, SO_REUSEADDR, 1, name: "SO_REUSEADDR")
            if reusePort { try socket.setOption(SOL_SOCKET, SO_REUSEPORT, 1, name: "SO_REUSEPORT") }
            if address.family == AF_INET6 { try socket.setOption(Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, name: "IPV6_V6ONLY") }
            _ = try syscall("bind \(address)") { address.withSockaddr { Glibc.bind(fd, $0, $1) } }
            _ = try syscall("listen") { Glibc.listen(fd, backlog) }
        } catch {
            socket.close()
            throw error
        }
        return socket
    }

    /// Throws EADDRINUSE when another socket (of any process) listens on `address`. Listeners bind
    /// with SO_REUSEPORT, which would otherwise let a second gateway of the same user join the
    /// port and take half its connections; a probe bound without it fails instead, as nginx does.
    public static func checkAvailable(_ address: SocketAddress) throws(SystemError) {
        let fd = try syscall("socket") { Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { Glibc.close(fd) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.family == AF_INET6 { _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        _ = try syscall("bind \(address)") { address.withSockaddr { Glibc.bind(fd, $0, $1) } }
    }

    /// Starts a non-blocking connect; `.wouldBlock` means the result arrives as writability (then read `pendingError`).
    public static func connect(to address: SocketAddress) throws(SystemError) -> (Socket, IOResult<Void>) {
        let fd = try syscall("socket") { Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        let socket = Socket(adopting: fd)
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc == 0 { return (socket, .processed(())) }
        let code = Glibc.errno
        if code == EINPROGRESS || code == EINTR { return (socket, .wouldBlock) }
        socket.close()
        throw SystemError(call: "connect \(address)", errno: code)
    }

    /// Accepts one pending connection as a non-blocking socket, with its peer address.
    public func accept() throws(SystemError) -> IOResult<(Socket, SocketAddress?)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try nonBlockingSyscall("accept4") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    cgw_accept4(fd, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
        }
        switch result {
        case .wouldBlock: return .wouldBlock
        case .processed(let child): return .processed((Socket(adopting: child), SocketAddress(raw: storage)))
        }
    }

    /// Reads into `buffer`; `.processed(0)` is end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlockingSyscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Writes what the kernel takes now; never raises SIGPIPE.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlockingSyscall("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Writes what the kernel takes now of `first` then `second`, in one system call and without
    /// copying them together (a queued response head and its body); never raises SIGPIPE.
    public func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        var parts = (iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
                     iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count))
        return try withUnsafeMutableBytes(of: &parts) { raw throws(SystemError) -> IOResult<Int> in
            var message = msghdr()
            message.msg_iov = raw.baseAddress!.assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = 2
            return try nonBlockingSyscall("sendmsg") { sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// The error a non-blocking connect ended with, or nil when it succeeded.
    /// The first byte waiting to be read, left in place (MSG_PEEK); nil at end of input.
    public func peekFirstByte() -> IOResult<UInt8?> {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if count == 1 { return .processed(byte) }
        if count == 0 { return .processed(nil) }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .wouldBlock : .processed(nil)
    }

    /// Sends what the socket takes at once, without waiting (a last word before closing).
    public func sendWithoutWaiting(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) }
    }

    public func pendingError() -> SystemError? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) != 0 { return SystemError(call: "getsockopt", errno: errno) }
        return value == 0 ? nil : SystemError(call: "connect", errno: value)
    }

    public func localAddress() throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try syscall("getsockname") {
            withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        }
        guard let address = SocketAddress(raw: storage) else { throw SystemError(call: "getsockname", errno: EAFNOSUPPORT) }
        return address
    }

    public func setNoDelay() {
        try? setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1, name: "TCP_NODELAY")
    }

    public func setOption(_ level: Int32, _ option: Int32, _ value: Int32, name: String) throws(SystemError) {
        var value = value
        _ = try syscall("setsockopt \(name)") { setsockopt(fd, level, option, &value, socklen_t(MemoryLayout<Int32>.size)) }
    }

    /// Sends FIN after the queued bytes, keeping the read side open.
    public func shutdownWrite() {
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    public func close() {
        _ = Glibc.close(fd)
    }
}
