import CGatewayShims
import CNGHTTP2

/// A response's header fields for nghttp2, packed into one buffer as they are added: names
/// lowercased (HTTP/2 wants them so), the fields HTTP/2 forbids left out, `:status` first. Two
/// allocations for a whole response instead of several per field.
public struct HTTP2HeaderBlock {
    var bytes: [UInt8] = []
    /// Name length, value length, for each field in order.
    var lengths: [Int] = []

    public init(status: Int, capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
        lengths.reserveCapacity(16)
        bytes.append(contentsOf: ":status".utf8)
        let start = bytes.count
        appendDecimal(status)
        lengths += [7, bytes.count - start]
    }

    public mutating func add(_ name: String, _ value: String) {
        guard !Self.isConnectionSpecific(name) else { return }
        let start = bytes.count
        for byte in name.utf8 { bytes.append(Self.lowercased(byte)) }
        let nameLength = bytes.count - start
        bytes.append(contentsOf: value.utf8)
        lengths += [nameLength, bytes.count - start - nameLength]
    }

    /// `content-length`, which `add` refuses from an upstream's HTTP/1 framing, as the gateway knows it.
    public mutating func addContentLength(_ length: Int) {
        bytes.append(contentsOf: "content-length".utf8)
        let start = bytes.count
        appendDecimal(length)
        lengths += [14, bytes.count - start]
    }

    private mutating func appendDecimal(_ number: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var value = number.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0
            if number < 0 { buffer[19 - count] = UInt8(ascii: "-"); count += 1 }
            bytes.append(contentsOf: buffer[(20 - count)...])
        }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }

    /// Headers HTTP/2 forbids (RFC 9113 §8.2.2); an upstream's HTTP/1 framing never crosses over.
    static func isConnectionSpecific(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            forbidden.contains { $0.count == bytes.count && zip(bytes, $0).allSatisfy { lowercased($0) == $1 } }
        }
    }

    private static let forbidden: [[UInt8]] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
                                                "content-length"].map { Array($0.utf8) }

    /// The fields in order, as nghttp2 is given them.
    var fields: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        var offset = 0
        for index in stride(from: 0, to: lengths.count, by: 2) {
            let name = lengths[index], value = lengths[index + 1]
            fields.append((String(decoding: bytes[offset..<(offset + name)], as: UTF8.self),
                           String(decoding: bytes[(offset + name)..<(offset + name + value)], as: UTF8.self)))
            offset += name + value
        }
        return fields
    }

    /// The fields as nghttp2 wants them, pointing into `bytes` for the call (nghttp2 copies them).
    func withFields<R>(_ body: (UnsafeMutableBufferPointer<nghttp2_nv>) -> R) -> R {
        let count = lengths.count / 2
        return bytes.withUnsafeBufferPointer { packed in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: count) { fields in
                var offset = 0
                for index in 0..<count {
                    let name = lengths[2 * index], value = lengths[2 * index + 1]
                    fields[index] = cgw_nv(packed.baseAddress! + offset, name, packed.baseAddress! + offset + name, value)
                    offset += name + value
                }
                return body(fields)
            }
        }
    }
}
