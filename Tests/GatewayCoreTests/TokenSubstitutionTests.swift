import Testing
@testable import GatewayCore

@Suite struct TokenSubstitutionTests {
    static let upstream = "UPSTREAM-token-0123456789"
    static let gateway = "gw"

    static var response: [UInt8] {
        Array(#"{"authToken":"\#(upstream)","result":{"echo":"U\#(upstream)UP"},"debugInfo":{"request":{"authToken":"\#(upstream)"}}}"#.utf8)
    }
    static var expected: String {
        #"{"authToken":"gw","result":{"echo":"UgwUP"},"debugInfo":{"request":{"authToken":"gw"}}}"#
    }

    @Test func everyOccurrenceIsReplacedInAWholeBody() {
        var substitution = TokenSubstitution(upstreamToken: Self.upstream, gatewayToken: Self.gateway)
        #expect(String(decoding: substitution.replacingAll(in: Self.response), as: UTF8.self) == Self.expected)
    }

    /// A streamed body may split a token anywhere; the result must not depend on where.
    @Test func streamedBodiesSplitAtEveryPointGiveTheSameResult() {
        let body = Self.response
        for first in 0...body.count {
            for second in stride(from: first, through: body.count, by: 7) {
                var substitution = TokenSubstitution(upstreamToken: Self.upstream, gatewayToken: Self.gateway)
                var out: [UInt8] = []
                out += substitution.feed(Array(body[..<first]))
                out += substitution.feed(Array(body[first..<second]))
                out += substitution.feed(Array(body[second...]))
                out += substitution.finish()
                #expect(String(decoding: out, as: UTF8.self) == Self.expected, "split at \(first), \(second)")
            }
        }
    }

    @Test func aPrefixOfTheTokenAtTheEndIsKeptIntact() {
        var substitution = TokenSubstitution(upstreamToken: Self.upstream, gatewayToken: Self.gateway)
        let text = #"{"x":"UPSTREAM-tok"}"#
        let out = substitution.feed(Array(text.utf8)) + substitution.finish()
        #expect(String(decoding: out, as: UTF8.self) == text)
    }
}

@Suite struct InPlaceTokenSubstitutionTests {
    static let upstream = "UPSTREAM-token-0123456789"
    static let gateway = "gateway--token-9876543210"

    /// Same-length tokens are replaced in the received chunks themselves; splits must not matter.
    @Test func inPlaceReplacementGivesTheSameResultAtEverySplit() {
        let body = Array(#"{"authToken":"\#(Self.upstream)","echo":"U\#(Self.upstream)UP","tail":"UPSTREAM-tok"}"#.utf8)
        let expected = #"{"authToken":"\#(Self.gateway)","echo":"U\#(Self.gateway)UP","tail":"UPSTREAM-tok"}"#
        for first in 0...body.count {
            for second in stride(from: first, through: body.count, by: 5) {
                var substitution = TokenSubstitution(upstreamToken: Self.upstream, gatewayToken: Self.gateway)
                #expect(substitution.preservesLength)
                var out: [UInt8] = []
                for piece in [Array(body[..<first]), Array(body[first..<second]), Array(body[second...])] {
                    var chunk = piece
                    substitution.feed(&chunk)
                    out += chunk
                }
                out += substitution.finish()
                #expect(String(decoding: out, as: UTF8.self) == expected, "split at \(first), \(second)")
            }
        }
    }
}
