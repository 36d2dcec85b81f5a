import GatewayConfig
import GatewayCore
import GatewayHTTP1
import GatewayJSON
import GatewayRedis

/// The parsers a client or an upstream feeds bytes to, each checked for what must hold on any
/// input: no crash, and the same answer however the bytes are split into reads.
enum FuzzTargets {
    static let names = ["http1-request", "http1-response", "json", "token-substitution", "config", "resp"]

    static func run(_ name: String, _ data: [UInt8]) {
        switch name {
        case "http1-request": http1Request(data)
        case "http1-response": http1Response(data)
        case "json": json(data)
        case "token-substitution": tokenSubstitution(data)
        case "config": config(data)
        case "resp": resp(data)
        default: fatalError("no fuzz target '\(name)'; targets: \(names.joined(separator: ", "))")
        }
    }

    /// The first byte picks where reads are split, the rest is the input.
    private static func split(_ data: [UInt8]) -> (step: Int, input: [UInt8]) {
        guard let first = data.first else { return (1, []) }
        return (Int(first % 17) + 1, Array(data.dropFirst()))
    }

    // MARK: HTTP/1.1 requests

    private static let smallLimits = HTTP1Limits(maxHeaderBytes: 2048, maxHeaderCount: 32, maxBodyBytes: 4096)

    static func http1Request(_ data: [UInt8]) {
        let (step, input) = split(data)
        let whole = requestEvents(input, step: input.count)
        let pieces = requestEvents(input, step: step)
        precondition(whole == pieces, "the request parser's answer depends on how the bytes were split: \(whole) against \(pieces) in reads of \(step)")
    }

    /// Events (or the error's status) from feeding `input` in reads of `step` bytes.
    private static func requestEvents(_ input: [UInt8], step: Int) -> [String] {
        var parser = HTTP1RequestParser(limits: smallLimits)
        var events: [String] = []
        var buffer: [UInt8] = []
        var offset = 0
        while offset < input.count || !buffer.isEmpty {
            if offset < input.count {
                buffer += input[offset..<min(input.count, offset + max(step, 1))]
                offset += max(step, 1)
            }
            while !buffer.isEmpty {
                let outcome = buffer.withUnsafeBytes { bytes in Result { () throws(HTTP1ParseError) in try parser.parse(bytes) } }
                switch outcome {
                case .failure(let error):
                    events.append("error \(error.status)")
                    return events
                case .success(let (consumed, event)):
                    precondition(consumed <= buffer.count, "the parser consumed more than it was given")
                    buffer.removeFirst(consumed)
                    guard let event else { break }
                    events.append(String(describing: event))
                    continue
                }
                break
            }
            if offset >= input.count { break }
        }
        return events
    }

    // MARK: HTTP/1.1 responses and chunked bodies

    static func http1Response(_ data: [UInt8]) {
        let (step, input) = split(data)
        let whole = responseEvents(input, step: input.count)
        let pieces = responseEvents(input, step: step)
        // Body bytes stream on as they come, so a body found malformed later may have been partly
        // delivered in one case and not the other; everything else must be the same.
        if whole.last == "error" || pieces.last == "error" {
            precondition(whole.last == pieces.last && whole.filter(isHead) == pieces.filter(isHead),
                         "the response parser failed for one split and not for another: \(whole) against \(pieces) in reads of \(step)")
            return
        }
        precondition(whole == pieces, "the response parser's answer depends on how the bytes were split: \(whole) against \(pieces) in reads of \(step)")
    }

    private static func isHead(_ event: String) -> Bool { event.hasPrefix("head") }

    private static func responseEvents(_ input: [UInt8], step: Int) -> [String] {
        var parser = HTTP1ResponseParser()
        var events: [String] = []
        var body: [UInt8] = []
        var buffer: [UInt8] = []
        var offset = 0
        func record(_ event: HTTP1ResponseEvent) {
            // Body pieces are joined: how a body is cut into events may follow the reads.
            if case .body(let bytes) = event { body += bytes; return }
            if !body.isEmpty { events.append("body \(body)"); body = [] }
            events.append(String(describing: event))
        }
        while true {
            if offset < input.count {
                buffer += input[offset..<min(input.count, offset + max(step, 1))]
                offset += max(step, 1)
            }
            // As the upstream connection does: parse until no event, even with nothing left to
            // read (a finished chunked body reports its end on the next call).
            while true {
                let outcome = buffer.withUnsafeBytes { bytes in Result { () throws(HTTP1ParseError) in try parser.parse(bytes) } }
                switch outcome {
                case .failure:
                    record(.end)
                    events.append("error")
                    return events
                case .success(let (consumed, event)):
                    precondition(consumed <= buffer.count, "the parser consumed more than it was given")
                    buffer.removeFirst(consumed)
                    guard let event else { break }
                    record(event)
                    if case .end = event { parser.reset() }
                    continue
                }
                break
            }
            if offset >= input.count { break }
        }
        if let end = try? parser.finishAtEndOfStream() { record(end) } else { events.append("cut short") }
        if !body.isEmpty { events.append("body \(body)") }
        return events
    }

    // MARK: JSON

    static func json(_ data: [UInt8]) {
        let parsed = try? JSONParser.parse(data)
        let scanned = try? JSONObjectScan.scan(data)
        _ = try? JSONEnvelopeScan.scan(data)
        if scanned != nil {
            // Whatever the object scan accepts, the parser reads as an object too.
            guard case .object? = parsed else { preconditionFailure("the object scan accepted what the parser rejects") }
        }
        if let parsed {
            // What the gateway writes, it reads back the same.
            let written = JSONWriter.bytes(parsed)
            precondition((try? JSONParser.parse(written)).map { JSONWriter.bytes($0) == written } ?? false,
                         "written JSON does not read back the same")
        }
    }

    // MARK: token substitution

    static func tokenSubstitution(_ data: [UInt8]) {
        guard data.count >= 2 else { return }
        let step = Int(data[0] % 31) + 1
        let upstream = Array("UPSTREAMTOKEN".utf8)
        let gateway = data[1] & 1 == 0 ? Array("GATEWAYTOKEN!".utf8) : Array("gw".utf8)
        let body = Array(data.dropFirst(2))
        var whole = TokenSubstitution(upstreamToken: upstream, gatewayToken: ArraySlice(gateway))
        let expected = whole.replacingAll(in: body)
        var streamed = TokenSubstitution(upstreamToken: upstream, gatewayToken: ArraySlice(gateway))
        var out: [UInt8] = []
        var offset = 0
        while offset < body.count {
            var chunk = Array(body[offset..<min(body.count, offset + step)])
            streamed.feed(&chunk)
            out += chunk
            offset += step
        }
        out += streamed.finish()
        precondition(out == expected, "streamed substitution differs from the whole-body one")
    }

    // MARK: configuration

    static func config(_ data: [UInt8]) {
        _ = try? GatewayConfiguration.parse(data)
    }

    // MARK: RESP2 replies (what a Redis server, or something posing as one, sends)

    static func resp(_ data: [UInt8]) {
        let (step, input) = split(data)
        let whole = respReplies(input, step: input.count)
        let pieces = respReplies(input, step: step)
        precondition(whole == pieces, "the RESP parser's answer depends on how the bytes were split: \(whole) against \(pieces) in reads of \(step)")
    }

    private static func respReplies(_ input: [UInt8], step: Int) -> [String] {
        let parser = RESPParser(maxBulkBytes: 4096, maxElements: 256, maxDepth: 4)
        var replies: [String] = []
        var buffer: [UInt8] = []
        var offset = 0
        while offset < input.count {
            buffer += input[offset..<min(input.count, offset + max(step, 1))]
            offset += max(step, 1)
            while true {
                do {
                    guard let (value, consumed) = try buffer.withUnsafeBytes({ try parser.parse($0) }) else { break }
                    precondition(consumed > 0 && consumed <= buffer.count, "the parser consumed \(consumed) of \(buffer.count) bytes")
                    buffer.removeFirst(consumed)
                    replies.append(String(describing: value))
                } catch {
                    replies.append("error \(error)")
                    return replies
                }
            }
        }
        return replies
    }
}
