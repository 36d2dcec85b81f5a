import GatewayHTTPServer
import GatewaySystem

/// The request headers the gateway passes on or acts on, found in one pass over the fields.
struct ClientHeaders {
    var requestId: String?
    var traceparent: String?
    var userAgent: String?
    /// Whether the client sent any X-Forwarded-For, X-Forwarded-Proto or Forwarded: only a trusted
    /// proxy's are read, and then in full.
    var forwardingChain = false

    init(_ http: borrowing HTTPRequest) {
        for field in http.head.headers.fields {
            let name = field.name.utf8
            switch name.count {
            case 10 where Self.named(name, "user-agent"): userAgent = field.value
            case 11 where Self.named(name, "traceparent"): traceparent = field.value
            case 12 where Self.named(name, "x-request-id"): requestId = requestId ?? field.value
            case 9 where Self.named(name, "forwarded"): forwardingChain = true
            case 15 where Self.named(name, "x-forwarded-for"): forwardingChain = true
            case 17 where Self.named(name, "x-forwarded-proto"): forwardingChain = true
            default: break
            }
        }
    }

    /// `name` equals the lowercase ASCII `literal`, in any case.
    private static func named(_ name: String.UTF8View, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            var i = 0
            for byte in name {
                guard byte | 0x20 == expected[i] || (byte == expected[i]) else { return false }
                i += 1
            }
            return true
        }
    }
}

/// The headers every upstream request carries about its client: who it is (X-Forwarded-For,
/// Forwarded), how it came (X-Forwarded-Proto), the request ID, and the client's own traceparent
/// and User-Agent. A client's X-Forwarded-For and Forwarded are kept, and extended, only when it
/// is a trusted proxy (`sessions.trustedProxies`); anyone else could write anything there.
struct ForwardedHeaders {
    private let peer: String
    private let proto: StaticString
    /// A trusted proxy's own headers, joined (nil for anyone else).
    private var earlierFor: String?
    private var earlierForwarded: String?
    private var givenProto: String?
    let requestId: String
    let traceparent: String?
    let userAgent: String?

    init(_ http: borrowing HTTPRequest, client: ClientHeaders, requestId: String, trustedProxies: [AddressRange]) {
        peer = http.peerHost ?? "unknown"
        proto = http.tlsVersion != nil ? "https" : "http"
        if client.forwardingChain && !trustedProxies.isEmpty && trustedProxies.containsAddress(peer) {
            let headers = http.head.headers
            let chain = headers.values("x-forwarded-for")
            if !chain.isEmpty { earlierFor = chain.joined(separator: ", ") }
            let earlier = headers.values("forwarded")
            if !earlier.isEmpty { earlierForwarded = earlier.joined(separator: ", ") }
            if let given = headers["x-forwarded-proto"], given == "http" || given == "https" { givenProto = given }
        }
        self.requestId = requestId
        traceparent = client.traceparent.flatMap { Self.isTraceparent($0) ? $0 : nil }
        userAgent = client.userAgent.flatMap { $0.utf8.count <= 512 ? $0 : nil }
    }

    /// W3C Trace Context: version-traceid-parentid-flags, lowercase hex, 55 characters for version 00.
    static func isTraceparent(_ value: String) -> Bool {
        let bytes = value.utf8
        guard bytes.count >= 55, bytes.count <= 256 else { return false }
        for (index, byte) in bytes.enumerated() {
            let ok = index == 2 || index == 35 || index == 52 ? byte == UInt8(ascii: "-")
                : index < 55 ? (48...57).contains(byte) || (97...102).contains(byte) : (0x21...0x7E).contains(byte)
            if !ok { return false }
        }
        return true
    }

    func write(into bytes: inout [UInt8]) {
        func append(_ text: StaticString) { text.withUTF8Buffer { bytes.append(contentsOf: $0) } }
        append("\r\nX-Forwarded-For: ")
        if let earlierFor {
            bytes.appendUTF8(earlierFor)
            append(", ")
        }
        bytes.appendUTF8(peer)
        append("\r\nX-Forwarded-Proto: ")
        if let givenProto { bytes.appendUTF8(givenProto) } else { proto.withUTF8Buffer { bytes.append(contentsOf: $0) } }
        append("\r\nForwarded: ")
        if let earlierForwarded {
            bytes.appendUTF8(earlierForwarded)
            append(", ")
        }
        // RFC 7239: an IPv6 node is quoted and bracketed.
        var peer = self.peer
        let v6 = peer.withUTF8 { $0.contains(UInt8(ascii: ":")) }
        append("for=")
        if v6 { append("\"[") }
        bytes.appendUTF8(peer)
        if v6 { append("]\"") }
        append(";proto=")
        proto.withUTF8Buffer { bytes.append(contentsOf: $0) }
        append("\r\nX-Request-ID: ")
        bytes.appendUTF8(requestId)
        if let traceparent {
            append("\r\ntraceparent: ")
            bytes.appendUTF8(traceparent)
        }
        if let userAgent {
            append("\r\nUser-Agent: ")
            bytes.appendUTF8(userAgent)
        }
    }
}
