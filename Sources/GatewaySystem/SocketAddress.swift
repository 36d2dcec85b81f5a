import Glibc

/// An IPv4 or IPv6 socket address, parsed from a numeric host and a port.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Hashable {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }
    let storage: Storage

    /// Parses a numeric IPv4 or IPv6 address; "localhost" means 127.0.0.1. Returns nil for anything else.
    public init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        let host = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            storage = .v4(v4)
            return
        }
        var v6 = sockaddr_in6()
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if inet_pton(AF_INET6, bare, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            storage = .v6(v6)
            return
        }
        return nil
    }

    init(storage: Storage) { self.storage = storage }

    init?(raw: sockaddr_storage) {
        var raw = raw
        switch Int32(raw.ss_family) {
        case AF_INET:
            storage = .v4(withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee } })
        case AF_INET6:
            storage = .v6(withUnsafePointer(to: &raw) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee } })
        default:
            return nil
        }
    }

    public var family: Int32 {
        switch storage {
        case .v4: return AF_INET
        case .v6: return AF_INET6
        }
    }

    public var port: Int {
        switch storage {
        case .v4(let a): return Int(UInt16(bigEndian: a.sin_port))
        case .v6(let a): return Int(UInt16(bigEndian: a.sin6_port))
        }
    }

    /// The numeric host, without brackets.
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        switch storage {
        case .v4(var a):
            _ = inet_ntop(AF_INET, &a.sin_addr, &buffer, socklen_t(buffer.count))
        case .v6(var a):
            _ = inet_ntop(AF_INET6, &a.sin6_addr, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        switch storage {
        case .v4: return "\(host):\(port)"
        case .v6: return "[\(host)]:\(port)"
        }
    }

    public func withPort(_ port: Int) -> SocketAddress {
        switch storage {
        case .v4(var a): a.sin_port = in_port_t(UInt16(port).bigEndian); return SocketAddress(storage: .v4(a))
        case .v6(var a): a.sin6_port = in_port_t(UInt16(port).bigEndian); return SocketAddress(storage: .v6(a))
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(var a):
            return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }
}

extension sockaddr_in: @retroactive Equatable, @retroactive Hashable {
    public static func == (l: sockaddr_in, r: sockaddr_in) -> Bool {
        l.sin_port == r.sin_port && l.sin_addr.s_addr == r.sin_addr.s_addr
    }
    public func hash(into h: inout Hasher) { h.combine(sin_port); h.combine(sin_addr.s_addr) }
}

extension sockaddr_in6: @retroactive Equatable, @retroactive Hashable {
    public static func == (l: sockaddr_in6, r: sockaddr_in6) -> Bool {
        var a = l.sin6_addr, b = r.sin6_addr
        return l.sin6_port == r.sin6_port && memcmp(&a, &b, MemoryLayout<in6_addr>.size) == 0
    }
    public func hash(into h: inout Hasher) {
        h.combine(sin6_port)
        var a = sin6_addr
        withUnsafeBytes(of: &a) { h.combine(bytes: $0) }
    }
}
