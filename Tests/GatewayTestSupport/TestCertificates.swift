import Foundation

/// A throwaway PKI made with the `openssl` command, once per test process: a CA, a server
/// certificate for localhost/127.0.0.1, a second one for SNI (other.test), client certificates
/// (valid, expired, self-signed, from another CA) and a certificate for the gateway as an upstream client.
public final class TestCertificates: Sendable {
    public let directory: String

    public static let shared: Result<TestCertificates, TestSupportError> = {
        do { return .success(try TestCertificates()) } catch let error as TestSupportError { return .failure(error) } catch {
            return .failure(TestSupportError("\(error)"))
        }
    }()

    /// The shared PKI, or the reason it could not be made.
    public static func make() throws -> TestCertificates { try shared.get() }

    private init() throws {
        directory = try Servers.temporaryDirectory()
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                     "-days", "3", "-subj", "/CN=Gateway Test CA"])
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem",
                     "-days", "3", "-subj", "/CN=Another CA"])
        try issue("server", subject: "/CN=localhost", names: "DNS:localhost,IP:127.0.0.1")
        try issue("sni", subject: "/CN=other.test", names: "DNS:other.test")
        try issue("server2", subject: "/CN=localhost", names: "DNS:localhost,IP:127.0.0.1")
        try issue("client", subject: "/CN=admin")
        try issue("expired", subject: "/CN=admin", days: "-1")
        try issue("foreign", subject: "/CN=admin", authority: "other-ca")
        try issue("gateway-client", subject: "/CN=gateway")
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "selfsigned.key",
                     "-out", "selfsigned.pem", "-days", "3", "-subj", "/CN=admin"])
    }

    public func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// `<name>.pem` and `<name>.key`, signed by `authority`.
    private func issue(_ name: String, subject: String, names: String? = nil, days: String = "3", authority: String = "ca") throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject])
        var arguments = ["x509", "-req", "-in", "\(name).csr", "-CA", "\(authority).pem", "-CAkey", "\(authority).key", "-set_serial",
                         String(UInt32.random(in: 1...UInt32.max)), "-out", "\(name).pem", "-days", days]
        if let names {
            try "subjectAltName=\(names)\n".write(toFile: path("\(name).ext"), atomically: false, encoding: .utf8)
            arguments += ["-extfile", "\(name).ext"]
        }
        try openssl(arguments)
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try Command.run("openssl", arguments, directory: directory)
        guard result.status == 0 else { throw TestSupportError("openssl \(arguments.joined(separator: " ")) failed: \(result.output)") }
    }
}

/// Runs a program found on PATH and collects its exit status and output (stdout then stderr).
public enum Command {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var output: String { stdout + stderr }
    }

    public static func run(_ program: String, _ arguments: [String], directory: String? = nil, timeout: TimeInterval = 60) throws -> Result {
        let process = Process()
        process.environment = Scratch.childEnvironment
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let base = Scratch.root.appendingPathComponent("cmd-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("out"), errURL = base.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        let out = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
        return Result(status: process.terminationStatus, stdout: out, stderr: err)
    }

    /// A program started in the background; `finish()` waits for it and returns its output
    /// (stdout and stderr together).
    public final class Running {
        public let process = Process()
        private let output = Pipe()

        init(_ program: String, _ arguments: [String]) throws {
            process.environment = Scratch.childEnvironment
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [program] + arguments
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        public func finish() -> String {
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
    }

    public static func start(_ program: String, _ arguments: [String]) throws -> Running {
        try Running(program, arguments)
    }

    /// The repository's root (for scripts under scripts/).
    public static var repository: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }
}
