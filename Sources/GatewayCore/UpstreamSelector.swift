import GatewayUpstreams

/// Where a new login goes, on one loop: among the upstreams not down, the one with the fewest
/// requests under way for its weight (`outstanding / weight`); ties, as when nothing is under way,
/// are broken by smooth weighted round-robin, so idle upstreams share logins by weight. When every
/// upstream is down the least loaded is tried anyway, and its failure is what the client sees.
struct UpstreamSelector {
    let pools: [UpstreamPool]
    /// Smooth weighted round-robin credit, per pool.
    private var credit: [Int]

    init(pools: [UpstreamPool]) {
        self.pools = pools
        credit = Array(repeating: 0, count: pools.count)
    }

    mutating func choose() -> UpstreamPool {
        var candidates = pools.indices.filter { pools[$0].target.health != .unhealthy }
        if candidates.isEmpty { candidates = Array(pools.indices) }
        // Least outstanding per weight, compared as cross products to stay in integers.
        func load(_ index: Int) -> (Int, Int) { (pools[index].outstanding, max(1, pools[index].target.settings.health.weight)) }
        var least: [Int] = []
        for index in candidates {
            guard let first = least.first else { least = [index]; continue }
            let (a, wa) = load(index), (b, wb) = load(first)
            if a * wb < b * wa { least = [index] } else if a * wb == b * wa { least.append(index) }
        }
        guard least.count > 1 else { return pools[least[0]] }
        var total = 0, best = least[0]
        for index in least {
            let weight = max(1, pools[index].target.settings.health.weight)
            credit[index] += weight
            total += weight
            if credit[index] > credit[best] { best = index }
        }
        credit[best] -= total
        return pools[best]
    }
}
