import Dispatch
import GatewayEventLoop
import GatewaySystem
import Synchronization

/// Gives freed heap memory back to the system after a burst (request bodies, answers queued for
/// slow readers, many connections). Buffers above 1 MiB are unmapped as soon as they are freed
/// (`ProcessSetup.returnLargeBuffersToSystem`); smaller ones leave free pages inside malloc's
/// arenas, which only `malloc_trim` returns.
///
/// Every two seconds it trims when malloc holds at least 4 MiB free and, since the last trim,
/// either that free memory or the process's resident size has grown by 4 MiB. Neither alone tells:
/// a trimmed page still counts as free, so a page reused and freed again is resident again
/// without the free count moving; and a trim during a burst leaves a resident size that only
/// the burst's end, seen as new free memory, brings down. A steady load moves neither and never
/// pays for a trim; a burst is returned within seconds of its end, whatever held the memory.
/// The check and the trim run off the loops (a trim takes milliseconds on a large heap).
final class MemoryTrimmer: TimerHandler {
    private let loop: EventLoop
    private let worker = DispatchQueue(label: "gateway.memory-trimmer", qos: .background)
    private let heap = HeapTrim()
    static let intervalMilliseconds: Int64 = 2000
    static let worthTrimmingBytes = 4 << 20

    init(loop: EventLoop) {
        self.loop = loop
    }

    func start() {
        _ = loop.schedule(after: Self.intervalMilliseconds, handler: self)
    }

    func timerFired(_ tag: Int) {
        worker.async { [heap] in heap.trimIfWorthIt() }
        _ = loop.schedule(after: Self.intervalMilliseconds, handler: self)
    }
}

/// What the last trim left; its checks run one at a time on the trimmer's queue.
private final class HeapTrim: Sendable {
    private struct Mark { var free = 0, resident = 0 }
    private let afterLastTrim = Mutex(Mark())

    func trimIfWorthIt() {
        let free = ProcessSetup.heapFreeBytes
        guard free >= MemoryTrimmer.worthTrimmingBytes, let resident = ProcessSetup.residentBytes else { return }
        let step = MemoryTrimmer.worthTrimmingBytes
        afterLastTrim.withLock { last in
            if free >= last.free + step || resident >= last.resident + step {
                ProcessSetup.returnFreedMemory()
                last = Mark(free: free, resident: ProcessSetup.residentBytes ?? resident)
            } else {
                last = Mark(free: min(last.free, free), resident: min(last.resident, resident))
            }
        }
    }
}
