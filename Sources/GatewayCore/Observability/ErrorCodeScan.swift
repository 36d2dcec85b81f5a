import GatewayJSON
import GatewaySystem

/// Reads a FairCom envelope's errorCode from the end of an answer without parsing it: FairCom
/// writes `errorCode` (then `errorMessage`) last, so the last 512 bytes hold it.
enum ErrorCodeScan {
    private static let key = Array("\"errorCode\"".utf8)
    static let tailBytes = 512

    static func errorCode(inTailOf bytes: [UInt8]) -> Int? {
        let from = max(0, bytes.count - tailBytes)
        guard var index = ByteSearch.firstIndex(of: key, in: bytes, from: from) else { return nil }
        // The last occurrence: another "errorCode" may stand in the data before it.
        while let next = ByteSearch.firstIndex(of: key, in: bytes, from: index + 1) { index = next }
        var i = index + key.count
        while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: ":") { i += 1 }
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var value = 0, digits = 0
        while i < bytes.count, digits < 10, bytes[i] >= 48, bytes[i] <= 57 {
            value = value * 10 + Int(bytes[i] - 48)
            i += 1
            digits += 1
        }
        return digits == 0 ? nil : (negative ? -value : value)
    }

    /// The errorMessage of a small envelope (a refused login's reason).
    static func errorMessage(in bytes: [UInt8]) -> String? {
        guard let scan = try? JSONObjectScan.scan(bytes), let member = scan.member("errorMessage") else { return nil }
        return JSONObjectScan.string(member, in: bytes)
    }
}
