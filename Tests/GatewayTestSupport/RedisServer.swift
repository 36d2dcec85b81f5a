import Foundation
import Glibc

/// A `redis-server` of its own for a test: loopback, a free port, its data in a scratch folder
/// (append-only file with `appendfsync always` unless told otherwise), stopped when released.
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let directory: String
    public let extraArguments: [String]
    /// With TLS only (no plain port): (certificate, key, CA) file paths.
    public let tls: (certificate: String, key: String, authority: String)?
    public private(set) var process: Process
    private let logPath: String

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") }

    public init(appendOnly: Bool = true, extraArguments: [String] = [], tls: (certificate: String, key: String, authority: String)? = nil) throws {
        self.tls = tls
        guard Self.isInstalled else { throw TestSupportError("redis-server is not installed (apt-get install redis-server; scripts/test installs it)") }
        directory = Scratch.root.appendingPathComponent("redis-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        logPath = directory + "/redis.log"
        let arguments = ["--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always"] + extraArguments
        self.extraArguments = arguments
        var lastError: Error = TestSupportError("redis-server did not start")
        for _ in 0..<5 {
            let candidate = Self.freePort()
            do {
                process = try Self.launch(port: candidate, directory: directory, logPath: logPath, arguments: arguments, tls: tls)
                port = candidate
                return
            } catch { lastError = error }
        }
        throw lastError
    }

    private static func launch(port: Int, directory: String, logPath: String, arguments: [String],
                               tls: (certificate: String, key: String, authority: String)?) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
                             "--logfile", logPath, "--daemonize", "no", "--protected-mode", "no"] + arguments
            + (tls.map { ["--port", "0", "--tls-port", String(port), "--tls-cert-file", $0.certificate, "--tls-key-file", $0.key,
                          "--tls-ca-cert-file", $0.authority, "--tls-auth-clients", "no"] } ?? [])
        process.environment = Scratch.childEnvironment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let before = (try? String(contentsOfFile: logPath, encoding: .utf8))?.count ?? 0
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            let fresh = log.count > before ? String(log.dropFirst(before)) : ""
            if fresh.contains("Ready to accept connections") { return process }
            if !process.isRunning || fresh.contains("Address already in use") { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw TestSupportError("redis-server did not become ready on port \(port): \(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(600))")
    }

    /// A port the kernel just gave out and took back (a tiny race, retried by `init`).
    static func claimPort() throws -> Int { freePort() }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `redis-cli` against this server; its output, trimmed.
    @discardableResult
    public func cli(_ arguments: String...) throws -> String { try cli(arguments) }

    public func cli(_ arguments: [String]) throws -> String {
        let secure = tls.map { ["--tls", "--cacert", $0.authority] } ?? []
        let result = try Command.run("/usr/bin/redis-cli", ["-p", String(port), "--no-auth-warning"] + secure + arguments)
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SIGKILL: Redis gets no chance to write anything more.
    public func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func pause() { Foundation.kill(process.processIdentifier, SIGSTOP) }
    public func resume() { Foundation.kill(process.processIdentifier, SIGCONT) }

    /// Starts it again on the same port and folder (after `kill`); `empty` removes its data first.
    public func restart(empty: Bool = false) throws {
        kill()
        if empty {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name != "redis.log" {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
        }
        var lastError: Error = TestSupportError("redis-server did not restart")
        for _ in 0..<20 {
            do {
                process = try Self.launch(port: port, directory: directory, logPath: logPath, arguments: extraArguments, tls: tls)
                return
            } catch {
                lastError = error
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        throw lastError
    }

    deinit {
        // SIGKILL, not SIGTERM: the child inherits the test runner's blocked signals, SIGTERM among
        // them, so Redis would never see a SIGTERM. Nothing is lost: every write was fsynced.
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A Redis Sentinel watching `master` (quorum 1, down after 500 ms), for failover tests.
public final class RedisSentinel: @unchecked Sendable {
    public let port: Int
    public let directory: String
    private let process: Process

    public init(monitoring master: RedisServer, name: String = "mymaster") throws {
        directory = Scratch.root.appendingPathComponent("sentinel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let probe = try RedisServer.claimPort()
        port = probe
        let config = """
            port \(probe)
            bind 127.0.0.1
            protected-mode no
            dir \(directory)
            logfile \(directory)/sentinel.log
            sentinel monitor \(name) 127.0.0.1 \(master.port) 1
            sentinel down-after-milliseconds \(name) 500
            sentinel failover-timeout \(name) 2000
            sentinel parallel-syncs \(name) 1

            """
        try config.write(toFile: directory + "/sentinel.conf", atomically: false, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = [directory + "/sentinel.conf", "--sentinel"]
        process.environment = Scratch.childEnvironment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !log.contains("+monitor master") { Thread.sleep(forTimeInterval: 0.02) }
        guard log.contains("+monitor master") else {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestSupportError("redis sentinel did not start: \(log.suffix(500))")
        }
    }

    public var log: String { (try? String(contentsOfFile: directory + "/sentinel.log", encoding: .utf8)) ?? "" }

    deinit {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
