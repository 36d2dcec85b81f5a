import GatewayConfig
@testable import GatewaySessions
import Testing

@Suite struct SessionIndexTests {
    static let shared = SharedSettings(SessionSettings(defaults: JSONActionAPIDefaults()))

    /// A digest whose index bits (bytes 8..<16) are `key`, the rest `tail`.
    static func digest(key: UInt8, tail: UInt8) -> TokenDigest {
        TokenDigest(digestBytes: (0..<32).map { (8..<16).contains($0) ? key : tail })
    }

    static func session(_ digest: TokenDigest) -> Session {
        Session(digest: digest, username: "u", clientAddress: "10.0.0.1", addressCounted: true, upstream: "up",
                upstreamToken: "t", shared: shared, startedAt: 0, now: 0)
    }

    @Test func sessionsWhoseDigestsShareTheIndexBitsAreAllKeptAndFoundOnlyByTheirWholeDigest() {
        var index = SessionIndex()
        let a = Self.digest(key: 7, tail: 1), b = Self.digest(key: 7, tail: 2), c = Self.digest(key: 7, tail: 3)
        index.insert(Self.session(a))
        index.insert(Self.session(b))
        #expect(index.count == 2)
        #expect(index[a]?.digest == a)
        #expect(index[b]?.digest == b)
        #expect(index[c] == nil, "a digest sharing only the index bits must find nothing")
        #expect(index.remove(c) == nil)
        #expect(Set(index.digests.map(\.hex)) == [a.hex, b.hex])

        // Removing the one in the primary slot moves the overflowing one into it.
        #expect(index.remove(a)?.digest == a)
        #expect(index[a] == nil)
        #expect(index[b]?.digest == b)
        index.insert(Self.session(c))
        #expect(index[c]?.digest == c)
        #expect(index.remove(b)?.digest == b)
        #expect(index.remove(c)?.digest == c)
        #expect(index.count == 0)
    }

    @Test func distinctDigestsEachHaveTheirOwnSlot() {
        var index = SessionIndex()
        let digests = (0..<1000).map { TokenDigest(token: "token-\($0)") }
        for digest in digests { index.insert(Self.session(digest)) }
        #expect(index.count == 1000)
        #expect(digests.allSatisfy { index[$0]?.digest == $0 })
        for digest in digests.prefix(500) { #expect(index.remove(digest) != nil) }
        #expect(index.count == 500)
        #expect(digests.prefix(500).allSatisfy { index[$0] == nil })
        #expect(digests.suffix(500).allSatisfy { index[$0]?.digest == $0 })
    }
}

@Suite struct InlineTokenTests {
    @Test func tokensOfEveryLengthComeBackAsTheyWent() {
        for length in [0, 1, 7, 8, 63, 64, 65, 200] {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            #expect(InlineToken(bytes).bytes == bytes, "length \(length)")
        }
    }

    @Test func theTokenTakesSixtySixBytesInsideTheSession() {
        // 64 bytes of token, its length and the enum's tag: with the fields after it, the session
        // object stays at 200 bytes, the figure the million-session memory budget rests on.
        #expect(MemoryLayout<InlineToken>.size == 66)
    }
}
