import Foundation
import GatewayJSON

/// A gateway or stub binary started as a child process on an ephemeral port.
/// Its stdout and stderr go to temporary files so tests can read the logs.
public final class ServerProcess: @unchecked Sendable {
    public let process: Process
    public let port: Int
    public let stdoutPath: String
    public let stderrPath: String

    /// Where `swift build` put the executables: beside the test bundle.
    public static func binary(_ name: String) -> String {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent(name).path
    }

    private let directory: URL

    /// Starts `name` and waits until it prints "<readyMarker> ...:PORT" (and `readyLine`, when given,
    /// which a gateway prints once every listener is printed).
    public init(_ name: String, arguments: [String], readyMarker: String, readyLine: String? = nil, timeout: TimeInterval = 20) throws {
        directory = Scratch.root.appendingPathComponent("gw-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        stdoutPath = directory.appendingPathComponent("stdout").path
        stderrPath = directory.appendingPathComponent("stderr").path
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process = Process()
        process.environment = Scratch.childEnvironment
        process.executableURL = URL(fileURLWithPath: Self.binary(name))
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            let text = (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""
            if readyLine.map({ text.contains($0) }) ?? true,
               let line = text.split(separator: "\n").first(where: { $0.contains(readyMarker) }),
               let portText = line.split(separator: ":").last, let p = Int(portText) {
                found = p
            } else {
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        guard let found else {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: directory)
            throw TestSupportError("\(name) did not become ready: \(log)")
        }
        port = found
    }

    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// The port the gateway bound for listener `name` ("gateway listening on NAME HOST:PORT").
    public func listenerPort(_ name: String) -> Int? {
        stdout.split(separator: "\n").first { $0.hasPrefix("gateway listening on \(name) ") }
            .flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
    }

    /// The port of listener `name`, or an error naming what the gateway printed.
    public func requireListenerPort(_ name: String) throws -> Int {
        guard let port = listenerPort(name) else { throw TestSupportError("no listener '\(name)' in the gateway's output: \(stdout)") }
        return port
    }

    /// Sends `signal` (e.g. SIGHUP) to the process.
    public func signal(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, and SIGKILL if it is still there after five seconds.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        kill()
    }

    /// SIGKILL and wait: the process gets no chance to clean up.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Starts stubs and gateways wired to each other.
public enum Servers {
    public static func stub(_ extra: [String] = []) throws -> ServerProcess {
        try ServerProcess("faircom-stub", arguments: ["--port", "0", "--workers", "1"] + extra, readyMarker: "faircom-stub listening on")
    }

    /// A gateway on an ephemeral port in front of `upstreamPorts`, with `tweak` applied to the configuration.
    /// Its session journal goes to a fresh temporary directory unless `tweak` names one.
    public static func gateway(upstreamPorts: [Int], tweak: (inout [String: Any]) -> Void = { _ in }) throws -> ServerProcess {
        try gateway(configPath: gatewayConfig(upstreamPorts: upstreamPorts, tweak: tweak))
    }

    /// Starts a gateway on a configuration file written by `gatewayConfig` (again, to restart one).
    public static func gateway(configPath: String) throws -> ServerProcess {
        try ServerProcess("gateway", arguments: ["--config", configPath], readyMarker: "gateway listening on", readyLine: "gateway ready\n")
    }

    /// A fresh, empty temporary directory, private to this user (a gateway refuses a data folder open to others).
    public static func temporaryDirectory() throws -> String {
        let url = Scratch.root.appendingPathComponent("gw-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return url.path
    }

    /// Writes a gateway configuration (as `gateway` describes) and returns its path.
    public static func gatewayConfig(upstreamPorts: [Int], tweak: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        var config: [String: Any] = [
            "sessions": ["dataDirectory": try temporaryDirectory()],
            "workers": 1,
            "listeners": [["name": "test", "address": "127.0.0.1", "port": 0]],
            "upstreams": upstreamPorts.enumerated().map { index, port in
                ["name": "stub\(index)", "url": "http://127.0.0.1:\(port)/api", "maxConnections": 8,
                 "connectTimeoutSeconds": 1, "responseTimeoutSeconds": 5, "healthCheckIntervalSeconds": 0.5] as [String: Any]
            },
            "logging": ["level": "debug", "accessLog": true],
        ]
        tweak(&config)
        let path = Scratch.root.appendingPathComponent("gateway-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs `gateway check-config` on `text`; returns its exit status and output. With `unprivileged`,
    /// a root test run drops to `nobody` first (root reads any file, so permissions mean nothing to it).
    public static func checkConfig(_ text: String, unprivileged: Bool = false) throws -> (status: Int32, output: String) {
        let path = Scratch.root.appendingPathComponent("check-\(UUID().uuidString).json").path
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
        let process = Process()
        process.environment = Scratch.childEnvironment
        if unprivileged && getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", ServerProcess.binary("gateway"), "check-config", path]
        } else {
            process.executableURL = URL(fileURLWithPath: ServerProcess.binary("gateway"))
            process.arguments = ["check-config", path]
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
