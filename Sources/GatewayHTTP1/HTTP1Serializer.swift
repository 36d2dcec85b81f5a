/// Builds HTTP/1.1 message heads.
public enum HTTP1Serializer {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 417: return "Expectation Failed"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// A response head with a fixed length body (`contentLength` nil means chunked, or close-delimited with `omitFraming`).
    public static func responseHead(status: Int, reason: String? = nil, headers: [HTTPHeaderField] = [],
                                    contentLength: Int?, keepAlive: Bool, omitFraming: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.appendUTF8("HTTP/1.1 ")
        appendDecimal(status, to: &out)
        out.append(32)
        out.appendUTF8(reason ?? reasonPhrase(status))
        out.append(contentsOf: crlf)
        for field in headers {
            out.appendUTF8(field.name)
            out.appendUTF8(": ")
            out.appendUTF8(field.value)
            out.append(contentsOf: crlf)
        }
        if let contentLength {
            out.appendUTF8("Content-Length: ")
            appendDecimal(contentLength, to: &out)
            out.append(contentsOf: crlf)
        } else if !omitFraming {
            out.appendUTF8("Transfer-Encoding: chunked\r\n")
        }
        if !keepAlive { out.appendUTF8("Connection: close\r\n") }
        out.append(contentsOf: crlf)
        return out
    }

    private static let crlf: [UInt8] = [13, 10]

    /// Appends a non-negative integer in decimal without building a String.
    public static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 10 { out.append(UInt8(48 + value)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = UInt8(48 + rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
        }
    }

    /// A whole response with a JSON body.
    public static func jsonResponse(status: Int, body: [UInt8], keepAlive: Bool, extraHeaders: [HTTPHeaderField] = []) -> [UInt8] {
        var out = responseHead(status: status, headers: [HTTPHeaderField("Content-Type", "application/json")] + extraHeaders,
                               contentLength: body.count, keepAlive: keepAlive)
        out.append(contentsOf: body)
        return out
    }

    /// One chunk of a chunked body; an empty `data` is the last chunk.
    public static func chunk(_ data: [UInt8]) -> [UInt8] {
        if data.isEmpty { return Array("0\r\n\r\n".utf8) }
        var out = Array((String(data.count, radix: 16) + "\r\n").utf8)
        out.reserveCapacity(out.count + data.count + 2)
        out.append(contentsOf: data)
        out.append(13); out.append(10)
        return out
    }
}

extension Array where Element == UInt8 {
    /// Appends a string's UTF-8 in one copy: `append(contentsOf: s.utf8)` goes byte by byte, and
    /// every request's heads are built from strings.
    @inlinable
    public mutating func appendUTF8(_ string: String) {
        var string = string
        string.withUTF8 { append(contentsOf: $0) }
    }

    @inlinable
    public mutating func appendUTF8(_ string: Substring) {
        var string = string
        string.withUTF8 { append(contentsOf: $0) }
    }
}
