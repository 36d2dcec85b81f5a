import CGatewayShims
import Glibc

/// Readiness interest for one descriptor.
public struct Interest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = Interest(rawValue: cgw_epollin() | cgw_epollrdhup())
    public static let write = Interest(rawValue: cgw_epollout())
    public static let none: Interest = []
}

/// What epoll reported for one descriptor.
public struct Readiness: Sendable {
    public let raw: UInt32
    public var readable: Bool { raw & (cgw_epollin() | cgw_epollhup() | cgw_epollerr() | cgw_epollrdhup()) != 0 }
    public var writable: Bool { raw & (cgw_epollout() | cgw_epollerr() | cgw_epollhup()) != 0 }
    public var hangUp: Bool { raw & (cgw_epollhup() | cgw_epollerr()) != 0 }
}

/// An epoll instance (level-triggered). Events carry a 64-bit tag chosen by the caller.
public final class Epoll {
    public let fd: Int32
    private var events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int

    public init(capacity: Int = 512) throws(SystemError) {
        fd = try syscall("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        self.capacity = capacity
        events = .allocate(capacity: capacity)
    }

    deinit {
        events.deallocate()
        Glibc.close(fd)
    }

    public func add(_ fd: Int32, interest: Interest, tag: UInt64) throws(SystemError) {
        var event = epoll_event(events: interest.rawValue, data: epoll_data_t(u64: tag))
        _ = try syscall("epoll_ctl ADD") { epoll_ctl(self.fd, EPOLL_CTL_ADD, fd, &event) }
    }

    public func modify(_ fd: Int32, interest: Interest, tag: UInt64) throws(SystemError) {
        var event = epoll_event(events: interest.rawValue, data: epoll_data_t(u64: tag))
        _ = try syscall("epoll_ctl MOD") { epoll_ctl(self.fd, EPOLL_CTL_MOD, fd, &event) }
    }

    public func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(self.fd, EPOLL_CTL_DEL, fd, &event)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever), calls `woke()` once the wait is over (the
    /// caller's chance to read the clock before any event is handled), then `handle(tag, readiness)`
    /// for each event.
    public func wait(timeoutMilliseconds: Int32, woke: () -> Void, _ handle: (UInt64, Readiness) -> Void) throws(SystemError) {
        let result = epoll_wait(fd, events, Int32(capacity), timeoutMilliseconds)
        let waitErrno = errno
        woke()
        if result < 0 {
            if waitErrno == EINTR { return }
            throw SystemError(call: "epoll_wait", errno: waitErrno)
        }
        for index in 0..<Int(result) {
            let event = events[index]
            handle(event.data.u64, Readiness(raw: event.events))
        }
    }
}

/// An eventfd used to wake a loop from another thread.
public struct EventFD: Sendable {
    public let fd: Int32

    public init() throws(SystemError) {
        fd = try syscall("eventfd") { eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC)) }
    }

    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    public func drain() {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    public func close() { Glibc.close(fd) }
}
