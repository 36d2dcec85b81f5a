/// Decodes a chunked body incrementally; chunk data goes to a sink as it arrives.
struct ChunkedDecoder {
    private enum State { case size, data(Int), dataEnd, trailer, done }
    private var state = State.size
    private var trailerBytes = 0
    /// Longest chunk-size line (with extensions) accepted.
    static let maxSizeLineBytes = 4096

    var isDone: Bool { if case .done = state { return true } else { return false } }

    /// Consumes what it can of `bytes`, returning how many; `onChunkSize` may refuse a size (413),
    /// `sink` gets decoded data.
    mutating func decode(_ bytes: UnsafeRawBufferPointer, maxTrailerBytes: Int,
                         onChunkSize: (Int) throws(HTTP1ParseError) -> Void,
                         sink: (UnsafeRawBufferPointer) -> Void) throws(HTTP1ParseError) -> Int {
        var index = 0
        while index < bytes.count {
            switch state {
            case .size:
                guard let lineEnd = try findCRLF(bytes, from: index) else {
                    if bytes.count - index > Self.maxSizeLineBytes { throw .bad("chunk size line too long") }
                    return index
                }
                let size = try parseChunkSize(UnsafeRawBufferPointer(rebasing: bytes[index..<lineEnd]))
                try onChunkSize(size)
                index = lineEnd + 2
                state = size == 0 ? .trailer : .data(size)
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                sink(UnsafeRawBufferPointer(rebasing: bytes[index..<index + take]))
                index += take
                state = remaining == take ? .dataEnd : .data(remaining - take)
            case .dataEnd:
                guard bytes.count - index >= 2 else { return index }
                guard bytes[index] == 13 && bytes[index + 1] == 10 else { throw .bad("chunk data not followed by CRLF") }
                index += 2
                state = .size
            case .trailer:
                guard let lineEnd = try findCRLF(bytes, from: index) else {
                    if trailerBytes + bytes.count - index > maxTrailerBytes { throw HTTP1ParseError(status: 431, "trailer section too large") }
                    return index
                }
                let length = lineEnd - index
                trailerBytes += length + 2
                if trailerBytes > maxTrailerBytes { throw HTTP1ParseError(status: 431, "trailer section too large") }
                if length > 0 && (bytes[index] == 32 || bytes[index] == 9) { throw .bad("obsolete line folding is not accepted") }
                index = lineEnd + 2
                if length == 0 { state = .done; return index }
            case .done:
                return index
            }
        }
        return index
    }

    /// The index of the CRLF ending the line at `start`, or nil while it has not arrived.
    private func findCRLF(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(HTTP1ParseError) -> Int? {
        var index = start
        let limit = min(bytes.count, start + Self.maxSizeLineBytes + 2)
        while index < limit {
            if bytes[index] == 13 {
                guard index + 1 < bytes.count else { return nil }
                if bytes[index + 1] == 10 { return index }
                throw .bad("bare CR in chunked framing")
            }
            if bytes[index] == 10 { throw .bad("bare LF in chunked framing") }
            index += 1
        }
        return nil
    }

    private func parseChunkSize(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> Int {
        var size = 0
        var digits = 0
        var index = 0
        while index < line.count {
            let byte = line[index]
            let value: Int
            switch byte {
            case 48...57: value = Int(byte) - 48
            case 97...102: value = Int(byte) - 87
            case 65...70: value = Int(byte) - 55
            default: value = -1
            }
            if value < 0 { break }
            digits += 1
            if digits > 15 { throw .bad("chunk size too large") }
            size = size << 4 | value
            index += 1
        }
        guard digits > 0 else { throw .bad("invalid chunk size") }
        if index < line.count {
            guard line[index] == 59 else { throw .bad("invalid chunk size") }  // only ";extension" may follow
            for byte in line[(index + 1)...] where byte < 32 && byte != 9 { throw .bad("control character in chunk extension") }
        }
        return size
    }
}
