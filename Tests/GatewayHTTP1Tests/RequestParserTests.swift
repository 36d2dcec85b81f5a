import Testing
@testable import GatewayHTTP1

@Suite struct RequestParserTests {
    static let pipelined = "POST /api HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"action\":1}\n"
        + "POST /api/db HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:2}\r\n0\r\nTrailer: x\r\n\r\n"
        + "GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"

    @Test func parsesPipelinedRequestsWithBothBodyFramings() throws {
        let events = try RequestFeeder.run(Self.pipelined).get()
        #expect(events.count == 6)
        guard case .head(let first) = events[0], case .end(let firstBody) = events[1],
              case .head(let second) = events[2], case .end(let secondBody) = events[3],
              case .head(let third) = events[4], case .end(let thirdBody) = events[5] else {
            Issue.record("unexpected events \(events)")
            return
        }
        #expect(first.method == "POST" && first.target == "/api" && first.framing == .contentLength(13) && first.keepAlive)
        #expect(first.headers["content-type"] == "application/json")
        #expect(String(decoding: firstBody, as: UTF8.self) == "{\"action\":1}\n")
        #expect(second.path == "/api/db" && second.framing == .chunked)
        #expect(String(decoding: secondBody, as: UTF8.self) == "{\"a\":2}")
        #expect(third.method == "GET" && !third.keepAlive && thirdBody.isEmpty)
    }

    @Test func everySplitPointGivesTheSameEvents() throws {
        let bytes = Array(Self.pipelined.utf8)
        let whole = try RequestFeeder.run([bytes]).get()
        for split in 0...bytes.count {
            let events = try RequestFeeder.run([Array(bytes[..<split]), Array(bytes[split...])]).get()
            #expect(events == whole, "split at byte \(split)")
        }
        let byteByByte = try RequestFeeder.run(bytes.map { [$0] }).get()
        #expect(byteByByte == whole)
    }

    @Test func rejectionsAreFoundAtEverySplitPoint() {
        let bad = Array("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc".utf8)
        for split in 0...bad.count {
            let result = RequestFeeder.run([Array(bad[..<split]), Array(bad[split...])])
            #expect(result.error?.status == 400, "split at byte \(split)")
        }
    }

    @Test(arguments: [
        ("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "differing Content-Length"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", "differing Content-Length"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n", "invalid Content-Length"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", "invalid Content-Length"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "not supported; only chunked"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", "not supported; only chunked"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "not supported; only chunked"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n b\r\n\r\n", "obsolete line folding"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "invalid chunk size"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "invalid chunk size"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "chunk size too large"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", "not followed by CRLF"),
        ("POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc", "bare LF"),
        ("POST /api HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace in or after a header name"),
        ("POST /api HTTP/1.1\r\n: x\r\n\r\n", "empty header name"),
        ("POST /api HTTP/1.1\r\nHostx\r\n\r\n", "without a colon"),
        ("POST /api HTTP/1.1\nHost: x\r\n\r\n", "bare LF"),
        ("POST /api HTTP/1.1\r\nHost: a\u{01}b\r\n\r\n", "control character"),
        ("POST  /api HTTP/1.1\r\nHost: x\r\n\r\n", "invalid request target"),
        ("POST /api HTTP/1.1 extra\r\nHost: x\r\n\r\n", "malformed HTTP version"),
        ("P(ST /api HTTP/1.1\r\nHost: x\r\n\r\n", "invalid method"),
        ("POST /api HTTP/1.1\r\n\r\n", "missing Host"),
        ("POST /api HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "not allowed in HTTP/1.0"),
    ])
    func malformedRequestsAreRejectedWith400(request: String, reason: String) {
        let error = RequestFeeder.run(request).error
        #expect(error?.status == 400)
        #expect(error?.message.contains(reason) == true, "got \(String(describing: error))")
    }

    @Test func identicalDuplicateContentLengthIsAccepted() throws {
        let events = try RequestFeeder.run("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}").get()
        #expect(events.count == 2)
    }

    @Test func oversizeBodiesGet413BeforeTheBodyArrives() {
        let limits = HTTP1Limits(maxBodyBytes: 10)
        #expect(RequestFeeder.run("POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits: limits).error?.status == 413)
        let chunked = "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\n"
        #expect(RequestFeeder.run(chunked, limits: limits).error?.status == 413)
        let exact = "POST /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n"
        #expect(RequestFeeder.run(exact, limits: limits).value?.count == 2)
    }

    @Test func headerLimitsGive431() {
        let limits = HTTP1Limits(maxHeaderBytes: 1024, maxHeaderCount: 3)
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 1100) + "\r\n\r\n"
        #expect(RequestFeeder.run(big, limits: limits).error?.status == 431)
        // Without the blank line the parser must not wait for ever either.
        #expect(RequestFeeder.run(String(big.dropLast(4)), limits: limits).error?.status == 431)
        let many = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(RequestFeeder.run(many, limits: limits).error?.status == 431)
    }

    @Test func expectContinueAndUnsupportedExpectations() throws {
        let events = try RequestFeeder.run("POST /api HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").get()
        guard case .head(let head) = events.first else { Issue.record("no head"); return }
        #expect(head.expectsContinue)
        #expect(RequestFeeder.run("POST /api HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n").error?.status == 417)
    }

    @Test func versionsAndKeepAlive() throws {
        #expect(RequestFeeder.run("GET / HTTP/2.0\r\nHost: x\r\n\r\n").error?.status == 505)
        let old = try RequestFeeder.run("GET / HTTP/1.0\r\n\r\n").get()
        guard case .head(let head10) = old.first else { Issue.record("no head"); return }
        #expect(!head10.keepAlive && head10.versionMinor == 0)
        let kept = try RequestFeeder.run("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").get()
        guard case .head(let keptHead) = kept.first else { Issue.record("no head"); return }
        #expect(keptHead.keepAlive)
    }

    @Test func leadingEmptyLinesAreTolerated() throws {
        let events = try RequestFeeder.run("\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n").get()
        #expect(events.count == 2)
    }

    /// Found by the http1-request fuzz target: empty lines after a request, with a read ending
    /// between a CR and its LF, were answered 400 as an empty request line.
    @Test func emptyLinesCutBetweenCRAndLFAreToleratedToo() throws {
        let request = Array("POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n0".utf8)
        let whole = RequestFeeder.run([request + Array("\r\n\r\n".utf8)])
        let cut = RequestFeeder.run([request + Array("\r\n\r".utf8), Array("\n".utf8)])
        #expect(try whole.get().count == 2)
        #expect(try cut.get().count == 2, "the CRLF split over two reads is still an empty line")
    }

    /// Found by fuzzing: a block over the header-count limit with a bare LF past the limit was 431
    /// when read whole and 400 when read in pieces. Both ways it is now refused for the bare LF.
    @Test func theAnswerToABlockMalformedTwoWaysDoesNotDependOnTheReads() throws {
        let limits = HTTP1Limits(maxHeaderBytes: 2048, maxHeaderCount: 2, maxBodyBytes: 4096)
        let request = Array("POST /api HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\nE: 5\r\n\r\n".utf8)
        let whole = RequestFeeder.run([request], limits: limits)
        let pieces = RequestFeeder.run(request.map { [$0] }, limits: limits)
        guard case .failure(let first) = whole, case .failure(let second) = pieces else {
            Issue.record("both must fail: \(whole) \(pieces)")
            return
        }
        #expect(first.status == 400 && second.status == 400, "\(first) against \(second)")
    }
}

@Suite struct KnownTextTests {
    /// The common lines come back as the literal, and everything else byte for byte.
    @Test func knownTextIsTheLiteralAndOtherTextItsOwnBytes() {
        func text(_ value: String) -> String { Array(value.utf8).withUnsafeBytes { KnownText.string($0) } }
        for known in ["POST /api HTTP/1.1", "application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"] {
            #expect(text(known) == known)
        }
        for other in ["POST /api HTTP/1.0", "application/jsoN", "application/json; charset=utf-9", "", "x", "text/plain; q=1.0000"] {
            #expect(text(other) == other)
        }
        #expect(text("application/json").utf8.count == 16)
    }
}

@Suite struct HeaderScanningTests {
    /// The bit constants are exactly RFC 9110's tchar, for every byte value.
    @Test func tokenBytesAreExactlyTchar() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for byte in 0...255 { #expect(isTokenByte(UInt8(byte)) == tchar.contains(UInt8(byte)), "byte \(byte)") }
    }

    /// The eight-bytes-at-a-time search finds what a byte loop finds, wherever the break stands.
    @Test func lineBreakSearchAgreesWithAByteLoop() {
        for length in 0..<40 {
            for position in 0..<max(length, 1) {
                for breakByte: UInt8 in [13, 10] {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    if position < length { bytes[position] = breakByte }
                    // Bytes that differ from CR and LF only in bits the trick must not confuse.
                    if length > 20 { bytes[length - 1] = 0x8D; bytes[0] = position == 0 ? bytes[0] : 0x0B }
                    for from in [0, min(3, length)] {
                        let expected = bytes.indices.first { $0 >= from && (bytes[$0] == 13 || bytes[$0] == 10) }
                        let found = bytes.withUnsafeBytes { firstIndex(of: 13, or: 10, in: $0, from: from, to: length) }
                        #expect(found == expected, "length \(length), break at \(position), from \(from)")
                    }
                }
            }
        }
    }
}
