import GatewayMetrics
import GatewaySystem
import Synchronization

/// What the journal has done, for /metrics. Written on the journal's own queue, read by a scrape:
/// a Mutex taken once per batch written, never per request.
public final class JournalStatistics: Sendable {
    public struct Figures: Sendable {
        /// Records on disk (each an opened, altered or closed session).
        public var recordsAppended = 0
        /// Batches made durable: one fsync each.
        public var batches = 0
        public var writeFailures = 0
        public var compactions = 0
        public var compactionFailures = 0
        /// The time of each durable append, fsync included.
        public var syncDuration = Histogram()
    }

    private let state = Mutex(Figures())

    public init() {}

    public var figures: Figures { state.withLock { $0 } }

    func batchWritten(records: Int, microseconds: Int64) {
        state.withLock { figures in
            figures.recordsAppended += records
            figures.batches += 1
            figures.syncDuration.observe(microseconds: microseconds)
        }
    }

    func writeFailed() { state.withLock { $0.writeFailures += 1 } }

    func compacted(ok: Bool) {
        state.withLock { figures in
            if ok { figures.compactions += 1 } else { figures.compactionFailures += 1 }
        }
    }
}
