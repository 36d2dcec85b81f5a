@testable import GatewayHTTP1

/// Feeds a parser the way a connection does: bytes arrive in chunks, consumed bytes are dropped,
/// unconsumed ones wait for the next chunk.
struct RequestFeeder {
    var parser: HTTP1RequestParser
    var pending: [UInt8] = []
    var events: [HTTP1RequestEvent] = []

    init(limits: HTTP1Limits = HTTP1Limits()) {
        parser = HTTP1RequestParser(limits: limits)
    }

    mutating func feed(_ chunk: [UInt8]) throws(HTTP1ParseError) {
        pending += chunk
        while true {
            let result = Result { () throws(HTTP1ParseError) in
                try pending.withUnsafeBytes { bytes in
                    Result { () throws(HTTP1ParseError) in try parser.parse(bytes) }
                }.get()
            }
            let (consumed, event) = try result.get()
            pending.removeFirst(consumed)
            guard let event else { return }
            events.append(event)
        }
    }

    /// Parses `input` delivered in the given chunks; returns the events or the error.
    static func run(_ chunks: [[UInt8]], limits: HTTP1Limits = HTTP1Limits()) -> Result<[HTTP1RequestEvent], HTTP1ParseError> {
        var feeder = RequestFeeder(limits: limits)
        do throws(HTTP1ParseError) {
            for chunk in chunks { try feeder.feed(chunk) }
        } catch {
            return .failure(error)
        }
        return .success(feeder.events)
    }

    static func run(_ text: String, limits: HTTP1Limits = HTTP1Limits()) -> Result<[HTTP1RequestEvent], HTTP1ParseError> {
        run([Array(text.utf8)], limits: limits)
    }
}

extension Result {
    var error: Failure? { if case .failure(let e) = self { return e } else { return nil } }
    var value: Success? { if case .success(let v) = self { return v } else { return nil } }
}
