import GatewayEventLoop
import GatewayJSON

/// One gateway session, as the table holds it. Only the table touches it, under its lock;
/// everyone else sees a `SessionSnapshot`. Kept small: 100,000 sessions must fit in 64 MiB.
final class Session {
    // Field order and widths keep the object at 200 bytes, its upstream token included (a
    // 208-byte malloc chunk): at a million sessions every 16 bytes here is 15 MiB.
    let digest: TokenDigest
    let username: String
    let clientAddress: String
    let upstream: String
    /// As bytes: every forwarded request splices and searches for it; a String would be converted each time.
    private let upstreamTokenBytes: InlineToken
    /// Wall-clock seconds since 1970 (a UInt32 lasts until 2106).
    private let startedAtSeconds: UInt32
    /// False when the client address is exempt from the per-address limit (not counted).
    let addressCounted: Bool
    /// Shared with other sessions that have the same settings (most logins of an application do).
    var shared: SharedSettings
    /// Monotonic milliseconds of the last request; the idle timer compares against it lazily.
    var lastAccessedMilliseconds: Int64
    var timer = TimerID.none

    init(digest: TokenDigest, username: String, clientAddress: String, addressCounted: Bool, upstream: String,
         upstreamToken: String, shared: SharedSettings, startedAt: Int, now: Int64) {
        self.digest = digest
        self.username = username
        self.clientAddress = clientAddress
        self.addressCounted = addressCounted
        self.upstream = upstream
        upstreamTokenBytes = InlineToken(upstreamToken.utf8)
        self.shared = shared
        startedAtSeconds = UInt32(clamping: startedAt)
        lastAccessedMilliseconds = now
    }

    var startedAt: Int { Int(startedAtSeconds) }
    var upstreamToken: [UInt8] { upstreamTokenBytes.bytes }
    var settings: SessionSettings { shared.value }
    var countedAddress: String? { addressCounted ? clientAddress : nil }

    /// `wallOffset` turns monotonic milliseconds into wall-clock milliseconds.
    func snapshot(wallOffset: Int64) -> SessionSnapshot {
        SessionSnapshot(digest: digest, username: username, clientAddress: clientAddress, upstream: upstream,
                        upstreamToken: String(decoding: upstreamToken, as: UTF8.self), sharedSettings: shared, startedAt: startedAt,
                        // The start is wall-clock seconds and the stamp monotonic: never report use before the start.
                        lastAccessedAt: max(startedAt, Int((lastAccessedMilliseconds + wallOffset) / 1000)))
    }
}

/// Settings several sessions share, so that each holds one reference instead of a copy (and a
/// snapshot carries the reference, not a copy, on every request). Immutable.
public final class SharedSettings: Sendable {
    public let value: SessionSettings
    public init(_ value: SessionSettings) { self.value = value }
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
    public let sharedSettings: SharedSettings
    public var settings: SessionSettings { sharedSettings.value }
    public let startedAt: Int
    public let lastAccessedAt: Int

    public init(digest: TokenDigest, username: String, clientAddress: String, upstream: String, upstreamToken: String,
                settings: SessionSettings, startedAt: Int, lastAccessedAt: Int? = nil) {
        self.init(digest: digest, username: username, clientAddress: clientAddress, upstream: upstream, upstreamToken: upstreamToken,
                  sharedSettings: SharedSettings(settings), startedAt: startedAt, lastAccessedAt: lastAccessedAt)
    }

    public init(digest: TokenDigest, username: String, clientAddress: String, upstream: String, upstreamToken: String,
                sharedSettings: SharedSettings, startedAt: Int, lastAccessedAt: Int? = nil) {
        self.digest = digest
        self.username = username
        self.clientAddress = clientAddress
        self.upstream = upstream
        self.upstreamToken = upstreamToken
        self.sharedSettings = sharedSettings
        self.startedAt = startedAt
        self.lastAccessedAt = lastAccessedAt ?? startedAt
    }

    /// The same session with other settings (an alterSession record replayed).
    func with(settings: SessionSettings) -> SessionSnapshot {
        SessionSnapshot(digest: digest, username: username, clientAddress: clientAddress, upstream: upstream,
                        upstreamToken: upstreamToken, settings: settings, startedAt: startedAt, lastAccessedAt: lastAccessedAt)
    }
}
