import GatewayEventLoop
import GatewayLogging
import GatewaySystem

/// The access-log line of one request, written when it finishes (only when `logging.accessLog` is on).
final class RequestLog {
    private let logger: Logger?
    private let loop: EventLoop
    private let started: Int64
    private let summary: String
    var upstream = "-"
    var status = 0
    var failure: String?

    init(enabled: Bool, logger: Logger, loop: EventLoop, method: String, path: Substring, client: String, protocolName: String) {
        self.logger = enabled ? logger : nil
        self.loop = loop
        started = loop.now
        summary = enabled ? "\(client) \(method) \(path) \(protocolName)" : ""
    }

    func finish() {
        guard let logger else { return }
        let elapsed = MonotonicClock.nowMilliseconds() - started
        logger.info("access \(summary) \(status) upstream=\(upstream) \(elapsed)ms\(failure.map { " error=\"\($0)\"" } ?? "")")
    }
}
