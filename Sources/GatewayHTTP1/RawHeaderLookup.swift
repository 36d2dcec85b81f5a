/// One header's value looked up in the raw bytes of a head the parser refused (a bare CR, a
/// declared body beyond the limit, ...), so that the refusal can still carry the client's
/// X-Request-ID. Lenient where the parser is strict: a line ends at LF, with or without CR.
public enum RawHeaderLookup {
    /// The value of the first field named `lowercaseName` within the first `limit` bytes of `bytes`
    /// (before the blank line), trimmed of spaces and tabs; nil when there is none.
    public static func value(_ lowercaseName: StaticString, in bytes: ArraySlice<UInt8>, limit: Int) -> String? {
        let end = bytes.index(bytes.startIndex, offsetBy: min(limit, bytes.count))
        var lineStart = bytes.startIndex
        var first = true
        while lineStart < end {
            guard let newline = bytes[lineStart..<end].firstIndex(of: 10) else { return nil }
            var lineEnd = newline
            if lineEnd > lineStart && bytes[lineEnd - 1] == 13 { lineEnd -= 1 }
            if lineEnd == lineStart && !first { return nil }
            if !first, let value = fieldValue(lowercaseName, bytes[lineStart..<lineEnd]) { return value }
            first = false
            lineStart = newline + 1
        }
        return nil
    }

    private static func fieldValue(_ lowercaseName: StaticString, _ line: ArraySlice<UInt8>) -> String? {
        lowercaseName.withUTF8Buffer { name -> String? in
            guard line.count > name.count, line[line.startIndex + name.count] == UInt8(ascii: ":") else { return nil }
            for (offset, expected) in name.enumerated() where line[line.startIndex + offset] | 0x20 != expected {
                return nil
            }
            var value = line[(line.startIndex + name.count + 1)...]
            while let byte = value.first, byte == 32 || byte == 9 { value = value.dropFirst() }
            while let byte = value.last, byte == 32 || byte == 9 { value = value.dropLast() }
            return String(decoding: value, as: UTF8.self)
        }
    }
}
