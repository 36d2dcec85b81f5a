import GatewayHTTPServer
import GatewaySessions
import GatewaySystem

/// One request as the access log and the metrics see it: filled in as the handler learns who
/// asks for what, then closed by the answer going out. Every request has one, including those
/// the gateway answers itself.
final class RequestRecord: ResponseObserver {
    /// The loop's recorder lives as long as the process, so no reference counting is needed here.
    unowned(unsafe) let recorder: RequestRecorder
    let receivedAtMicroseconds: Int64
    /// The client: the socket's peer, or the address a trusted proxy forwarded for.
    var clientAddress: String?
    /// The socket's peer when it is a trusted proxy speaking for `clientAddress`.
    var proxyAddress: String?
    /// What the client's headers say, for the upstream request.
    let client: ClientHeaders
    let protocolName: String
    let tlsVersion: String?
    let listenerName: String
    let method: String
    let path: Substring
    let requestId: String
    let bytesIn: Int

    var api = ActionCatalog.otherAPI
    var action = ActionCatalog.otherAction
    /// The action as the client named it, for the log (only when it is not in the catalog).
    var actionName: String?
    var isJSONAction = false
    var username: String?
    /// The session's digest; its fingerprint is made only for the log.
    var session: TokenDigest?
    var upstream: String?
    /// Set when the request was forwarded as it was (not answered by the gateway).
    var forwarded = false
    var upstreamStartedMicroseconds: Int64 = 0
    var upstreamMicroseconds: Int64 = -1
    /// Why the gateway refused or failed it, for the log.
    var reason: String?

    private(set) var status = 0
    private(set) var errorCode: Int?
    private(set) var bytesOut = 0
    /// A refused login's answer, whose errorMessage is read only when something shows it.
    private(set) var lastBody: [UInt8] = []
    private var finished = false

    init(recorder: RequestRecorder, request: borrowing HTTPRequest, path: Substring, client: ClientHeaders, requestId: String) {
        self.client = client
        self.recorder = recorder
        receivedAtMicroseconds = request.receivedAtMicroseconds
        clientAddress = request.peerHost
        protocolName = request.protocolName
        tlsVersion = request.tlsVersion
        listenerName = request.listenerName
        method = request.head.method
        self.path = path
        self.requestId = requestId
        bytesIn = request.body.count
    }

    func upstreamStarted() { upstreamStartedMicroseconds = MonotonicClock.nowMicroseconds() }

    func upstreamEnded() {
        guard upstreamStartedMicroseconds > 0 else { return }
        // A retried request adds its attempts up.
        upstreamMicroseconds = max(0, upstreamMicroseconds) + MonotonicClock.nowMicroseconds() - upstreamStartedMicroseconds
        upstreamStartedMicroseconds = 0
    }

    func responseStarted(status: Int) { self.status = status }

    func responseBodySent(_ bytes: [UInt8]) {
        bytesOut += bytes.count
        // FairCom writes errorCode near the end of its envelope: the last piece's tail tells.
        if let code = ErrorCodeScan.errorCode(inTailOf: bytes) { errorCode = code }
        if action == 0 /* createSession */ && bytes.count <= 4096 { lastBody = bytes }
    }

    func responseFinished(complete: Bool) {
        guard !finished else { return }
        finished = true
        recorder.finished(self, complete: complete, now: MonotonicClock.nowMicroseconds())
    }

    func responseCut(errorCode: Int, reason: String) {
        guard !finished else { return }
        self.errorCode = errorCode
        self.reason = reason
        responseFinished(complete: false)
    }

    var outcome: MetricsCounts.Outcome { outcome(complete: true) }

    func outcome(complete: Bool) -> MetricsCounts.Outcome {
        if !complete { return .aborted }
        if status != 200 { return .httpError }
        return errorCode ?? 0 == 0 ? .ok : .error
    }

    var finalErrorCode: Int? { errorCode }

    /// Why it was refused: set by the handler, or the answer's errorMessage (parsed on demand).
    var explanation: String? {
        if let reason { return reason }
        guard errorCode ?? 0 != 0, !lastBody.isEmpty else { return nil }
        return ErrorCodeScan.errorMessage(in: lastBody)
    }
}

/// What closes a record: the loop's metrics and access log.
protocol RequestRecorder: AnyObject {
    func finished(_ record: RequestRecord, complete: Bool, now: Int64)
}
