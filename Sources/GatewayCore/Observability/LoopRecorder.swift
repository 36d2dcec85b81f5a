import GatewayHTTPServer
import GatewayJSON
import GatewaySystem

/// One loop's metrics and access log. Loop-confined: the loop's handlers write to it with no lock;
/// a scrape reads `metrics` on this loop through `EventLoop.execute`, and a SIGUSR1 reopens the
/// log the same way.
final class LoopRecorder: RequestRecorder, @unchecked Sendable {
    var metrics = MetricsCounts()
    /// nil while `logging.accessLog` is off.
    var accessLog: LogFile?
    private var requestIds: RequestIDGenerator
    let refusals: RecentRefusals

    init(loopIndex: Int, accessLog: LogFile?, refusals: RecentRefusals) {
        self.accessLog = accessLog
        self.refusals = refusals
        requestIds = RequestIDGenerator(loopIndex: loopIndex)
    }

    /// The client's X-Request-ID when it is a sane one, or a fresh one.
    func requestId(given: String?) -> String {
        if let given, RequestIDGenerator.isAcceptable(given) { return given }
        return requestIds.next()
    }

    func finished(_ record: RequestRecord, complete: Bool, now: Int64) {
        let total = now - record.receivedAtMicroseconds
        let outcome = record.outcome(complete: complete)
        if record.isJSONAction {
            metrics.countRequest(api: record.api, action: record.action, outcome: outcome)
            metrics.requestDuration.observe(microseconds: total)
            if record.upstreamMicroseconds >= 0 {
                metrics.upstreamDuration.observe(microseconds: record.upstreamMicroseconds)
                metrics.gatewayDuration.observe(microseconds: max(0, total - record.upstreamMicroseconds))
            } else {
                metrics.gatewayDuration.observe(microseconds: total)
            }
        }
        if !record.forwarded, let code = record.finalErrorCode, code != 0 {
            metrics.countGatewayError(code)
            if record.action == 0 /* createSession */ {
                // Cheap for a flood of refusals: the time is kept raw and the reason as the answer's
                // bytes; the status page formats the few it shows.
                refusals.add(RecentRefusals.Entry(time: WallClock.now(), client: record.clientAddress ?? "?", username: record.username,
                                                  errorCode: code, reason: record.reason.map { .text($0) } ?? .answer(record.lastBody)))
            }
        }
        guard let accessLog else { return }
        accessLog.write(AccessLine.json(record, complete: complete, totalMicroseconds: total, time: timestamp()))
    }

    /// The log's time, its seconds formatted once a second.
    private var formattedSecond = -1
    private var secondText = ""

    func timestamp() -> String {
        let (seconds, millis) = WallClock.now()
        if seconds != formattedSecond {
            formattedSecond = seconds
            secondText = WallClock.faircomTimestamp(seconds) + "."
        }
        return secondText + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis) + "Z"
    }

    /// A request the HTTP server answered itself (malformed, too large, too slow, over the budget).
    /// Counts and logs an answer the HTTP server made itself; returns the request ID it goes out with.
    func serverAnswered(_ answer: ServerAnswer) -> String {
        metrics.countGatewayError(answer.errorCode)
        refusals.add(RecentRefusals.Entry(time: WallClock.now(), client: answer.peerHost ?? "?", username: nil,
                                          errorCode: answer.errorCode, reason: .text("HTTP \(answer.status): \(answer.message)")))
        let requestId = requestId(given: answer.clientRequestId)
        accessLog?.write(AccessLine.json(answer, requestId: requestId))
        return requestId
    }
}

/// Request IDs as nginx's `$request_id` looks: 32 hex digits. A random prefix per loop and process
/// and a counter after it, so making one costs no system call.
struct RequestIDGenerator {
    private let prefix: UInt64
    private var counter: UInt64 = 0

    init(loopIndex: Int) {
        let random = SecureRandom.bytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        prefix = random &+ UInt64(loopIndex)
    }

    mutating func next() -> String {
        counter &+= 1
        return Hex.string(prefix, counter)
    }

    /// 1 to 128 visible ASCII characters, none that could break a header, a log line or JSON.
    static func isAcceptable(_ id: String) -> Bool {
        let bytes = id.utf8
        guard (1...128).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            (0x21...0x7E).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: ",")
        }
    }
}
