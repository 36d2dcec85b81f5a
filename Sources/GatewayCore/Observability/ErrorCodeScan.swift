import GatewayJSON
import GatewaySystem

/// Reads a FairCom envelope's errorCode from the end of an answer without parsing it: FairCom
/// writes `errorCode` (then `errorMessage`) last, so the last 512 bytes hold it.
enum ErrorCodeScan {
    private static let key = Array("\"errorCode\"".utf8)
    static let tailBytes = 512

    static func errorCode(inTailOf bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            let key = Self.key, count = buffer.count
            guard count >= key.count else { return nil }
            // Backwards from the end: the last occurrence is FairCom's (another may stand in the data).
            var start = count - key.count
            let floor = max(0, count - tailBytes)
            var found: Int?
            while start >= floor {
                if buffer[start] == UInt8(ascii: "\""), buffer[start + 1] == UInt8(ascii: "e") {
                    var i = 2
                    while i < key.count, buffer[start + i] == key[i] { i += 1 }
                    if i == key.count { found = start; break }
                }
                start -= 1
            }
            guard let at = found else { return nil }
            var i = at + key.count
            while i < count, buffer[i] == UInt8(ascii: " ") || buffer[i] == UInt8(ascii: ":") { i += 1 }
            var negative = false
            if i < count, buffer[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            var value = 0, digits = 0
            while i < count, digits < 10, buffer[i] >= 48, buffer[i] <= 57 {
                value = value * 10 + Int(buffer[i] - 48)
                i += 1
                digits += 1
            }
            return digits == 0 ? nil : (negative ? -value : value)
        }
    }

    /// The errorMessage of a small envelope (a refused login's reason).
    static func errorMessage(in bytes: [UInt8]) -> String? {
        guard let scan = try? JSONObjectScan.scan(bytes), let member = scan.member("errorMessage") else { return nil }
        return JSONObjectScan.string(member, in: bytes)
    }
}
