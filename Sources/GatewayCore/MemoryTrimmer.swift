import Dispatch
import GatewayEventLoop
import GatewayHTTPServer
import GatewaySystem

/// Gives freed heap memory back to the system after a burst of request bodies. Bodies above
/// 1 MiB are unmapped as soon as they are freed (`ProcessSetup.returnLargeBuffersToSystem`);
/// many smaller ones (HTTP/2 streams, chunked pieces) leave free pages inside malloc's arenas,
/// which only `malloc_trim` returns. It runs at most every two seconds, and only when the
/// bodies held have fallen well below their recent peak, so a steady load never pays for it. The
/// trim itself runs off the loops (it takes milliseconds on a large heap).
final class MemoryTrimmer: TimerHandler {
    private let loop: EventLoop
    private let budget: BodyBudget
    static let intervalMilliseconds: Int64 = 2000
    static let worthTrimmingBytes = 4 << 20

    init(loop: EventLoop, budget: BodyBudget) {
        self.loop = loop
        self.budget = budget
    }

    func start() {
        _ = loop.schedule(after: Self.intervalMilliseconds, handler: self)
    }

    func timerFired(_ tag: Int) {
        let peak = budget.takePeak()
        if peak >= Self.worthTrimmingBytes && budget.inUse < peak / 4 {
            DispatchQueue.global(qos: .background).async { ProcessSetup.returnFreedMemory() }
        }
        _ = loop.schedule(after: Self.intervalMilliseconds, handler: self)
    }
}
