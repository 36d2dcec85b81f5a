import Testing
@testable import GatewayRedis

@Suite struct RESPParserTests {
    /// Replies of every type, nested, with binary and empty bulk strings, as Redis sends them.
    static let replies: [(bytes: String, value: RESPValue)] = [
        ("+OK\r\n", .simple("OK")),
        ("-ERR unknown command 'FOO'\r\n", .error("ERR unknown command 'FOO'")),
        (":-42\r\n", .integer(-42)),
        ("$5\r\nhe\r\no\r\n", .bulk(Array("he\r\no".utf8))),
        ("$0\r\n\r\n", .bulk([])),
        ("$-1\r\n", .bulk(nil)),
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*3\r\n$7\r\nmessage\r\n$5\r\nfcgw:\r\n*2\r\n:1\r\n$-1\r\n", .array([.bulk(Array("message".utf8)), .bulk(Array("fcgw:".utf8)), .array([.integer(1), .bulk(nil)])])),
    ]

    @Test func everyReplyTypeParsesWhole() throws {
        for (text, expected) in Self.replies {
            let bytes = Array(text.utf8)
            let parsed = try bytes.withUnsafeBytes { try RESPParser().parse($0) }
            #expect(parsed?.value == expected, "\(text.debugDescription)")
            #expect(parsed?.consumed == bytes.count)
        }
    }

    /// The stream of all replies, cut at every byte: before the cut nothing whole is invented,
    /// and fed the rest, the same replies come out in order.
    @Test func everySplitPointGivesTheSameReplies() throws {
        let stream = Array(Self.replies.map(\.bytes).joined().utf8)
        let expected = Self.replies.map(\.value)
        for cut in 0...stream.count {
            var buffer: [UInt8] = []
            var values: [RESPValue] = []
            for chunk in [Array(stream[..<cut]), Array(stream[cut...])] {
                buffer += chunk
                while let (value, consumed) = try buffer.withUnsafeBytes({ try RESPParser().parse($0) }) {
                    values.append(value)
                    buffer.removeFirst(consumed)
                }
            }
            #expect(values == expected, "cut at \(cut)")
            #expect(buffer.isEmpty, "cut at \(cut)")
        }
    }

    @Test func oneByteAtATime() throws {
        let stream = Array(Self.replies.map(\.bytes).joined().utf8)
        var buffer: [UInt8] = []
        var values: [RESPValue] = []
        for byte in stream {
            buffer.append(byte)
            while let (value, consumed) = try buffer.withUnsafeBytes({ try RESPParser().parse($0) }) {
                values.append(value)
                buffer.removeFirst(consumed)
            }
        }
        #expect(values == Self.replies.map(\.value))
    }

    @Test func bytesNoRedisSendsAreRefusedWithWhatWasWrong() {
        let cases: [(String, String)] = [
            ("?what\r\n", "0x3f"),
            (":12a\r\n", "'12a' is not a number"),
            ("$5\r\nhello!!", "not followed by CRLF"),
            ("+OK\n", "LF without CR"),
            ("$99999999999\r\n", "at most"),
            ("*2000000\r\n", "at most"),
            (String(repeating: "*1\r\n", count: 9) + ":1\r\n", "nested deeper"),
            ("$-2\r\n", "-2 bytes"),
        ]
        for (text, expected) in cases {
            let bytes = Array(text.utf8)
            do {
                _ = try bytes.withUnsafeBytes { try RESPParser().parse($0) }
                Issue.record("\(text.debugDescription) was accepted")
            } catch let error as RESPProtocolError {
                #expect(error.description.contains(expected), "\(text.debugDescription): \(error.description)")
            } catch {
                Issue.record("\(error)")
            }
        }
    }

    @Test func aLineWithoutEndIsBoundedToo() {
        let bytes = Array(("+" + String(repeating: "a", count: 70_000)).utf8)
        #expect(throws: RESPProtocolError.self) { _ = try bytes.withUnsafeBytes { try RESPParser().parse($0) } }
    }

    @Test func commandsAreArraysOfBulkStrings() {
        #expect(RESPEncoder.command(["SET", "k", "a b\r\n"]) == Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na b\r\n\r\n".utf8))
        #expect(RESPEncoder.command([]) == Array("*0\r\n".utf8))
    }
}

@Suite struct CircuitBreakerTests {
    @Test func opensAfterFailuresInARowThenProbesOnce() {
        var breaker = CircuitBreaker(failuresToOpen: 3, openMilliseconds: 1000)
        let allowed1 = breaker.allows(now: 0)
        #expect(allowed1)
        breaker.failed(now: 0)
        breaker.succeeded()
        breaker.failed(now: 1)
        breaker.failed(now: 2)
        let allowed2 = breaker.allows(now: 3)
        #expect(allowed2, "a success in between restarts the count")
        let opened = breaker.failed(now: 3)
        #expect(opened)
        let allowed3 = breaker.allows(now: 500)
        #expect(!allowed3)
        let allowed4 = breaker.allows(now: 1003)
        #expect(allowed4, "one probe after the open period")
        let allowed5 = breaker.allows(now: 1004)
        #expect(!allowed5, "and only one")
        breaker.failed(now: 1010)
        let allowed6 = breaker.allows(now: 1500)
        #expect(!allowed6, "a failed probe opens it again")
        let allowed7 = breaker.allows(now: 2010)
        #expect(allowed7)
        breaker.succeeded()
        let first = breaker.allows(now: 2011), second = breaker.allows(now: 2011)
        #expect(first && second)
    }
}
