import GatewayEventLoop
import GatewayJSON

/// One gateway session, as the table holds it. Only the table touches it, under its lock;
/// everyone else sees a `SessionSnapshot`.
final class Session {
    let digest: TokenDigest
    let username: String
    /// The client address the per-IP limit counted, or nil when that address is exempt.
    let countedAddress: String?
    let clientAddress: String
    let upstream: String
    let upstreamToken: String
    var settings: SessionSettings
    /// Wall-clock seconds since 1970.
    let startedAt: Int
    var lastAccessedAt: Int
    /// Monotonic milliseconds of the last request; the idle timer compares against it lazily.
    var lastAccessedMilliseconds: Int64
    var timer = TimerID.none

    init(digest: TokenDigest, username: String, countedAddress: String?, clientAddress: String, upstream: String,
         upstreamToken: String, settings: SessionSettings, startedAt: Int, now: Int64) {
        self.digest = digest
        self.username = username
        self.countedAddress = countedAddress
        self.clientAddress = clientAddress
        self.upstream = upstream
        self.upstreamToken = upstreamToken
        self.settings = settings
        self.startedAt = startedAt
        lastAccessedAt = startedAt
        lastAccessedMilliseconds = now
    }

    var snapshot: SessionSnapshot {
        SessionSnapshot(digest: digest, username: username, clientAddress: clientAddress, upstream: upstream,
                        upstreamToken: upstreamToken, settings: settings, startedAt: startedAt, lastAccessedAt: lastAccessedAt)
    }
}

/// The table's idle wheel hands expired sessions back from `advance`; it never calls them.
extension Session: TimerHandler {
    func timerFired(_ tag: Int) {}
}

/// A copy of a session's state, safe to carry to any thread; also what the journal stores and
/// reads back (where `lastAccessedAt` is the start).
public struct SessionSnapshot: Sendable {
    public let digest: TokenDigest
    public let username: String
    public let clientAddress: String
    /// The upstream the session is pinned to, by name.
    public let upstream: String
    /// The upstream's own token for this session: never shown to a client.
    public let upstreamToken: String
    public let settings: SessionSettings
    public let startedAt: Int
    public let lastAccessedAt: Int

    public init(digest: TokenDigest, username: String, clientAddress: String, upstream: String, upstreamToken: String,
                settings: SessionSettings, startedAt: Int, lastAccessedAt: Int? = nil) {
        self.digest = digest
        self.username = username
        self.clientAddress = clientAddress
        self.upstream = upstream
        self.upstreamToken = upstreamToken
        self.settings = settings
        self.startedAt = startedAt
        self.lastAccessedAt = lastAccessedAt ?? startedAt
    }

    /// The same session with other settings (an alterSession record replayed).
    func with(settings: SessionSettings) -> SessionSnapshot {
        SessionSnapshot(digest: digest, username: username, clientAddress: clientAddress, upstream: upstream,
                        upstreamToken: upstreamToken, settings: settings, startedAt: startedAt, lastAccessedAt: lastAccessedAt)
    }
}
