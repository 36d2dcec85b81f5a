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
}

/// State shared by the stub's loops: accounts, live sessions, faults and counters.
/// A mutex is enough here: the stub is a test double, not the product's hot path.
public final class StubState: Sendable {
    public let accounts: [String: String]
    /// Whether createSession with permanentSession: true is accepted (FairCom's enablePermanentJsonApiSessions).
    public let allowsPermanentSessions: Bool
    /// Random bytes in each token: 48 gives FairCom's 64 characters; tests vary it.
    public let tokenBytes: Int
    private let sessions = Mutex<[String: StubSession]>([:])
    private let faultSetting: Mutex<StubFaults>
    private let requestCount = Atomic<Int>(0)

    public init(accounts: [String: String], faults: StubFaults = StubFaults(), allowsPermanentSessions: Bool = true, tokenBytes: Int = 48) {
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
    func countRequest() { requestCount.wrappingAdd(1, ordering: .relaxed) }

    /// Checks the credentials and opens a session; nil when they are wrong.
    func login(username: String, password: String, idleConnectionTimeoutSeconds: Int, idleCursorTimeoutSeconds: Int,
               permanent: Bool) -> String? {
        guard let expected = accounts[username], expected == password else { return nil }
        let token = SecureRandom.urlSafeToken(byteCount: tokenBytes)
        let session = StubSession(username: username, idleConnectionTimeoutSeconds: idleConnectionTimeoutSeconds,
                                  permanentSession: permanent, idleCursorTimeoutSeconds: idleCursorTimeoutSeconds)
        sessions.withLock { $0[token] = session }
        return token
    }

    func username(for token: String) -> String? { sessions.withLock { $0[token]?.username } }

    func alter(_ token: String, idleCursorTimeoutSeconds: Int) {
        sessions.withLock { $0[token]?.idleCursorTimeoutSeconds = idleCursorTimeoutSeconds }
    }

    /// Every live session, for tests.
    public var liveSessions: [StubSession] { sessions.withLock { Array($0.values) } }

    func logout(_ token: String) -> Bool { sessions.withLock { $0.removeValue(forKey: token) != nil } }

    public var sessionCount: Int { sessions.withLock { $0.count } }
}
