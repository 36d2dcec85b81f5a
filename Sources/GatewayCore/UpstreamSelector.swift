import GatewayUpstreams

/// Round-robin over one loop's pools, skipping upstreams known to be unreachable
/// (when all are, it tries them anyway: a request that fails says why).
struct UpstreamSelector {
    let pools: [UpstreamPool]
    private var next = 0

    init(pools: [UpstreamPool]) { self.pools = pools }

    mutating func choose() -> UpstreamPool {
        for offset in 0..<pools.count {
            let pool = pools[(next + offset) % pools.count]
            if pool.target.health != .unhealthy {
                next = (next + offset + 1) % pools.count
                return pool
            }
        }
        defer { next = (next + 1) % pools.count }
        return pools[next % pools.count]
    }
}
