import GatewayConfig
import GatewaySessions
import Testing
@testable import GatewayCore

@Suite struct FleetCacheTests {
    static func session(_ token: String) -> SessionSnapshot {
        SessionSnapshot(digest: TokenDigest(token: token), username: "admin", clientAddress: "127.0.0.1", upstream: "stub0",
                        upstreamToken: "upstream-\(token)", settings: SessionSettings(defaults: JSONActionAPIDefaults()), startedAt: 1_700_000_000)
    }

    /// Two fetches of one session under way, an invalidation between their answers: the second
    /// answer (computed before the deletion) must not put the session back (review finding).
    @Test func anInvalidationSpoilsEveryFetchBegunBeforeIt() {
        let cache = FleetCache(cacheMilliseconds: 10_000)
        let table = SessionTable(limits: SessionLimits(maxSessions: 10, maxPerAddress: 10, maxPerUsername: 10), now: 0)
        let session = Self.session("a")
        let first = cache.beginFetch(session.digest), second = cache.beginFetch(session.digest)
        #expect(cache.finishFetch(session.digest, ticket: first, found: session, startedAt: 0, table: table, now: 0))
        cache.invalidate(session.digest, table: table)
        #expect(!cache.finishFetch(session.digest, ticket: second, found: session, startedAt: 0, table: table, now: 1))
        #expect(!table.contains(session.digest))
        // A fetch begun after the invalidation is believed.
        let third = cache.beginFetch(session.digest)
        #expect(cache.finishFetch(session.digest, ticket: third, found: session, startedAt: 2, table: table, now: 2))
        #expect(table.contains(session.digest))
    }

    /// A fetched session is a use: it is in the next report (review: such uses were lost).
    @Test func aFetchedSessionIsReportedAsUsed() {
        let cache = FleetCache(cacheMilliseconds: 10_000)
        let table = SessionTable(limits: SessionLimits(maxSessions: 10, maxPerAddress: 10, maxPerUsername: 10), now: 0)
        let session = Self.session("b")
        let ticket = cache.beginFetch(session.digest)
        _ = cache.finishFetch(session.digest, ticket: ticket, found: session, startedAt: 0, table: table, now: 0)
        #expect(cache.takeTouched() == [session.digest])
        #expect(cache.takeTouched().isEmpty)
        cache.retouch([session.digest])
        #expect(cache.takeTouched() == [session.digest], "a failed report's sessions go into the next one")
    }

    @Test func freshnessEndsWithTheCacheAgeAndWithALostChannel() {
        let cache = FleetCache(cacheMilliseconds: 1000)
        let digest = TokenDigest(token: "c")
        cache.vouch([digest], at: 100)
        guard case .fresh = cache.use(digest, now: 1100) else { Issue.record("fresh within the age"); return }
        guard case .stale = cache.use(digest, now: 1101) else { Issue.record("stale past the age"); return }
        cache.vouch([digest], at: 1200)
        cache.distrustAll(now: 1300)
        guard case .stale = cache.use(digest, now: 1301) else { Issue.record("stale after the channel was lost"); return }
        cache.vouch([digest], at: 1400)
        guard case .fresh = cache.use(digest, now: 1401) else { Issue.record("fresh once vouched for again"); return }
    }
}
