import Testing
@testable import GatewayHTTPServer

@Suite struct FrameRateLimitTests {
    @Test func aBurstIsAllowedThenTheRateRefillsIt() {
        var limit = FrameRateLimit(burst: 3, perSecond: 2, now: 1000)
        var allowed: [Bool] = []
        for _ in 0..<4 { allowed.append(limit.allow(now: 1000)) }
        #expect(allowed == [true, true, true, false], "the fourth frame at once is over the burst")
        let early = limit.allow(now: 1400)
        #expect(!early, "0.4 s refills 0.8 of a frame at 2 per second")
        let refilled = limit.allow(now: 1500), next = limit.allow(now: 1500)
        #expect(refilled && !next)
        #expect(limit.isFull(now: 1500 + 1500), "1.5 s at 2 per second refills all 3")
        #expect(!limit.isFull(now: 1500 + 1000))
    }

    @Test func aClockThatGoesBackNeverAddsFrames() {
        var limit = FrameRateLimit(burst: 1, perSecond: 1000, now: 5000)
        let first = limit.allow(now: 5000), earlier = limit.allow(now: 4000)
        #expect(first && !earlier)
    }

    @Test func eachAddressHasItsOwnAllowanceAcrossConnections() {
        let limits = AddressFrameLimits()
        #expect(!limits.mayBeExhausted(now: 0))
        for _ in 0..<5 { #expect(limits.allow("10.0.0.1", burst: 5, perSecond: 1, now: 0)) }
        #expect(!limits.allow("10.0.0.1", burst: 5, perSecond: 1, now: 0))
        #expect(limits.isExhausted("10.0.0.1", now: 10))
        #expect(limits.mayBeExhausted(now: 10), "a flood was seen: new connections are looked up")
        #expect(!limits.isExhausted("10.0.0.2", now: 10), "another address is untouched")
        #expect(limits.allow("10.0.0.2", burst: 5, perSecond: 1, now: 10))
        #expect(!limits.isExhausted("10.0.0.1", now: 1100), "a second later one frame is allowed again")
        #expect(!limits.mayBeExhausted(now: 3000))
    }

    @Test func theAddressTableStaysBounded() {
        let limits = AddressFrameLimits()
        for index in 0...(AddressFrameLimits.capacity + 10) {
            _ = limits.allow("address-\(index)", burst: 2, perSecond: 1, now: Int64(index / 1000))
        }
        // Every bucket above was nearly full; an exhausted address after the purge still counts.
        for _ in 0..<2 { _ = limits.allow("flooder", burst: 2, perSecond: 1, now: 20) }
        #expect(limits.isExhausted("flooder", now: 20))
    }
}

@Suite struct BodyBudgetTests {
    @Test func claimsGrowUpToTheLimitAndComeBackWhenTheBodyIsDropped() {
        let budget = BodyBudget(limit: 1 << 20)
        var first: BodyClaim? = BodyClaim(budget)
        #expect(first!.cover(400_000))
        #expect(first!.cover(800_000), "a claim grows to what its body holds")
        #expect(budget.inUse == 800_000)
        let second = BodyClaim(budget)
        #expect(!second.cover(200_000), "a large body may not take the small bodies' eighth")
        #expect(second.cover(60_000), "a small body may")
        #expect(budget.inUse == 860_000)
        first = nil
        #expect(budget.inUse == 60_000, "a dropped body gives its bytes back")
        #expect(second.cover(500_000))
        #expect(second.refusal.contains("limits.maxBufferedBodyBytes"))
    }

    @Test func theBudgetIsExactUnderConcurrentClaims() async {
        let budget = BodyBudget(limit: 8 << 20)
        var held: [BodyClaim] = await withTaskGroup(of: BodyClaim?.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    let claim = BodyClaim(budget)
                    return claim.cover(1 << 20) ? claim : nil
                }
            }
            return await group.reduce(into: []) { if let claim = $1 { $0.append(claim) } }
        }
        #expect(held.count == 7, "seven 1 MiB bodies fit in the large bodies' seven eighths of 8 MiB, and no more")
        #expect(budget.inUse == 7 << 20)
        held.removeAll()
        #expect(budget.inUse == 0)
    }
}
