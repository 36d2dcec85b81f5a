/// `sessions.loginThrottle`: how failed logins are throttled and how many may be in flight.
public struct LoginThrottleRules: Sendable, Equatable {
    /// Failures older than this are forgotten.
    public var windowSeconds: Int
    /// Failed logins from one client address within the window before it must wait.
    public var maxFailuresPerAddress: Int
    /// Failed logins of one account from one address within the window before that pair must wait.
    public var maxFailuresPerUsernameAndAddress: Int
    /// How long a throttled address or pair waits, counted from its last failure.
    public var backoffSeconds: Int
    /// Logins being authenticated at once from one client address.
    public var maxLoginsInFlightPerAddress: Int

    public init(windowSeconds: Int = 60, maxFailuresPerAddress: Int = 30, maxFailuresPerUsernameAndAddress: Int = 5,
                backoffSeconds: Int = 30, maxLoginsInFlightPerAddress: Int = 32) {
        self.windowSeconds = windowSeconds
        self.maxFailuresPerAddress = maxFailuresPerAddress
        self.maxFailuresPerUsernameAndAddress = maxFailuresPerUsernameAndAddress
        self.backoffSeconds = backoffSeconds
        self.maxLoginsInFlightPerAddress = maxLoginsInFlightPerAddress
    }
}


extension LoginThrottleRules {
    static func decode(_ reader: ObjectReader) -> LoginThrottleRules {
        var reader = reader
        var r = LoginThrottleRules()
        r.windowSeconds = reader.int("windowSeconds", default: r.windowSeconds, range: 1...86_400)
        r.maxFailuresPerAddress = reader.int("maxFailuresPerAddress", default: r.maxFailuresPerAddress, range: 1...1_000_000)
        r.maxFailuresPerUsernameAndAddress = reader.int("maxFailuresPerUsernameAndAddress", default: r.maxFailuresPerUsernameAndAddress, range: 1...1_000_000)
        r.backoffSeconds = reader.int("backoffSeconds", default: r.backoffSeconds, range: 0...86_400)
        r.maxLoginsInFlightPerAddress = reader.int("maxLoginsInFlightPerAddress", default: r.maxLoginsInFlightPerAddress, range: 1...100_000)
        reader.finish()
        return r
    }
}
