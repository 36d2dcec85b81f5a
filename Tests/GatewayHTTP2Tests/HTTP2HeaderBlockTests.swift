@testable import GatewayHTTP2
import Testing

@Suite struct HTTP2HeaderBlockTests {
    @Test func fieldsGoOverLowercasedInOrderWithTheStatusFirst() {
        var block = HTTP2HeaderBlock(status: 200)
        block.add("Content-Type", "application/json")
        block.add("X-Request-ID", "Mixed-Case Value")
        block.add("etag", "")
        block.addContentLength(1_234_567)
        #expect(block.fields.map(\.name) == [":status", "content-type", "x-request-id", "etag", "content-length"])
        #expect(block.fields.map(\.value) == ["200", "application/json", "Mixed-Case Value", "", "1234567"])
    }

    /// RFC 9113 §8.2.2: an upstream's HTTP/1 framing must not cross into an HTTP/2 response.
    @Test func connectionSpecificFieldsAreLeftOutWhateverTheirCase() {
        var block = HTTP2HeaderBlock(status: 503)
        for name in ["Connection", "KEEP-ALIVE", "proxy-connection", "Transfer-Encoding", "upgrade", "Content-Length"] {
            block.add(name, "x")
        }
        block.add("connections", "kept: only the exact names are framing")
        block.add("Keep-Alivf", "kept")
        #expect(block.fields.map(\.name) == [":status", "connections", "keep-alivf"])
        #expect(block.fields[0].value == "503")
    }

    @Test func whatNghttp2IsHandedPointsAtEachFieldsBytes() {
        var block = HTTP2HeaderBlock(status: 404, capacity: 1)
        for index in 0..<40 { block.add("x-field-\(index)", String(repeating: "v", count: index)) }
        let seen = block.withFields { fields in
            fields.map { field in
                (String(decoding: UnsafeBufferPointer(start: field.name, count: field.namelen), as: UTF8.self),
                 String(decoding: UnsafeBufferPointer(start: field.value, count: field.valuelen), as: UTF8.self))
            }
        }
        #expect(seen.count == 41 && seen[0] == (":status", "404"))
        for index in 0..<40 { #expect(seen[index + 1] == ("x-field-\(index)", String(repeating: "v", count: index))) }
    }
}
