/// Builds HTTP/1.1 message heads.
public enum HTTP1Serializer {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
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
    public static func responseHead(status: Int, reason: String? = nil, headers: [(String, String)] = [],
                                    contentLength: Int?, keepAlive: Bool, omitFraming: Bool = false) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason ?? reasonPhrase(status))\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let contentLength {
            text += "Content-Length: \(contentLength)\r\n"
        } else if !omitFraming {
            text += "Transfer-Encoding: chunked\r\n"
        }
        if !keepAlive { text += "Connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// A whole response with a JSON body.
    public static func jsonResponse(status: Int, body: [UInt8], keepAlive: Bool, extraHeaders: [(String, String)] = []) -> [UInt8] {
        var out = responseHead(status: status, headers: [("Content-Type", "application/json")] + extraHeaders,
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
