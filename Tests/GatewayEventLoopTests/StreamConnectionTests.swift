import Dispatch
import GatewayEventLoop
import GatewaySystem
import Glibc
import Synchronization
import Testing

/// What a connection queues and writes reaches the peer whole and in order, also when the kernel
/// takes only part of a gathered write (a head queued, a body far larger than the socket buffer).
@Suite struct StreamConnectionTests {
    final class Drained: StreamConnection, @unchecked Sendable {
        let drains = Atomic<Int>(0)
        override func didDrainOutput() { drains.add(1, ordering: .relaxed) }
    }

    @Test func aQueuedHeadAndABodyLargerThanTheSocketBufferArriveWholeAndInOrder() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
        let reader = fds[1], writer = fds[0]
        var small: Int32 = 4096
        setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let flags = fcntl(reader, F_GETFL)
        _ = fcntl(reader, F_SETFL, flags & ~O_NONBLOCK)
        // Bytes that never come fail the test after 5 s instead of hanging it.
        var patience = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(reader, SOL_SOCKET, SO_RCVTIMEO, &patience, socklen_t(MemoryLayout<timeval>.size))
        defer { Glibc.close(reader) }

        let loop = try EventLoop()
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { loop.run(); finished.signal() }
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n".utf8)
        let body = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let box = Mutex<Drained?>(nil)
        loop.execute {
            let connection = Drained(loop: loop, socket: Socket(adopting: writer))
            try? connection.start()
            connection.queue(head)
            connection.write(body)
            box.withLock { $0 = connection }
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while received.count < head.count + body.count {
            let n = chunk.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            received += chunk[0..<n]
        }
        #expect(received.count == head.count + body.count)
        #expect(received == head + body, "bytes arrived out of order or changed")
        // Everything was written: the connection said so once its queue emptied.
        let deadline = MonotonicClock.nowMilliseconds() + 5000
        while box.withLock({ $0?.drains.load(ordering: .relaxed) ?? 0 }) == 0 && MonotonicClock.nowMilliseconds() < deadline {
            usleep(1000)
        }
        #expect(box.withLock { $0?.drains.load(ordering: .relaxed) ?? 0 } >= 1)
        loop.execute { box.withLock { $0?.close() } }
        loop.stop()
        finished.wait()
    }
}
