import GatewayConfig
import GatewaySessions
import Testing

@Suite struct LoginThrottleTests {
    static let rules = LoginThrottleRules(windowSeconds: 60, maxFailuresPerAddress: 6, maxFailuresPerUsernameAndAddress: 3,
                                          backoffSeconds: 30, maxLoginsInFlightPerAddress: 2)

    /// One login from `address` that fails (or succeeds) at `now`.
    static func attempt(_ throttle: LoginThrottle, _ username: String, _ address: String, ok: Bool, at now: Int64) -> LoginThrottleRefusal? {
        if let refusal = throttle.begin(username: username, address: address, nowMilliseconds: now) { return refusal }
        throttle.finish(username: username, address: address, authenticated: ok, nowMilliseconds: now)
        return nil
    }

    @Test func failuresThrottleThePairThenTheAddressButNeverTheAccountElsewhere() {
        let throttle = LoginThrottle(rules: Self.rules)
        for i in 0..<3 { #expect(Self.attempt(throttle, "admin", "10.0.0.9", ok: false, at: Int64(i)) == nil) }
        #expect(Self.attempt(throttle, "admin", "10.0.0.9", ok: false, at: 10) == .throttledPair(username: "admin", address: "10.0.0.9", retryAfterSeconds: 60))
        #expect(Self.attempt(throttle, "ADMIN", "10.0.0.9", ok: true, at: 10) != nil, "the account's case does not matter")
        // The real admin elsewhere is not affected.
        #expect(Self.attempt(throttle, "admin", "10.0.0.1", ok: true, at: 20) == nil)
        // Other accounts from the attacking address, until the address itself is throttled.
        for i in 0..<3 { #expect(Self.attempt(throttle, "user\(i)", "10.0.0.9", ok: false, at: 30) == nil) }
        #expect(Self.attempt(throttle, "someone", "10.0.0.9", ok: true, at: 31) == .throttledAddress(address: "10.0.0.9", retryAfterSeconds: 60))
        #expect(Self.attempt(throttle, "someone", "10.0.0.2", ok: true, at: 31) == nil)
        // The wait ends with the window and the back-off.
        #expect(Self.attempt(throttle, "someone", "10.0.0.9", ok: true, at: 60_001) == nil)
    }

    @Test func aSuccessClearsThePairsFailures() {
        let throttle = LoginThrottle(rules: Self.rules)
        for i in 0..<2 { _ = Self.attempt(throttle, "bob", "10.0.0.3", ok: false, at: Int64(i)) }
        _ = Self.attempt(throttle, "bob", "10.0.0.3", ok: true, at: 5)
        for i in 0..<2 { #expect(Self.attempt(throttle, "bob", "10.0.0.3", ok: false, at: Int64(10 + i)) == nil) }
    }

    @Test func loginsInFlightPerAddressAreCapped() {
        let throttle = LoginThrottle(rules: Self.rules)
        #expect(throttle.begin(username: "a", address: "10.0.0.4", nowMilliseconds: 0) == nil)
        #expect(throttle.begin(username: "b", address: "10.0.0.4", nowMilliseconds: 0) == nil)
        #expect(throttle.begin(username: "c", address: "10.0.0.4", nowMilliseconds: 0) == .tooManyInFlight(address: "10.0.0.4", limit: 2))
        #expect(throttle.begin(username: "c", address: "10.0.0.5", nowMilliseconds: 0) == nil)
        // An answer that says nothing about the password (upstream down) frees the place and counts no failure.
        throttle.finish(username: "a", address: "10.0.0.4", authenticated: nil, nowMilliseconds: 1)
        #expect(throttle.begin(username: "c", address: "10.0.0.4", nowMilliseconds: 1) == nil)
        #expect(throttle.failures(address: "10.0.0.4") == 0)
    }
}
