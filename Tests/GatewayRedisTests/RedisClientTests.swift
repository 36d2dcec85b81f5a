import Foundation
import GatewayEventLoop
import GatewayLogging
import GatewaySystem
import GatewayTestSupport
import Synchronization
import Testing
@testable import GatewayRedis

/// The client against a real redis-server on its own loop thread.
final class ClientHarness: @unchecked Sendable {
    let group: EventLoopGroup
    var loop: EventLoop { group.loops[0] }
    let client: RedisClient

    init(port: Int, configure: (inout RedisSettings) -> Void = { _ in }) throws {
        group = try EventLoopGroup(count: 1)
        var settings = RedisSettings(endpoint: .direct(SocketAddress(host: "127.0.0.1", port: port)!))
        configure(&settings)
        client = RedisClient(loop: group.loops[0], settings: settings, logger: Logger(label: "redis-test", level: .error))
        group.start()
    }

    deinit { group.stop() }

    /// Sends the commands on the loop in one go (pipelined) and waits for every answer.
    func run(_ commands: [[String]], seconds: Double = 5) -> [Result<RESPValue, RedisError>] {
        let answers = Mutex<[Int: Result<RESPValue, RedisError>]>([:])
        let done = DispatchSemaphore(value: 0)
        let client = self.client
        loop.execute {
            for (index, command) in commands.enumerated() {
                client.send(command) { result in
                    answers.withLock { $0[index] = result }
                    done.signal()
                }
            }
        }
        for _ in commands { _ = done.wait(timeout: .now() + seconds) }
        return answers.withLock { a in (0..<commands.count).map { a[$0] ?? .failure(.connectionLost("no answer in the test's time")) } }
    }

    func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) -> Result<RESPValue, RedisError> {
        let answer = Mutex<Result<RESPValue, RedisError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let client = self.client
        loop.execute {
            client.evaluate(script, keys: keys.map { Array($0.utf8) }, arguments: arguments.map { Array($0.utf8) }) { result in
                answer.withLock { $0 = result }
                done.signal()
            }
        }
        _ = done.wait(timeout: .now() + 5)
        return answer.withLock { $0 } ?? .failure(.connectionLost("no answer in the test's time"))
    }
}

@Suite(.serialized) struct RedisClientTests {
    @Test func pipelinedCommandsAnswerInOrder() throws {
        let redis = try RedisServer(appendOnly: false)
        let harness = try ClientHarness(port: redis.port)
        let commands = (0..<200).map { ["SET", "k\($0)", "value \($0)\r\n"] } + (0..<200).map { ["GET", "k\($0)"] } + [["GET", "missing"]]
        let answers = harness.run(commands)
        for index in 0..<200 {
            #expect(try answers[index].get() == .simple("OK"))
            #expect(try answers[200 + index].get() == .bulk(Array("value \(index)\r\n".utf8)))
        }
        #expect(try answers[400].get() == .bulk(nil))
        withExtendedLifetime(redis) {}
    }

    @Test func errorRepliesAreTheCommandsFaultNotAnOutage() throws {
        let redis = try RedisServer(appendOnly: false)
        let harness = try ClientHarness(port: redis.port) { $0.breakerFailures = 1 }
        let answers = harness.run([["SET", "k", "v"], ["LPUSH", "k", "x"], ["GET", "k"]])
        guard case .failure(.reply(let text)) = answers[1] else { Issue.record("\(answers[1])"); return }
        #expect(text.hasPrefix("WRONGTYPE"))
        #expect(try answers[2].get() == .bulk(Array("v".utf8)), "the breaker stays closed")
        withExtendedLifetime(redis) {}
    }

    @Test func aScriptRedisDoesNotKnowIsSentInFullOnceThenBySha() throws {
        let redis = try RedisServer(appendOnly: false)
        let harness = try ClientHarness(port: redis.port)
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try harness.evaluate(script, keys: ["n"], arguments: ["5"]).get() == .integer(5))
        #expect(try redis.cli("SCRIPT", "EXISTS", String(decoding: script.sha1, as: UTF8.self)) == "1")
        #expect(try harness.evaluate(script, keys: ["n"], arguments: ["2"]).get() == .integer(7))
        try redis.cli("SCRIPT", "FLUSH")
        #expect(try harness.evaluate(script, keys: ["n"], arguments: ["1"]).get() == .integer(8), "NOSCRIPT after a flush: sent again")
        withExtendedLifetime(redis) {}
    }

    @Test func passwordIsSentFirstAndAWrongOneFailsClearly() throws {
        let redis = try RedisServer(appendOnly: false, extraArguments: ["--requirepass", "s3cret pass"])
        let good = try ClientHarness(port: redis.port) { $0.password = "s3cret pass" }
        #expect(try good.run([["PING"]])[0].get() == .simple("PONG"))
        let bad = try ClientHarness(port: redis.port) { $0.password = "wrong" }
        let answer = bad.run([["PING"]])[0]
        guard case .failure(let error) = answer, error.isOutage else { Issue.record("\(answer)"); return }
        #expect(!error.description.contains("wrong"), "the password is not in the error: \(error)")
        withExtendedLifetime(redis) {}
    }

    /// A stopped Redis: the first commands time out after the command timeout, then the breaker
    /// opens and commands fail at once; once Redis is back, a probe closes it again.
    @Test func aPausedRedisTimesOutThenFailsFastThenRecovers() throws {
        let redis = try RedisServer(appendOnly: false)
        let harness = try ClientHarness(port: redis.port) {
            $0.commandTimeoutMilliseconds = 200
            $0.breakerFailures = 2
            $0.breakerOpenMilliseconds = 300
        }
        #expect(try harness.run([["PING"]])[0].get() == .simple("PONG"))
        redis.pause()
        defer { redis.resume() }
        let started = Date()
        let timedOut = harness.run([["PING"], ["PING"]])
        #expect(timedOut.allSatisfy { if case .failure(.timeout) = $0 { true } else { false } }, "\(timedOut)")
        #expect(Date().timeIntervalSince(started) < 2)
        // The two timeouts were one failed connection: one more outage opens the breaker.
        _ = harness.run([["PING"]], seconds: 2)
        let fastStart = Date()
        let fast = harness.run((0..<50).map { _ in ["PING"] })
        #expect(fast.allSatisfy { $0 == .failure(.circuitOpen) }, "\(fast.prefix(3))")
        #expect(Date().timeIntervalSince(fastStart) < 0.1, "open: no command waits")
        redis.resume()
        let deadline = Date().addingTimeInterval(5)
        var recovered = false
        while !recovered && Date() < deadline {
            recovered = (try? harness.run([["PING"]])[0].get()) == .simple("PONG")
            if !recovered { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(recovered)
        #expect(harness.client.isAvailable)
        withExtendedLifetime(redis) {}
    }

    @Test func aRestartedRedisIsReconnectedTo() throws {
        let redis = try RedisServer(appendOnly: true)
        let harness = try ClientHarness(port: redis.port) { $0.breakerOpenMilliseconds = 100 }
        #expect(try harness.run([["SET", "kept", "1"]])[0].get() == .simple("OK"))
        try redis.restart()
        let deadline = Date().addingTimeInterval(5)
        var value: RESPValue?
        while value == nil && Date() < deadline {
            value = try? harness.run([["GET", "kept"]])[0].get()
            if value == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(value == .bulk(Array("1".utf8)), "appendfsync always kept the write")
        withExtendedLifetime(redis) {}
    }
}
