import GatewayJSON
import GatewaySystem
import Synchronization

/// How the stub misbehaves on `/api`, switched at run time by tests.
public struct StubFaults: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Answer normally.
        case none
        /// Close the connection without answering.
        case close
        /// Answer HTTP 500 with a plain-text body.
        case http500
        /// Keep the connection open and never answer.
        case hang
    }
    public var mode: Mode = .none
    /// Added before every answer.
    public var latencyMilliseconds: Int = 0

    public init(mode: Mode = .none, latencyMilliseconds: Int = 0) {
        self.mode = mode
        self.latencyMilliseconds = latencyMilliseconds
    }
}

/// What the stub remembers of one of its sessions (tests read it back from /stub/sessions).
public struct StubSession: Sendable {
    public let username: String
    public let idleConnectionTimeoutSeconds: Int
    public let permanentSession: Bool
    public var idleCursorTimeoutSeconds: Int
    /// The default* settings the session was given (createSession, then alterSession), as params.
    public var settings: [(String, JSONValue)] = []

    func setting(_ key: String) -> JSONValue? { settings.last { $0.0 == key }?.1 }
}

/// State shared by the stub's loops: accounts, live sessions, faults and counters.
/// A mutex is enough here: the stub is a test double, not the product's hot path.
public final class StubState: Sendable {
    public let accounts: [String: String]
    /// Whether createSession with permanentSession: true is accepted (FairCom's enablePermanentJsonApiSessions).
    public let allowsPermanentSessions: Bool
    /// FairCom's own maxJsonApiSessionsPerIpAddress as the stub plays it: behind a gateway every
    /// session comes from one address, so this caps them all. 0: no limit.
    public let maxSessionsPerAddress: Int
    /// Random bytes in each token: 48 gives FairCom's 64 characters; tests vary it.
    public let tokenBytes: Int
    /// Like a FairCom server's hostUuid: the same for every session of this process.
    public let hostUuid = SecureRandom.urlSafeToken(byteCount: 12)
    private let sessions = Mutex<[String: StubSession]>([:])
    private let faultSetting: Mutex<StubFaults>
    private let requestCount = Atomic<Int>(0)
    /// The last bodies received on /api, oldest first, exactly as they arrived (tests compare them).
    private let recent = Mutex<[[UInt8]]>([])
    static let recentLimit = 32

    public init(accounts: [String: String], faults: StubFaults = StubFaults(), allowsPermanentSessions: Bool = true, tokenBytes: Int = 48,
                maxSessionsPerAddress: Int = 0) {
        self.maxSessionsPerAddress = maxSessionsPerAddress
        self.accounts = accounts
        self.tokenBytes = tokenBytes
        self.allowsPermanentSessions = allowsPermanentSessions
        faultSetting = Mutex(faults)
    }

    public var faults: StubFaults {
        get { faultSetting.withLock { $0 } }
        set { faultSetting.withLock { $0 = newValue } }
    }

    public var requests: Int { requestCount.load(ordering: .relaxed) }
    private let healthCheckCount = Atomic<Int>(0)
    public var healthChecks: Int { healthCheckCount.load(ordering: .relaxed) }
    func countHealthCheck() { healthCheckCount.wrappingAdd(1, ordering: .relaxed) }
    func countRequest(_ body: [UInt8]) {
        requestCount.wrappingAdd(1, ordering: .relaxed)
        recent.withLock { list in
            list.append(body)
            if list.count > Self.recentLimit { list.removeFirst(list.count - Self.recentLimit) }
        }
    }

    public var recentRequests: [[UInt8]] { recent.withLock { $0 } }

    /// The headers of recent JSON Action requests that say who sent them and why (tests read
    /// them back from /stub/headers to see what a proxy in front added).
    private let recentHeaderFields = Mutex<[[(String, String)]]>([])
    static let reportedHeaders: Set<String> = ["x-forwarded-for", "x-forwarded-proto", "forwarded", "x-request-id", "traceparent", "user-agent"]

    func noteHeaders(_ fields: [(name: String, value: String)]) {
        let kept = fields.filter { Self.reportedHeaders.contains($0.name.lowercased()) }.map { ($0.name.lowercased(), $0.value) }
        recentHeaderFields.withLock { list in
            list.append(kept)
            if list.count > Self.recentLimit { list.removeFirst(list.count - Self.recentLimit) }
        }
    }

    public var recentHeaders: [[(String, String)]] { recentHeaderFields.withLock { $0 } }

    /// Checks the credentials and opens a session; nil when they are wrong.
    func login(username: String, password: String, idleConnectionTimeoutSeconds: Int, idleCursorTimeoutSeconds: Int,
               permanent: Bool, settings: [(String, JSONValue)]) -> String? {
        guard let expected = accounts[username], expected == password else { return nil }
        let token = SecureRandom.urlSafeToken(byteCount: tokenBytes)
        let session = StubSession(username: username, idleConnectionTimeoutSeconds: idleConnectionTimeoutSeconds,
                                  permanentSession: permanent, idleCursorTimeoutSeconds: idleCursorTimeoutSeconds, settings: settings)
        sessions.withLock { $0[token] = session }
        return token
    }

    func username(for token: String) -> String? { sessions.withLock { $0[token]?.username } }

    func session(for token: String) -> StubSession? { sessions.withLock { $0[token] } }

    /// alterSession: later settings replace earlier ones of the same name.
    func alter(_ token: String, settings: [(String, JSONValue)]) -> StubSession? {
        sessions.withLock { all in
            guard var session = all[token] else { return nil }
            for (key, value) in settings {
                session.settings.removeAll { $0.0 == key }
                session.settings.append((key, value))
                if key == "idleCursorTimeoutSeconds", let cursor = value.intValue { session.idleCursorTimeoutSeconds = cursor }
            }
            all[token] = session
            return session
        }
    }

    /// Every live session, for tests.
    public var liveSessions: [StubSession] { sessions.withLock { Array($0.values) } }

    func logout(_ token: String) -> Bool { sessions.withLock { $0.removeValue(forKey: token) != nil } }

    public var sessionCount: Int { sessions.withLock { $0.count } }
}
