import Foundation
import Glibc
import GatewayJSON

/// A response as a test sees it.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSONValue? { try? JSONParser.parse(body) }
}

/// A blocking loopback client over a real socket, with a receive timeout so no test hangs.
/// It has its own small response reader, independent of the gateway's parser.
public final class TestClient {
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// `sourceAddress` (a loopback address such as 127.0.0.2) makes the connection come from another client address.
    public init(port: Int, timeoutSeconds: Int = 10, sourceAddress: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let sourceAddress {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(sourceAddress)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw TestSupportError("bind to \(sourceAddress) failed: errno \(errno)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestSupportError("connect to port \(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    public func send(_ text: String) { send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Sends a POST of `body` to `path` on this connection.
    public func sendPost(_ body: String, path: String = "/api", extraHeaders: String = "") {
        send("POST \(path) HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\(extraHeaders)Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
    }

    /// Sends FIN: the client will send nothing more but still reads.
    public func shutdownWrite() {
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads more bytes; false at end of stream or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// True when the server closed the connection (end of stream) within the timeout.
    public func isClosedByPeer() -> Bool {
        while true {
            if !buffer.isEmpty { buffer.removeAll(); continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// Reads one response (Content-Length, chunked, or up to end of stream); nil on timeout or close.
    public func readResponse() -> TestResponse? {
        var headEnd: Int?
        while headEnd == nil {
            if let range = findBlankLine() { headEnd = range; break }
            if !fill() { return nil }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if status == 100 { return TestResponse(status: 100, headers: headers, body: []) }
        var body: [UInt8] = []
        if let length = headers["content-length"].flatMap(Int.init) {
            while buffer.count < length { if !fill() { return nil } }
            body = Array(buffer[..<length])
            buffer.removeFirst(length)
        } else if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                guard let line = readLine(), let size = Int(line.split(separator: ";")[0], radix: 16) else { return nil }
                if size == 0 { _ = readLine(); break }
                while buffer.count < size + 2 { if !fill() { return nil } }
                body += buffer[..<size]
                buffer.removeFirst(size + 2)
            }
        } else {
            while fill() {}
            body = buffer
            buffer.removeAll()
        }
        return TestResponse(status: status, headers: headers, body: body)
    }

    private func findBlankLine() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }

    private func readLine() -> String? {
        while true {
            if let i = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                let line = String(decoding: buffer[..<i], as: UTF8.self)
                buffer.removeFirst(i + 2)
                return line
            }
            if !fill() { return nil }
        }
    }

    /// One request on a fresh connection.
    public static func post(port: Int, _ body: String, path: String = "/api", from sourceAddress: String? = nil) throws -> TestResponse {
        let client = try TestClient(port: port, sourceAddress: sourceAddress)
        client.sendPost(body, path: path)
        guard let response = client.readResponse() else { throw TestSupportError("no response from port \(port)") }
        return response
    }

    public static func get(port: Int, _ path: String) throws -> TestResponse {
        let client = try TestClient(port: port)
        client.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n")
        guard let response = client.readResponse() else { throw TestSupportError("no response from port \(port)") }
        return response
    }

    /// Logs in through `port` as admin and returns the token.
    public static func login(port: Int) throws -> String {
        let response = try post(port: port, #"{"api":"admin","action":"createSession","params":{"username":"admin","password":"ADMIN"}}"#)
        guard let token = response.json?["authToken"]?.stringValue, !token.isEmpty else {
            throw TestSupportError("login failed: \(response.text)")
        }
        return token
    }
}
