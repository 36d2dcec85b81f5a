import GatewayEventLoop
import GatewayHTTPServer
import GatewaySessions
import GatewaySystem
import GatewayUpstreams
import Synchronization

/// Everything /metrics and the status page show, gathered at one moment: each loop's counts
/// (copied on that loop) added up, and the shared state read directly.
struct GatewayFigures {
    struct ListenerFigures {
        let name: String
        let address: String
        let secure: Bool
        let open: Int
        let accepted: Int
        let counters: [(ListenerStatistics.Counter, Int)]
    }

    struct UpstreamFigures {
        let name: String
        let address: String
        let health: UpstreamTarget.Health
        let pool: MetricsCounts.PoolFigures
    }

    var counts = MetricsCounts()
    var listeners: [ListenerFigures] = []
    var upstreams: [UpstreamFigures] = []
    var sessions: SessionTally?
    /// Fleet mode: whether Redis answers, and how many gateways it saw alive in the last minute.
    var fleet: (redisAvailable: Bool, gateways: Int)?
    var journal: JournalStatistics.Figures?
    var bufferedBodyBytes = 0
    var maxBufferedBodyBytes = 0
    var startedAtSeconds = 0
    var refusals: [RecentRefusals.Entry] = []
    var reloadsApplied = 0
    var reloadsRefused = 0
}

/// What the admin handlers on every loop share: the loops' handlers to gather from, and the
/// gateway-wide state they report.
final class FiguresSource: @unchecked Sendable {
    // @unchecked: `handlers` are each touched only on their own loop, through LoopCallback.
    let handlers: [JSONActionHandler]
    typealias ListenerEntry = (name: String, address: String, secure: Bool, counter: ConnectionCounter, statistics: ListenerStatistics)
    /// What a reload changes: the listeners and upstreams there are.
    private let current: Mutex<(listeners: [ListenerEntry], targets: [UpstreamTarget])>
    let services: SessionServices
    let bodyBudget: BodyBudget?
    let refusals: RecentRefusals
    let reloads: ReloadCounters
    let startedAtSeconds = WallClock.nowSeconds()

    init(handlers: [JSONActionHandler], targets: [UpstreamTarget], services: SessionServices, bodyBudget: BodyBudget?,
         refusals: RecentRefusals, reloads: ReloadCounters) {
        self.handlers = handlers
        current = Mutex(([], targets))
        self.services = services
        self.bodyBudget = bodyBudget
        self.refusals = refusals
        self.reloads = reloads
    }

    var listeners: [ListenerEntry] { current.withLock { $0.listeners } }
    var targets: [UpstreamTarget] { current.withLock { $0.targets } }
    func setListeners(_ listeners: [ListenerEntry]) { current.withLock { $0.listeners = listeners } }
    func setTargets(_ targets: [UpstreamTarget]) { current.withLock { $0.targets = targets } }

    /// Copies every loop's counts on its loop, adds them up on `loop`, then calls `completion` there.
    func gather(on loop: EventLoop, top: Int, _ completion: @escaping (GatewayFigures) -> Void) {
        var total = MetricsCounts()
        var remaining = handlers.count
        let collect = loop.callback { [self] (counts: MetricsCounts) in
            total.add(counts)
            remaining -= 1
            if remaining == 0 { completion(figures(total, top: top)) }
        }
        for handler in handlers {
            let copy = handler.loop.callback { (_: Bool) in collect(handler.countsForScrape()) }
            copy(true)
        }
    }

    private func figures(_ counts: MetricsCounts, top: Int) -> GatewayFigures {
        var figures = GatewayFigures()
        figures.counts = counts
        figures.listeners = listeners.map { entry in
            GatewayFigures.ListenerFigures(name: entry.name, address: entry.address, secure: entry.secure,
                                           open: entry.counter.current, accepted: entry.counter.acceptedTotal,
                                           counters: ListenerStatistics.Counter.allCases.map { ($0, entry.statistics[$0]) })
        }
        figures.upstreams = targets.map { target in
            GatewayFigures.UpstreamFigures(name: target.name, address: target.address.description, health: target.health,
                                           pool: counts.pools[target.name] ?? MetricsCounts.PoolFigures())
        }
        figures.sessions = services.table.tally(top: top)
        if let fleet = handlers.first?.fleetStore?.fleet { figures.fleet = (!fleet.isRedisDown, fleet.gatewaysAlive) }
        figures.journal = services.journal?.statistics.figures
        figures.bufferedBodyBytes = bodyBudget?.inUse ?? 0
        figures.maxBufferedBodyBytes = bodyBudget?.limit ?? 0
        figures.startedAtSeconds = startedAtSeconds
        figures.refusals = refusals.entries
        figures.reloadsApplied = reloads.applied.load(ordering: .relaxed)
        figures.reloadsRefused = reloads.refused.load(ordering: .relaxed)
        return figures
    }
}

extension JSONActionHandler {
    /// This loop's counts with its pools' figures, for a scrape; runs on this loop.
    func countsForScrape() -> MetricsCounts {
        var counts = recorder.metrics
        for pool in poolsForScrape {
            counts.pools[pool.target.name, default: MetricsCounts.PoolFigures()].add(MetricsCounts.PoolFigures(
                open: pool.openCount, idle: pool.idleCount, waiting: pool.waitingCount,
                requests: pool.counters.requests, retries: pool.counters.retries,
                timeouts: pool.counters.timeouts, failures: pool.counters.failures))
        }
        return counts
    }
}

/// The last refusals (logins refused, requests the server turned away), newest first, for the
/// status page. Shared by the loops behind a Mutex: a refusal is not a hot path, and a flood of
/// them costs a lock each, not an allocation that grows.
final class RecentRefusals: Sendable {
    struct Entry: Sendable {
        let time: (seconds: Int, milliseconds: Int)
        let client: String
        let username: String?
        let errorCode: Int
        let reason: Reason

        enum Reason: Sendable {
            case text(String)
            /// A refused login's FairCom envelope, its errorMessage read when shown.
            case answer([UInt8])
        }

        var timeText: String {
            let millis = time.milliseconds
            return WallClock.faircomTimestamp(time.seconds) + "." + (millis < 10 ? "00" : millis < 100 ? "0" : "") + String(millis) + "Z"
        }

        var reasonText: String {
            switch reason {
            case .text(let text): text
            case .answer(let bytes): ErrorCodeScan.errorMessage(in: bytes) ?? ""
            }
        }
    }

    static let capacity = 20
    private let ring = Mutex<[Entry]>([])

    func add(_ entry: Entry) {
        ring.withLock { entries in
            entries.insert(entry, at: 0)
            if entries.count > Self.capacity { entries.removeLast() }
        }
    }

    var entries: [Entry] { ring.withLock { $0 } }
}
