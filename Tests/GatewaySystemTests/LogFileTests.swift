import Foundation
import GatewaySystem
import GatewayTestSupport
import Glibc
import Testing

@Suite struct LogFileTests {
    @Test func aFIFOWithoutAReaderIsRefusedAtOnceAndOneWithAReaderIsWritten() throws {
        let folder = Scratch.root.appendingPathComponent("logfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/access.log"
        #expect(mkfifo(fifo, 0o600) == 0)
        // It once waited for a reader for good, on the event loop that reopened the log.
        let started = Date()
        #expect(throws: SystemError.self) { _ = try LogFile(path: fifo) }
        #expect(LogFile.problem(fifo) != nil)
        #expect(Date().timeIntervalSince(started) < 2)

        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        #expect(reader >= 0)
        defer { close(reader) }
        let log = try LogFile(path: fifo)
        log.write(Array("one line\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(reader, &buffer, buffer.count)
        #expect(count == 9 && String(decoding: buffer.prefix(max(0, count)), as: UTF8.self) == "one line\n")
    }
}
