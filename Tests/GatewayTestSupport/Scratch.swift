import Foundation
import Glibc

/// One folder per test process for every temporary file a test makes, removed when the process exits,
/// so a direct `swift test` leaves nothing behind in /tmp either (scripts/test also gives the run its
/// own TMPDIR). The processes tests start get it as their TMPDIR (`childEnvironment`); this
/// process's own environment is left alone, since tests run in parallel and setenv is not thread-safe.
public enum Scratch {
    public static let root: URL = {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let url = URL(fileURLWithPath: base).appendingPathComponent("gateway-tests-\(getpid())")
        // Readable by others: some tests run check-config as `nobody` on a file in here.
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, 0o755)
        atexit { try? FileManager.default.removeItem(at: Scratch.root) }
        return url
    }()

    /// This process's environment with TMPDIR pointing into `root`, for the processes tests start.
    public static var childEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = root.path
        return environment
    }
}
