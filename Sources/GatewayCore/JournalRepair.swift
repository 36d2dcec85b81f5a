import GatewayConfig
import GatewaySessions
import GatewaySystem

/// `gateway repair-journal`: under the data folder's lock (so never under a running gateway),
/// keeps every whole record of the journal and drops the damaged ones, saying which.
public enum JournalRepair {
    public static func run(_ configuration: GatewayConfiguration) throws -> String {
        let directory = try DataDirectory(configuration.sessions.dataDirectory)
        let path = SessionJournal.path(inDirectory: directory.path)
        guard FileSystem.exists(path) else { return "\(path): no journal; nothing to repair" }
        let report = try SessionJournal.repair(directory: directory.path)
        guard let backup = report.backupPath else {
            return "\(report.path): intact, \(report.keptRecords) records; nothing to repair"
        }
        return """
            \(report.path): kept \(report.keptRecords) whole records, dropped \(report.dropped.count):
            \(report.dropped.map { "  dropped \($0)" }.joined(separator: "\n"))
            the file as it was is kept as \(backup). A dropped record may have opened, altered or closed a session: \
            check describeSessions after the start.
            """
    }
}

/// The version `gateway --version` prints.
public enum GatewayVersion {
    public static let current = "0.8.0"
}
