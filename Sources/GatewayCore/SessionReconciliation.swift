import GatewayEventLoop
import GatewayJSON
import GatewaySessions
import GatewayUpstreams

/// After a restart, confirms each session restored from the journal with its upstream, on the
/// first loop, in the background. An upstream that restarted while the gateway was down no
/// longer knows its sessions: those ghosts would otherwise be listed, and counted against the
/// per-username and per-address limits, until they idle out. Each check is a pingSession with the
/// upstream's token (FairCom answers 12031 for a session it does not know); at most
/// `concurrentChecks` run at once per upstream, started at most every `intervalMilliseconds`,
/// so a large journal does not flood an upstream that has just come back. A session whose
/// upstream is down, or whose check fails in transport, stays pending until it can be asked.
final class SessionReconciliation: TimerHandler {
    static let intervalMilliseconds: Int64 = 50
    static let concurrentChecks = 16
    private let handler: JSONActionHandler
    private let targets: [String: UpstreamTarget]
    /// Restored sessions not yet confirmed, by upstream, in journal order.
    private var pending: [String: [TokenDigest]] = [:]
    private var inFlight: [String: Int] = [:]
    private(set) var confirmed = 0
    private(set) var dropped = 0
    private var reported = false

    init(handler: JSONActionHandler, targets: [UpstreamTarget], restored: [SessionSnapshot]) {
        self.handler = handler
        self.targets = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for session in restored { pending[session.upstream, default: []].append(session.digest) }
    }

    var remaining: Int { pending.values.reduce(0) { $0 + $1.count } + inFlight.values.reduce(0, +) }

    func start() {
        guard remaining > 0 else { return }
        handler.logger.info("confirming \(remaining) restored sessions with their upstreams in the background")
        _ = handler.loop.schedule(after: Self.intervalMilliseconds, handler: self)
    }

    func timerFired(_ tag: Int) {
        for upstream in Array(pending.keys) {
            guard targets[upstream]?.health == .healthy, let pool = handler.pool(named: upstream) else { continue }
            // Taken one at a time from `pending` itself: a check that fails at once puts its session back there.
            var started = 0
            while started < Self.concurrentChecks, inFlight[upstream, default: 0] < Self.concurrentChecks,
                  let digest = pending[upstream]?.first {
                pending[upstream]?.removeFirst()
                started += 1
                // Ended meanwhile (deleteSession, expiry, a 12031 on a forwarded request): nothing to confirm.
                guard let session = handler.services.table.find(digest) else { continue }
                inFlight[upstream, default: 0] += 1
                check(session, pool: pool)
            }
        }
        if remaining > 0 {
            _ = handler.loop.schedule(after: Self.intervalMilliseconds, handler: self)
        } else if !reported {
            reported = true
            handler.logger.info("restored sessions reconciled: \(confirmed) confirmed by their upstreams, \(dropped) dropped (their upstream no longer knew them)")
        }
    }

    private func check(_ session: SessionSnapshot, pool: UpstreamPool) {
        var body: [UInt8] = Array(#"{"api":"admin","action":"pingSession","authToken":"#.utf8)
        JSONWriter.writeString(session.upstreamToken, into: &body)
        body.append(UInt8(ascii: "}"))
        UpstreamCall.post(body, to: pool) { [self] result in
            inFlight[session.upstream, default: 1] -= 1
            guard case .success((200, let answer)) = result, let code = (try? JSONParser.parse(answer))?["errorCode"]?.intValue else {
                // Not an answer about the session: ask again once the upstream answers.
                pending[session.upstream, default: []].append(session.digest)
                return
            }
            if code == GatewayErrorCode.unknownSession.rawValue {
                guard let ghost = handler.services.table.remove(session.digest) else { return }
                handler.services.record(.closed(ghost.digest))
                dropped += 1
                handler.recorder.metrics.ghostsReconciled += 1
                handler.logger.info("session \(ghost.digest.fingerprint) of '\(ghost.username)' dropped: restored from the journal, but upstream '\(ghost.upstream)' no longer knows it")
            } else {
                confirmed += 1
            }
        }
    }
}
