import CGatewayShims
import CNGHTTP2

/// What an HTTP/2 server session reports while it reads frames.
public protocol HTTP2SessionDelegate: AnyObject {
    /// A request's HEADERS frame starts stream `id`.
    func streamOpened(_ id: Int32)
    /// One header field: accepted, or the stream reset (a limit was crossed), or the connection ended.
    func stream(_ id: Int32, header name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2HeaderVerdict
    /// Request body bytes; returning false resets the stream.
    func stream(_ id: Int32, data: UnsafeRawBufferPointer) -> Bool
    /// The client finished the request (END_STREAM).
    func streamRequestComplete(_ id: Int32)
    /// The client sent a frame that costs the server work (a RST_STREAM comes before its
    /// `streamClosed`). Returning false ends the connection at once with GOAWAY ENHANCE_YOUR_CALM:
    /// no frame after this one is read.
    func costlyFrameReceived(_ kind: HTTP2CostlyFrame) -> Bool
    /// The stream is gone (answered, reset by either side, or the connection is ending).
    func streamClosed(_ id: Int32, errorCode: UInt32)
    /// Bytes of a response body left the per-stream queue (the peer's window opened).
    func streamBodyDrained(_ id: Int32, queuedBytes: Int)
}

public enum HTTP2HeaderVerdict { case accept, resetStream, endConnection }

public enum HTTP2CostlyFrame: String { case reset = "RST_STREAM", settings = "SETTINGS", ping = "PING", oversizedHeaders = "oversized header list" }

/// A protocol-level failure of the whole connection; nghttp2 has queued a GOAWAY when it could.
public struct HTTP2Error: Error, CustomStringConvertible {
    public let description: String
}

/// One server-side nghttp2 session: frames in through `receive`, frames out through `takeOutput`.
/// Response bodies wait in per-stream queues that nghttp2 pulls from as flow control allows.
/// The session lives on one loop; nghttp2 calls back synchronously inside `receive`/`takeOutput`.
public final class HTTP2Session {
    private var session: OpaquePointer?
    private unowned let delegate: HTTP2SessionDelegate
    private var bodies: [Int32: ResponseBody] = [:]

    final class ResponseBody {
        var bytes: [UInt8] = []
        var offset = 0
        var ended = false
        var queued: Int { bytes.count - offset }
    }

    public init(settings: HTTP2Settings, delegate: HTTP2SessionDelegate) throws(HTTP2Error) {
        self.delegate = delegate
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { throw HTTP2Error(description: "out of memory") }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunk)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrame)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        var options: OpaquePointer?
        guard nghttp2_option_new(&options) == 0, let options else { throw HTTP2Error(description: "out of memory") }
        defer { nghttp2_option_del(options) }
        nghttp2_option_set_max_settings(options, 32)
        // nghttp2's own reset limit (it answers INTERNAL_ERROR) stays a backstop behind the delegate's.
        nghttp2_option_set_stream_reset_rate_limit(options, UInt64(settings.costlyFrameBurst) * 2 + 1000, UInt64(settings.costlyFramesPerSecond) * 2 + 33)
        var created: OpaquePointer?
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&created, callbacks, me, options) == 0, let created else {
            throw HTTP2Error(description: "cannot create an HTTP/2 session")
        }
        session = created
        var entries = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(settings.maxHeaderListBytes)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowBytes),
        ]
        _ = nghttp2_submit_settings(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        _ = nghttp2_session_set_local_window_size(created, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: Int(settings.initialWindowBytes) * 4))
    }

    deinit { nghttp2_session_del(session) }

    /// Feeds received bytes; all are consumed or the connection has failed.
    public func receive(_ bytes: UnsafeRawBufferPointer) throws(HTTP2Error) {
        guard let session, !bytes.isEmpty else { return }
        let result = nghttp2_session_mem_recv(session, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 { throw HTTP2Error(description: String(cString: nghttp2_strerror(Int32(result)))) }
    }

    /// Appends frames ready to send to `output`, up to about `limit` bytes.
    public func takeOutput(into output: inout [UInt8], limit: Int) {
        guard let session else { return }
        var taken = 0
        while taken < limit {
            var data: UnsafePointer<UInt8>?
            let length = nghttp2_session_mem_send(session, &data)
            guard length > 0, let data else { return }
            output.append(contentsOf: UnsafeBufferPointer(start: data, count: length))
            taken += length
        }
    }

    /// Neither side has anything left to say (after GOAWAY, or the client stopped).
    public var isFinished: Bool {
        guard let session else { return true }
        return nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    public var hasOutput: Bool {
        guard let session else { return false }
        return nghttp2_session_want_write(session) != 0
    }

    // MARK: responses

    /// Submits a response head; with `body` nil the response has no body, otherwise the body's bytes
    /// follow from the stream's queue (`appendBody`, `endBody`).
    public func submitResponse(stream: Int32, headers: HTTP2HeaderBlock, body: [UInt8]?, ended: Bool) -> Bool {
        guard let session else { return false }
        var provider: nghttp2_data_provider?
        if let body {
            let queue = ResponseBody()
            queue.bytes = body
            queue.ended = ended
            bodies[stream] = queue
            provider = nghttp2_data_provider(source: nghttp2_data_source(ptr: nil), read_callback: readBody)
        }
        return headers.withFields { fields in
            if var provider {
                return nghttp2_submit_response(session, stream, fields.baseAddress, fields.count, &provider) == 0
            }
            return nghttp2_submit_response(session, stream, fields.baseAddress, fields.count, nil) == 0
        }
    }

    public func appendBody(stream: Int32, _ bytes: [UInt8]) {
        guard let queue = bodies[stream], !queue.ended else { return }
        if queue.queued == 0 {
            // Nothing waits: the bytes are taken as they are, not copied behind an empty queue.
            queue.bytes = bytes
            queue.offset = 0
        } else {
            queue.bytes.append(contentsOf: bytes)
        }
        if let session { _ = nghttp2_session_resume_data(session, stream) }
    }

    public func endBody(stream: Int32) {
        guard let queue = bodies[stream] else { return }
        queue.ended = true
        if let session { _ = nghttp2_session_resume_data(session, stream) }
    }

    /// Response body bytes queued for `stream` and not yet framed (the peer's window is closed).
    public func queuedBodyBytes(stream: Int32) -> Int { bodies[stream]?.queued ?? 0 }

    public func reset(stream: Int32, errorCode: UInt32) {
        guard let session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, errorCode)
    }

    /// GOAWAY with the last stream the gateway will answer; open streams still finish.
    public func goAway(errorCode: UInt32 = NGHTTP2_NO_ERROR.rawValue) {
        guard let session else { return }
        let last = nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    /// A server preface that ends the connection at once: empty SETTINGS, then GOAWAY (last stream 0).
    public static func refusalPreface(errorCode: UInt32) -> [UInt8] {
        let settings: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]
        let goAway: [UInt8] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        return settings + goAway + withUnsafeBytes(of: errorCode.bigEndian) { Array($0) }
    }

    public static let enhanceYourCalm = NGHTTP2_ENHANCE_YOUR_CALM.rawValue
    public static let internalError = NGHTTP2_INTERNAL_ERROR.rawValue
    public static let refusedStream = NGHTTP2_REFUSED_STREAM.rawValue
    public static let cancel = NGHTTP2_CANCEL.rawValue

    // MARK: callbacks (nghttp2 → delegate)

    fileprivate static func from(_ userData: UnsafeMutableRawPointer?) -> HTTP2Session {
        Unmanaged<HTTP2Session>.fromOpaque(userData!).takeUnretainedValue()
    }

    fileprivate func read(stream: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        guard let queue = bodies[stream] else {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            return 0
        }
        let count = min(length, queue.queued)
        if count > 0 {
            queue.bytes.withUnsafeBufferPointer { all in
                buffer.update(from: all.baseAddress! + queue.offset, count: count)
            }
            queue.offset += count
        }
        if queue.queued == 0 {
            if queue.ended {
                flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                bodies[stream] = nil
            } else if count == 0 {
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        if count > 0 { delegate.streamBodyDrained(stream, queuedBytes: queue.queued) }
        return count
    }

    fileprivate func closed(stream: Int32, errorCode: UInt32) {
        bodies[stream] = nil
        delegate.streamClosed(stream, errorCode: errorCode)
    }

    fileprivate var sessionDelegate: HTTP2SessionDelegate { delegate }
}

private let requestHeaders = NGHTTP2_HCAT_REQUEST
private let endStreamFlag = UInt8(NGHTTP2_FLAG_END_STREAM.rawValue)

private func onBeginHeaders(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == requestHeaders else { return 0 }
    HTTP2Session.from(userData).sessionDelegate.streamOpened(frame.pointee.hd.stream_id)
    return 0
}

private func onHeader(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ name: UnsafePointer<UInt8>?, _ nameLength: Int,
                      _ value: UnsafePointer<UInt8>?, _ valueLength: Int, _ flags: UInt8, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame, frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue), frame.pointee.headers.cat == requestHeaders else { return 0 }
    let verdict = HTTP2Session.from(userData).sessionDelegate.stream(frame.pointee.hd.stream_id,
        header: UnsafeRawBufferPointer(start: name, count: nameLength), value: UnsafeRawBufferPointer(start: value, count: valueLength))
    switch verdict {
    case .accept: return 0
    case .resetStream: return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
    case .endConnection: return calmDown(session)
    }
}

private func onDataChunk(_ session: OpaquePointer?, _ flags: UInt8, _ stream: Int32, _ data: UnsafePointer<UInt8>?, _ length: Int,
                         _ userData: UnsafeMutableRawPointer?) -> Int32 {
    let accepted = HTTP2Session.from(userData).sessionDelegate.stream(stream, data: UnsafeRawBufferPointer(start: data, count: length))
    if !accepted, let session {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, NGHTTP2_CANCEL.rawValue)
    }
    return 0
}

private func onFrame(_ session: OpaquePointer?, _ frame: UnsafePointer<nghttp2_frame>?, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    guard let frame else { return 0 }
    let type = frame.pointee.hd.type
    let costly: HTTP2CostlyFrame? = switch type {
    case UInt8(NGHTTP2_RST_STREAM.rawValue): .reset
    case UInt8(NGHTTP2_SETTINGS.rawValue) where frame.pointee.hd.flags & ackFlag == 0: .settings
    case UInt8(NGHTTP2_PING.rawValue) where frame.pointee.hd.flags & ackFlag == 0: .ping
    default: nil
    }
    if let costly {
        return HTTP2Session.from(userData).sessionDelegate.costlyFrameReceived(costly) ? 0 : calmDown(session)
    }
    guard type == UInt8(NGHTTP2_HEADERS.rawValue) || type == UInt8(NGHTTP2_DATA.rawValue),
          frame.pointee.hd.flags & endStreamFlag != 0 else { return 0 }
    HTTP2Session.from(userData).sessionDelegate.streamRequestComplete(frame.pointee.hd.stream_id)
    return 0
}

private let ackFlag = UInt8(NGHTTP2_FLAG_ACK.rawValue)

/// GOAWAY ENHANCE_YOUR_CALM, and a failed callback so nghttp2 reads no more of the input.
private func calmDown(_ session: OpaquePointer?) -> Int32 {
    _ = nghttp2_session_terminate_session(session, NGHTTP2_ENHANCE_YOUR_CALM.rawValue)
    return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
}

private func onStreamClose(_ session: OpaquePointer?, _ stream: Int32, _ errorCode: UInt32, _ userData: UnsafeMutableRawPointer?) -> Int32 {
    HTTP2Session.from(userData).closed(stream: stream, errorCode: errorCode)
    return 0
}

private func readBody(_ session: OpaquePointer?, _ stream: Int32, _ buffer: UnsafeMutablePointer<UInt8>?, _ length: Int,
                      _ flags: UnsafeMutablePointer<UInt32>?, _ source: UnsafeMutablePointer<nghttp2_data_source>?,
                      _ userData: UnsafeMutableRawPointer?) -> Int {
    guard let buffer, let flags else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
    return HTTP2Session.from(userData).read(stream: stream, into: buffer, length: length, flags: flags)
}
