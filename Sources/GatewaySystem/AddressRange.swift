import Glibc

/// An IPv4 or IPv6 network written as an address or CIDR ("10.0.0.0/8", "::1", "fd00::/8"),
/// for lists of trusted proxies and of addresses exempt from a limit.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    private let network: [UInt8]
    private let prefixLength: Int
    public let description: String

    /// Nil when `text` is not a numeric address with an optional prefix length in range.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = Self.bytes(of: String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
            prefixLength = length
        } else {
            prefixLength = bits
        }
        network = address
        description = text
    }

    /// Whether the numeric address `host` lies in this range. IPv4-mapped IPv6 addresses
    /// (::ffff:a.b.c.d) match IPv4 ranges.
    public func contains(_ host: String) -> Bool {
        guard var address = Self.bytes(of: host) else { return false }
        if address.count == 16, network.count == 4, address[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) {
            address = Array(address[12...])
        }
        guard address.count == network.count else { return false }
        var remaining = prefixLength
        for index in 0..<address.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            if address[index] & mask != network[index] & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// The 4 or 16 bytes of a numeric IPv4 or IPv6 address.
    public static func bytes(of host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

extension Array where Element == AddressRange {
    public func containsAddress(_ host: String) -> Bool { contains { $0.contains(host) } }
}
