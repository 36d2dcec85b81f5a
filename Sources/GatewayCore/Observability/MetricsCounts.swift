import GatewayMetrics

/// The counters and histograms of one loop, as a plain value: the loop's handler owns one and
/// updates it with no lock; a scrape copies each loop's on that loop and adds them up.
struct MetricsCounts: Sendable {
    enum Outcome: Int, CaseIterable, Sendable {
        /// HTTP 200 and errorCode 0.
        case ok
        /// HTTP 200 with a FairCom error.
        case error
        /// Any other HTTP status.
        case httpError
        /// Cut short or dropped (the client left, the upstream broke off).
        case aborted

        var label: String {
            switch self {
            case .ok: "ok"
            case .error: "error"
            case .httpError: "http_error"
            case .aborted: "aborted"
            }
        }
    }

    /// Why a login was refused, as a bounded label.
    enum LoginRefusal: String, CaseIterable, Sendable {
        case maxJsonApiSessions, maxJsonApiSessionsPerIpAddress, maxJsonApiSessionsPerUsername
        case throttled, tooManyInFlight, authentication, upstreamLimit, upstreamFailure, invalidRequest
    }

    /// An upstream's pool on one loop, at the moment of the copy, and what its requests met.
    struct PoolFigures: Sendable {
        var open = 0, idle = 0, waiting = 0
        var requests = 0, retries = 0, timeouts = 0, failures = 0

        mutating func add(_ other: PoolFigures) {
            open += other.open; idle += other.idle; waiting += other.waiting
            requests += other.requests; retries += other.retries; timeouts += other.timeouts; failures += other.failures
        }
    }

    static let distinctErrorCodes = 64

    /// By api, action and outcome, flattened.
    private(set) var requests = [Int](repeating: 0, count: ActionCatalog.apis.count * ActionCatalog.actions.count * Outcome.allCases.count)
    /// Errors the gateway itself answered, by errorCode (or HTTP status for server answers without one).
    private(set) var gatewayErrors: [Int: Int] = [:]
    var requestDuration = Histogram()
    var upstreamDuration = Histogram()
    var gatewayDuration = Histogram()
    var loginsAccepted = 0
    private(set) var loginsRefused: [LoginRefusal: Int] = [:]
    var sessionsExpired = 0
    var ghostsReconciled = 0
    var sessionsLostUpstream = 0
    /// Fleet mode: requests served from the cache while Redis was unreachable, and answered 17038.
    var fleetGraceServed = 0
    var fleetStoreUnavailable = 0
    /// Filled in only in copies made for a scrape.
    var pools: [String: PoolFigures] = [:]

    static func requestIndex(api: Int, action: Int, outcome: Outcome) -> Int {
        (api * ActionCatalog.actions.count + action) * Outcome.allCases.count + outcome.rawValue
    }

    mutating func countRequest(api: Int, action: Int, outcome: Outcome) {
        requests[Self.requestIndex(api: api, action: action, outcome: outcome)] += 1
    }

    /// Error codes come partly from upstreams (a refused login passes theirs on), so their number is capped.
    mutating func countGatewayError(_ code: Int) {
        let key = gatewayErrors[code] != nil || gatewayErrors.count < Self.distinctErrorCodes ? code : -1
        gatewayErrors[key, default: 0] += 1
    }

    mutating func countRefusal(_ reason: LoginRefusal) { loginsRefused[reason, default: 0] += 1 }

    func refusals(_ reason: LoginRefusal) -> Int { loginsRefused[reason] ?? 0 }

    var totalRequests: Int { requests.reduce(0, +) }

    /// Requests whose outcome was not `ok`.
    var unsuccessfulRequests: Int {
        var total = 0
        for (index, count) in requests.enumerated() where index % Outcome.allCases.count != Outcome.ok.rawValue { total += count }
        return total
    }

    mutating func add(_ other: MetricsCounts) {
        for index in requests.indices { requests[index] += other.requests[index] }
        for (code, count) in other.gatewayErrors { gatewayErrors[code, default: 0] += count }
        // Each loop caps its own codes; the sum is capped again, keeping the most frequent.
        if gatewayErrors.count > Self.distinctErrorCodes {
            let kept = gatewayErrors.filter { $0.key != -1 }.sorted { $0.value > $1.value }.prefix(Self.distinctErrorCodes - 1)
            let folded = gatewayErrors.values.reduce(0, +) - kept.reduce(0) { $0 + $1.value }
            gatewayErrors = Dictionary(uniqueKeysWithValues: kept.map { ($0.key, $0.value) })
            gatewayErrors[-1] = folded
        }
        requestDuration.add(other.requestDuration)
        upstreamDuration.add(other.upstreamDuration)
        gatewayDuration.add(other.gatewayDuration)
        loginsAccepted += other.loginsAccepted
        for (reason, count) in other.loginsRefused { loginsRefused[reason, default: 0] += count }
        sessionsExpired += other.sessionsExpired
        ghostsReconciled += other.ghostsReconciled
        sessionsLostUpstream += other.sessionsLostUpstream
        fleetGraceServed += other.fleetGraceServed
        fleetStoreUnavailable += other.fleetStoreUnavailable
        for (name, figures) in other.pools { pools[name, default: PoolFigures()].add(figures) }
    }
}
