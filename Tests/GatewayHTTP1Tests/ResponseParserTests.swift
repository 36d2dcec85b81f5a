import Testing
@testable import GatewayHTTP1

@Suite struct ResponseParserTests {
    /// Runs the parser over chunks like the upstream connection does; bodies are joined.
    static func run(_ chunks: [[UInt8]], eof: Bool = false) throws(HTTP1ParseError) -> (heads: [HTTP1ResponseHead], body: [UInt8], ends: Int) {
        var parser = HTTP1ResponseParser()
        var pending: [UInt8] = []
        var heads: [HTTP1ResponseHead] = [], body: [UInt8] = [], ends = 0
        for chunk in chunks {
            pending += chunk
            while true {
                let step = try pending.withUnsafeBytes { bytes in
                    Result { () throws(HTTP1ParseError) in try parser.parse(bytes) }
                }.get()
                pending.removeFirst(step.consumed)
                guard let event = step.event else { break }
                switch event {
                case .head(let h): heads.append(h)
                case .body(let b): body += b
                case .end: ends += 1
                }
            }
        }
        if eof {
            if try parser.finishAtEndOfStream() == .end { ends += 1 }
        }
        return (heads, body, ends)
    }

    static let twoResponses = Array(("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello"
        + "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").utf8)

    @Test func everySplitPointGivesTheSameResponses() throws {
        let whole = try Self.run([Self.twoResponses])
        #expect(whole.heads.map(\.status) == [200, 500])
        #expect(String(decoding: whole.body, as: UTF8.self) == "helloabcde")
        #expect(whole.ends == 2)
        for split in 0...Self.twoResponses.count {
            let parts = [Array(Self.twoResponses[..<split]), Array(Self.twoResponses[split...])]
            let result = try Self.run(parts)
            #expect(result.heads == whole.heads && result.body == whole.body && result.ends == 2, "split at \(split)")
        }
    }

    @Test func closeDelimitedBodyEndsAtEndOfStream() throws {
        let result = try Self.run([Array("HTTP/1.0 200 OK\r\n\r\nabc".utf8)], eof: true)
        #expect(result.heads.first?.keepAlive == false)
        #expect(result.body == Array("abc".utf8) && result.ends == 1)
    }

    @Test func truncatedResponseIsAnError() {
        #expect(throws: HTTP1ParseError.self) {
            _ = try Self.run([Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)], eof: true)
        }
    }

    @Test func malformedStatusLineIsA502() {
        do {
            _ = try Self.run([Array("HTTP/1.1 2x0 OK\r\n\r\n".utf8)])
            Issue.record("accepted a malformed status line")
        } catch {
            #expect(error.status == 502)
        }
    }
}
