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
        let needle = upstreamToken
        guard let first = needle.first, input.count >= 1 else { return 0 }
        out.reserveCapacity(input.count + 16)
        var position = 0
        var copiedUpTo = 0
        while position < input.count {
            guard let hit = input[position...].firstIndex(of: first) else { break }
            if hit + needle.count > input.count {
                if keepingTail && input[hit...].elementsEqual(needle[0..<(input.count - hit)]) {
                    out.append(contentsOf: input[copiedUpTo..<hit])
                    return hit
                }
                position = hit + 1
                continue
            }
            if input[hit..<(hit + needle.count)].elementsEqual(needle) {
                out.append(contentsOf: input[copiedUpTo..<hit])
                out.append(contentsOf: gatewayToken)
                position = hit + needle.count
                copiedUpTo = position
            } else {
                position = hit + 1
            }
        }
        out.append(contentsOf: input[copiedUpTo...])
        return input.count
    }
}
