import GatewaySystem

/// Replaces every occurrence of the upstream's token with the gateway's in a response, wherever
/// it stands (`authToken`, `result`, an echo in `debugInfo`), so that no upstream token reaches a
/// client. Works on a whole body or on a stream of chunks, keeping back just enough bytes to
/// find a token split across chunks.
struct TokenSubstitution {
    let upstreamToken: [UInt8]
    let gatewayToken: [UInt8]
    private var carry: [UInt8] = []

    init(upstreamToken: String, gatewayToken: String) {
        self.upstreamToken = Array(upstreamToken.utf8)
        self.gatewayToken = Array(gatewayToken.utf8)
    }

    /// Whether replacing keeps a body's length (and so its Content-Length).
    var preservesLength: Bool { upstreamToken.count == gatewayToken.count }

    /// `bytes` with every occurrence replaced.
    func replacingAll(in bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let kept = scan(bytes, into: &out, keepingTail: false)
        precondition(kept == bytes.count)
        return out
    }

    /// The part of carry + `chunk` that is safe to send now.
    mutating func feed(_ chunk: [UInt8]) -> [UInt8] {
        let input = carry.isEmpty ? chunk : carry + chunk
        var out: [UInt8] = []
        let consumed = scan(input, into: &out, keepingTail: true)
        carry = Array(input[consumed...])
        return out
    }

    /// Whatever was held back at the end of the stream.
    mutating func finish() -> [UInt8] {
        defer { carry = [] }
        return carry
    }

    /// Copies `input` to `out` with replacements; returns how much was consumed. With
    /// `keepingTail`, a suffix that could begin a token is left unconsumed.
    private func scan(_ input: [UInt8], into out: inout [UInt8], keepingTail: Bool) -> Int {
        guard !upstreamToken.isEmpty, !input.isEmpty else { return 0 }
        out.reserveCapacity(input.count + 16)
        var copiedUpTo = 0
        var position = 0
        while let hit = input.firstOccurrence(of: upstreamToken, from: position, allowingPartialAtEnd: keepingTail) {
            out.append(contentsOf: input[copiedUpTo..<hit])
            if hit + upstreamToken.count > input.count { return hit }  // a token may continue in the next chunk
            out.append(contentsOf: gatewayToken)
            position = hit + upstreamToken.count
            copiedUpTo = position
        }
        out.append(contentsOf: input[copiedUpTo...])
        return input.count
    }
}

extension Array where Element == UInt8 {
    /// Where `needle` first occurs at or after `start`. With `allowingPartialAtEnd`, a prefix of
    /// `needle` that ends the array counts as an occurrence too.
    func firstOccurrence(of needle: [UInt8], from start: Int, allowingPartialAtEnd: Bool = false) -> Int? {
        if let whole = ByteSearch.firstIndex(of: needle, in: self, from: start) { return whole }
        guard allowingPartialAtEnd, !needle.isEmpty else { return nil }
        // Only the last needle.count - 1 bytes can hold the start of a token cut by the chunk's end.
        for candidate in Swift.max(start, count - needle.count + 1)..<count where self[candidate...].elementsEqual(needle[0..<(count - candidate)]) {
            return candidate
        }
        return nil
    }
}
