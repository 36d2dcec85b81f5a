import Dispatch
import GatewayConfig
import GatewaySessions
import GatewaySystem
import Synchronization
import Testing

@Suite struct SessionTableTests {
    static let settings = SessionSettings(defaults: JSONActionAPIDefaults())

    static func open(_ table: SessionTable, _ username: String, from address: String = "10.0.0.1", idle: Int = 3600,
                     now: Int64 = 0) -> (token: String, snapshot: SessionSnapshot)? {
        guard case .success(let reservation) = table.reserve(username: username, address: address) else { return nil }
        var settings = Self.settings
        settings.idleConnectionTimeoutSeconds = idle
        let token = SessionToken.generate()
        let snapshot = table.commit(reservation, digest: TokenDigest(token: token), username: username, clientAddress: address,
                                    upstream: "u", upstreamToken: "upstream-\(token)", settings: settings, startedAt: 0, now: now)
        return (token, snapshot)
    }

    @Test func concurrentLoginsNeverExceedThePerUsernameLimit() {
        let table = SessionTable(limits: SessionLimits(maxSessions: 1000, maxPerAddress: 1000, maxPerUsername: 7), now: 0)
        let granted = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 200) { i in
            if case .success(let reservation) = table.reserve(username: "bob", address: "10.0.0.\(i % 250)") {
                granted.add(1, ordering: .relaxed)
                // Half of them fail upstream and give their place back; the rest become sessions.
                if i % 2 == 0 { table.cancel(reservation) } else {
                    table.commit(reservation, digest: TokenDigest(token: "t\(i)"), username: "bob", clientAddress: "x", upstream: "u",
                                 upstreamToken: "x", settings: Self.settings, startedAt: 0, now: 0)
                }
            }
        }
        #expect(table.count <= 7)
        #expect(granted.load(ordering: .relaxed) >= 7)
        // Whatever the interleaving, the table fills up to the limit exactly and no further.
        while case .success(let r) = table.reserve(username: "BOB", address: "10.9.9.9") {
            table.commit(r, digest: TokenDigest(token: SessionToken.generate()), username: "bob", clientAddress: "x", upstream: "u",
                         upstreamToken: "x", settings: Self.settings, startedAt: 0, now: 0)
        }
        #expect(table.count == 7)
        #expect(table.reserve(username: "bob", address: "10.9.9.9") == .failure(.perUsername(limit: 7, username: "bob")))
    }

    @Test func eachLimitRefusesWithItsOwnReason() {
        let table = SessionTable(limits: SessionLimits(maxSessions: 3, maxPerAddress: 2, maxPerUsername: 2,
                                                       exemptAddresses: [AddressRange("192.168.0.0/16")!]), now: 0)
        #expect(Self.open(table, "a", from: "10.0.0.1") != nil)
        #expect(Self.open(table, "b", from: "10.0.0.1") != nil)
        #expect(table.reserve(username: "c", address: "10.0.0.1") == .failure(.perAddress(limit: 2, address: "10.0.0.1")))
        #expect(table.reserve(username: "a", address: "192.168.1.1").map { _ in true } == .success(true))
        #expect(table.reserve(username: "z", address: "192.168.1.2") == .failure(.total(limit: 3)))
    }

    @Test func exemptAddressesSkipThePerAddressLimit() {
        let table = SessionTable(limits: SessionLimits(maxSessions: 100, maxPerAddress: 1, maxPerUsername: 100,
                                                       exemptAddresses: [AddressRange("192.168.0.0/16")!]), now: 0)
        for i in 0..<5 { #expect(Self.open(table, "u\(i)", from: "192.168.7.7") != nil) }
        #expect(Self.open(table, "x", from: "10.1.1.1") != nil)
        #expect(Self.open(table, "y", from: "10.1.1.1") == nil)
    }

    @Test func idleSessionsExpireAndUseKeepsThemAlive() throws {
        let table = SessionTable(limits: SessionLimits(maxSessions: 10, maxPerAddress: 10, maxPerUsername: 10), now: 0)
        let idle = try #require(Self.open(table, "idle", idle: 2))
        let busy = try #require(Self.open(table, "busy", idle: 2))
        let forever = try #require(Self.open(table, "forever", idle: 0))
        #expect(table.expire(now: 1500).isEmpty)
        #expect(table.touch(busy.snapshot.digest, now: 1500) != nil)
        let expired = table.expire(now: 3100)
        #expect(expired.map(\.username) == ["idle"])
        #expect(table.find(idle.snapshot.digest) == nil)
        #expect(table.expire(now: 3600).isEmpty, "the busy one was used at 1.5 s and lives until 3.5 s at least")
        #expect(table.expire(now: 4600).map(\.username) == ["busy"])
        #expect(table.expire(now: 10_000_000).isEmpty)
        #expect(table.find(forever.snapshot.digest) != nil)
        // Expired sessions give their places back.
        #expect(table.count == 1)
    }

    @Test func removeAndAlter() throws {
        let table = SessionTable(limits: SessionLimits(maxSessions: 10, maxPerAddress: 10, maxPerUsername: 1), now: 0)
        let session = try #require(Self.open(table, "bob", idle: 1))
        var settings = session.snapshot.settings
        settings.idleConnectionTimeoutSeconds = 0
        settings.description = "changed"
        #expect(table.alter(session.snapshot.digest, settings: settings, now: 0)?.settings.description == "changed")
        #expect(table.expire(now: 60_000).isEmpty, "timeout 0 never expires")
        #expect(table.remove(session.snapshot.digest)?.username == "bob")
        #expect(table.remove(session.snapshot.digest) == nil)
        #expect(Self.open(table, "bob") != nil, "the username's place was given back")
    }
}
