import GatewayEventLoop
import GatewaySessions

/// Once a second, on the first loop, ends the sessions idle past their timeout: each is
/// journaled as closed and its upstream session is closed too. The table's wheel hands back only
/// the sessions that came due, so a tick costs nothing for the rest.
final class SessionExpiry: TimerHandler {
    static let intervalMilliseconds: Int64 = 1000
    private let handler: JSONActionHandler

    init(handler: JSONActionHandler) { self.handler = handler }

    func start() { _ = handler.loop.schedule(after: Self.intervalMilliseconds, handler: self) }

    func timerFired(_ tag: Int) {
        if let store = handler.fleetStore {
            // Only this gateway's copy idled out; the fleet's deadline in Redis decides the session's end.
            for session in handler.services.table.expire(now: handler.loop.now) { store.fleet.cache.forget(session.digest) }
            start()
            return
        }
        for session in handler.services.table.expire(now: handler.loop.now) {
            handler.services.record(.closed(session.digest))
            handler.recorder.metrics.sessionsExpired += 1
            handler.closeUpstreamSession(of: session, reason: "idle timeout")
            handler.logger.info("session \(session.digest.fingerprint) of '\(session.username)' expired after \(session.settings.idleConnectionTimeoutSeconds) s idle")
        }
        start()
    }
}
