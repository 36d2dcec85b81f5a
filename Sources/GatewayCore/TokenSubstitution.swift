import GatewaySystem

/// Replaces every occurrence of the upstream's token with the gateway's in a response, wherever
/// it stands (`authToken`, `result`, an echo in `debugInfo`), so that no upstream token reaches a
/// client. Works on a whole body or on a stream of chunks, keeping back just enough bytes to
/// find a token split across chunks. The tokens stay Strings: their UTF-8 is read in place.
public struct TokenSubstitution {
    private let upstreamToken: [UInt8]
    /// The gateway's token, usually a slice of the request body it came in.
    private let gatewayToken: ArraySlice<UInt8>
    private var carry: [UInt8] = []

    public init(upstreamToken: [UInt8], gatewayToken: ArraySlice<UInt8>) {
        self.upstreamToken = upstreamToken
        self.gatewayToken = gatewayToken
    }

    public init(upstreamToken: String, gatewayToken: String) {
        self.init(upstreamToken: Array(upstreamToken.utf8), gatewayToken: ArraySlice(gatewayToken.utf8))
    }

    /// Whether replacing keeps a body's length (and so its Content-Length).
    public var preservesLength: Bool { upstreamToken.count == gatewayToken.count }

    /// `bytes` with every occurrence replaced.
    public mutating func replacingAll(in bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        _ = scan(bytes, into: &out, keepingTail: false)
        return out
    }

    /// The part of carry + `chunk` that is safe to send now.
    public mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        let input = carry.isEmpty ? chunk : carry + chunk
        var out: [UInt8] = []
        let consumed = scan(input, into: &out, keepingTail: true)
        carry = consumed == input.count ? [] : Array(input[consumed...])
        return out
    }

    /// Replaces in `chunk` what is safe to send now, holding back a possible token start at its end.
    /// When the tokens have the same length and nothing is held back from before, this works in
    /// place: no copy of the response passes through the gateway.
    public mutating func feed(_ chunk: inout [UInt8]) {
        guard preservesLength, carry.isEmpty, !upstreamToken.isEmpty else {
            chunk = feed(chunk)
            return
        }
        var position = 0
        while let hit = ByteSearch.firstIndex(of: upstreamToken, in: chunk, from: position) {
            chunk.withUnsafeMutableBufferPointer { bytes in
                for (offset, byte) in gatewayToken.enumerated() { bytes[hit + offset] = byte }
            }
            position = hit + upstreamToken.count
        }
        // A token cut by the chunk's end is completed by the next chunk: keep its start back.
        if let start = Self.partialTokenStart(in: chunk, from: position, token: upstreamToken) {
            carry = Array(chunk[start...])
            chunk.removeLast(chunk.count - start)
        }
    }

    /// Where a prefix of `token` ends `bytes` (at or after `from`), if one does.
    static func partialTokenStart(in bytes: [UInt8], from: Int, token: [UInt8]) -> Int? {
        ByteSearch.partialSuffixStart(of: token, in: bytes, from: from)
    }


    /// Whatever was held back at the end of the stream.
    public mutating func finish() -> [UInt8] {
        defer { carry = [] }
        return carry
    }

    /// Copies `input` to `out` with replacements; returns how much was consumed. With
    /// `keepingTail`, a suffix that could begin a token is left unconsumed.
    private mutating func scan(_ input: [UInt8], into out: inout [UInt8], keepingTail: Bool) -> Int {
        guard !upstreamToken.isEmpty, !input.isEmpty else {
            out = input
            return input.count
        }
        return upstreamToken.withUnsafeBufferPointer { needle in
            gatewayToken.withUnsafeBufferPointer { replacement in
                input.withUnsafeBufferPointer { hay in
                    out.reserveCapacity(input.count + 16)
                    var copiedUpTo = 0
                    while let hit = ByteSearch.firstIndex(of: UnsafeRawBufferPointer(needle), in: UnsafeRawBufferPointer(hay), from: copiedUpTo) {
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: hay[copiedUpTo..<hit]))
                        out.append(contentsOf: replacement)
                        copiedUpTo = hit + needle.count
                    }
                    var end = hay.count
                    if keepingTail, let start = Self.partialTokenStart(in: input, from: copiedUpTo, token: upstreamToken) {
                        end = start
                    }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: hay[copiedUpTo..<end]))
                    return end
                }
            }
        }
    }
}
