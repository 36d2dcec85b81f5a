import GatewayHTTPServer
import GatewaySystem

/// The headers every upstream request carries about its client: who it is (X-Forwarded-For,
/// Forwarded), how it came (X-Forwarded-Proto), the request ID, and the client's own traceparent
/// and User-Agent. A client's X-Forwarded-For and Forwarded are kept, and extended, only when it
/// is a trusted proxy (`sessions.trustedProxies`); anyone else could write anything there.
struct ForwardedHeaders {
    var forwardedFor: String
    var forwarded: String
    var proto: String
    var requestId: String
    var traceparent: String?
    var userAgent: String?

    init(_ http: HTTPRequest, requestId: String, trustedProxies: [AddressRange]) {
        let peer = http.peerHost ?? "unknown"
        let secure = http.tlsVersion != nil
        let trusted = !trustedProxies.isEmpty && trustedProxies.containsAddress(peer)
        let headers = http.head.headers
        proto = secure ? "https" : "http"
        let node = peer.contains(":") ? "\"[\(peer)]\"" : peer
        var forwardedFor = peer, forwarded = "for=\(node);proto=\(proto)"
        if trusted {
            let chain = headers.values("x-forwarded-for")
            if !chain.isEmpty { forwardedFor = chain.joined(separator: ", ") + ", " + peer }
            let earlier = headers.values("forwarded")
            if !earlier.isEmpty { forwarded = earlier.joined(separator: ", ") + ", " + forwarded }
            if let given = headers["x-forwarded-proto"], given == "http" || given == "https" { proto = given }
        }
        self.forwardedFor = forwardedFor
        self.forwarded = forwarded
        self.requestId = requestId
        traceparent = headers["traceparent"].flatMap { Self.isTraceparent($0) ? $0 : nil }
        userAgent = headers["user-agent"].flatMap { $0.utf8.count <= 512 ? $0 : nil }
    }

    /// W3C Trace Context: version-traceid-parentid-flags, lowercase hex, 55 characters for version 00.
    static func isTraceparent(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes.count <= 256 else { return false }
        return bytes.enumerated().allSatisfy { index, byte in
            [2, 35, 52].contains(index) ? byte == UInt8(ascii: "-")
                : index < 55 ? (48...57).contains(byte) || (97...102).contains(byte) : (0x21...0x7E).contains(byte)
        }
    }

    func write(into bytes: inout [UInt8]) {
        func header(_ name: String, _ value: String) {
            bytes.append(contentsOf: "\r\n".utf8)
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: value.utf8)
        }
        header("X-Forwarded-For", forwardedFor)
        header("X-Forwarded-Proto", proto)
        header("Forwarded", forwarded)
        header("X-Request-ID", requestId)
        if let traceparent { header("traceparent", traceparent) }
        if let userAgent { header("User-Agent", userAgent) }
    }
}
