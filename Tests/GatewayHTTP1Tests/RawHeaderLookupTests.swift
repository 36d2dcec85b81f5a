import GatewayHTTP1
import Testing

@Suite struct RawHeaderLookupTests {
    func lookUp(_ text: String, limit: Int = 1000) -> String? {
        RawHeaderLookup.value("x-request-id", in: ArraySlice(Array(text.utf8)), limit: limit)
    }

    @Test func findsTheFieldInAnyCaseTrimmedInARefusedHead() {
        #expect(lookUp("POST /api HTTP/1.1\r\nHost: a\r\nX-Request-Id: \t abc-1 \r\nX-Bad: a\rb\r\n\r\n") == "abc-1")
        #expect(lookUp("GET / HTTP/1.1\nx-request-id:z\n\n") == "z", "bare LF lines")
    }

    @Test func looksNeitherPastTheHeadNorPastTheLimitNorAtTheStartLine() {
        #expect(lookUp("GET / HTTP/1.1\r\nHost: a\r\n\r\nX-Request-ID: body\r\n") == nil)
        #expect(lookUp("GET / HTTP/1.1\r\nX-Request-ID: far\r\n", limit: 20) == nil)
        #expect(lookUp("X-Request-ID: start\r\nHost: a\r\n") == nil)
        #expect(lookUp("GET / HTTP/1.1\r\nX-Request-IDs: other\r\nX-Request-I: short\r\n") == nil)
        #expect(lookUp("") == nil && lookUp("GET / HTTP/1.1") == nil)
    }
}
