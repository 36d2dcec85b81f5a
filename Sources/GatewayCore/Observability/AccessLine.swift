import GatewayHTTPServer
import GatewayJSON
import GatewaySystem

/// The access log's line: one JSON object per request. Tokens and passwords never appear: a
/// session is named by its fingerprint, and no request body is written.
enum AccessLine {
    static func json(_ record: RequestRecord, complete: Bool, totalMicroseconds: Int64, time: String) -> [UInt8] {
        var line = Line.opening(time: time, client: record.clientAddress, proxy: record.proxyAddress, listener: record.listenerName,
                                protocolName: record.protocolName, tls: record.tlsVersion, method: record.method,
                                path: String(record.path), requestId: record.requestId)
        if record.isJSONAction {
            line.string("api", record.api == ActionCatalog.otherAPI ? nil : ActionCatalog.apis[record.api])
            line.string("action", record.action == ActionCatalog.otherAction ? record.actionName : ActionCatalog.actions[record.action])
        }
        line.string("username", record.username)
        line.string("session", record.session?.fingerprint)
        line.number("status", record.status)
        if let code = record.finalErrorCode { line.number("errorCode", code) }
        line.string("reason", record.explanation)
        line.string("upstream", record.upstream)
        line.milliseconds("durationMs", totalMicroseconds)
        if record.upstreamMicroseconds >= 0 { line.milliseconds("upstreamMs", record.upstreamMicroseconds) }
        line.number("bytesIn", record.bytesIn)
        line.number("bytesOut", record.bytesOut)
        if !complete { line.bool("complete", false) }
        return line.finish()
    }

    static func json(_ answer: ServerAnswer, requestId: String) -> [UInt8] {
        var line = Line.opening(time: WallClock.logTimestamp(), client: answer.peerHost, proxy: nil, listener: answer.listenerName,
                                protocolName: answer.protocolName, tls: answer.tlsVersion, method: answer.method,
                                path: answer.path, requestId: requestId)
        line.number("status", answer.status)
        line.number("errorCode", answer.errorCode)
        line.string("reason", answer.message)
        return line.finish()
    }

    struct Line {
        private var bytes: [UInt8] = [UInt8(ascii: "{")]

        init() { bytes.reserveCapacity(512) }

        /// Every line begins alike: when, who, where and how, and which request.
        static func opening(time: String, client: String?, proxy: String?, listener: String, protocolName: String, tls: String?,
                            method: String?, path: String?, requestId: String) -> Line {
            var line = Line()
            line.string("time", time)
            line.string("client", client)
            line.string("proxy", proxy)
            line.string("listener", listener)
            line.string("protocol", protocolName)
            line.string("tls", tls)
            line.string("method", method)
            line.string("path", path)
            line.string("requestId", requestId)
            return line
        }

        private mutating func key(_ name: String) {
            if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: "\":".utf8)
        }

        /// Written only when present.
        mutating func string(_ name: String, _ value: String?) {
            guard let value else { return }
            key(name)
            // Client-supplied strings are capped by bytes (one Character can be megabytes of combining
            // marks): a log line stays a line, not a copy of an attack.
            let capped = value.utf8.count > 512 ? String(decoding: value.utf8.prefix(512), as: UTF8.self) + "..." : value
            JSONWriter.writeString(capped, into: &bytes)
        }

        mutating func number(_ name: String, _ value: Int) {
            key(name)
            bytes.append(contentsOf: String(value).utf8)
        }

        mutating func bool(_ name: String, _ value: Bool) {
            key(name)
            bytes.append(contentsOf: (value ? "true" : "false").utf8)
        }

        mutating func milliseconds(_ name: String, _ microseconds: Int64) {
            key(name)
            let value = max(0, microseconds)
            bytes.append(contentsOf: String(value / 1000).utf8)
            bytes.append(UInt8(ascii: "."))
            let fraction = value % 1000
            bytes.append(contentsOf: (fraction < 10 ? "00" : fraction < 100 ? "0" : "").utf8)
            bytes.append(contentsOf: String(fraction).utf8)
        }

        mutating func finish() -> [UInt8] {
            bytes.append(contentsOf: "}\n".utf8)
            return bytes
        }
    }
}
