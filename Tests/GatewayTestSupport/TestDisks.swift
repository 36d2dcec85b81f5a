import Foundation
import Glibc

/// Small real file systems for the tests of a full disk.
public enum TestDisks {
    /// Mounts a tmpfs of `size` (e.g. "1m") at a fresh folder, runs `body` with its path, and
    /// unmounts it again. Needs root, as the suite has in CI; without it the test fails, saying why.
    public static func withTinyDisk(_ size: String, _ body: (String) throws -> Void) throws {
        guard getuid() == 0 else { throw TestSupportError("this test mounts a \(size) tmpfs and needs root, as the suite runs in CI") }
        let mountPoint = try Servers.temporaryDirectory() + "/disk"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try Command.run("mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", mountPoint])
        guard mounted.status == 0 else { throw TestSupportError("mount of a \(size) tmpfs failed: \(mounted.output)") }
        defer { _ = try? Command.run("umount", ["-l", mountPoint]) }
        try body(mountPoint)
    }
}

/// Raw HTTP/2 frames as a test reads them.
public enum HTTP2Frames {
    /// The first frame on `stream` whose type is one of `types`, with its payload; nil on timeout or close.
    public static func first(of types: Set<UInt8>, stream: UInt32, on client: TestClient, within seconds: Double) -> (type: UInt8, payload: [UInt8])? {
        var buffer: [UInt8] = []
        let deadline = Date().addingTimeInterval(seconds)
        var chunk = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let count = recv(client.fd, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            buffer += chunk[0..<count]
            while buffer.count >= 9 {
                let length = Int(buffer[0]) << 16 | Int(buffer[1]) << 8 | Int(buffer[2])
                guard buffer.count >= 9 + length else { break }
                let id = (UInt32(buffer[5]) << 24 | UInt32(buffer[6]) << 16 | UInt32(buffer[7]) << 8 | UInt32(buffer[8])) & 0x7fff_ffff
                if id == stream && types.contains(buffer[3]) { return (buffer[3], Array(buffer[9..<(9 + length)])) }
                buffer.removeFirst(9 + length)
            }
        }
        return nil
    }
}
