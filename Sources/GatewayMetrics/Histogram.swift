/// A latency histogram with fixed buckets, in microseconds, as Prometheus's `histogram` type
/// exposes it (cumulative `le` buckets, a sum and a count). Plain value: each loop keeps its own
/// and a scrape adds them up, so recording costs no lock and no atomic.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds in microseconds: 100 µs to 30 s, roughly ×2.5 apart.
    public static let boundsMicroseconds: [Int64] = [
        100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
    ]

    /// Per bucket, not cumulative; the last slot counts what is above every bound (+Inf).
    public private(set) var counts: [Int]
    public private(set) var sumMicroseconds: Int64 = 0
    public private(set) var count = 0

    public init() { counts = Array(repeating: 0, count: Self.boundsMicroseconds.count + 1) }

    public mutating func observe(microseconds: Int64) {
        let value = max(0, microseconds)
        var index = 0
        let bounds = Self.boundsMicroseconds
        while index < bounds.count && value > bounds[index] { index += 1 }
        counts[index] += 1
        sumMicroseconds &+= value
        count += 1
    }

    public mutating func add(_ other: Histogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        sumMicroseconds &+= other.sumMicroseconds
        count += other.count
    }

    /// The value below which `fraction` of the observations fall, as the upper bound of its bucket
    /// (nil when empty). Coarse, as Prometheus's histogram_quantile is; for the status page.
    public func quantileMicroseconds(_ fraction: Double) -> Int64? {
        guard count > 0 else { return nil }
        let wanted = Int((Double(count) * fraction).rounded(.up))
        var seen = 0
        for (index, n) in counts.enumerated() {
            seen += n
            if seen >= wanted { return index < Self.boundsMicroseconds.count ? Self.boundsMicroseconds[index] : nil }
        }
        return nil
    }
}
