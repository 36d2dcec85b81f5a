import GatewayConfig
import GatewayJSON
import GatewaySystem

/// A journal the gateway will not start on, worded for the operator.
public struct JournalDamage: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// What `SessionJournal.repair` kept and dropped.
public struct JournalRepairReport: Sendable {
    public let path: String
    public let keptRecords: Int
    /// One line per dropped record: number, offset, length, reason.
    public let dropped: [String]
    /// Where the file as it was before the repair is kept (nil when nothing needed repair).
    public let backupPath: String?
}

extension SessionJournal {
    /// What a journal file holds: the sessions open at its end, how many records it has, and
    /// what the operator should hear about it.
    public struct Loaded: Sendable {
        public var sessions: [SessionSnapshot] = []
        public var records = 0
        public var warnings: [String] = []
    }

    /// Reads the journal in `directory`. A torn tail (whatever follows the last whole record: a
    /// crash mid-write) is cut off on disk before anything is appended, so a new record never
    /// lands glued to a fragment; nothing acknowledged is in it, since an answer waits for its
    /// record's sync. Damage followed by whole records is not a crash: it throws, naming each
    /// damaged record, because skipping one could bring back a revoked session.
    public static func load(directory: String, defaults: JSONActionAPIDefaults) throws(JournalDamage) -> Loaded {
        let path = path(inDirectory: directory)
        guard FileSystem.exists(path) else { return Loaded() }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readBytes(path)
        } catch {
            throw JournalDamage(message: "cannot read the session journal \(path): \(error.reason)")
        }
        let scan = JournalFormat.scan(bytes)
        let damaged = scan.damagedBeforeTail
        if !damaged.isEmpty {
            let listed = damaged.prefix(5).map(JournalFormat.describe).joined(separator: "; ")
            let more = damaged.count > 5 ? "; and \(damaged.count - 5) more" : ""
            throw JournalDamage(message: """
                the session journal \(path) has damaged records (not a torn last write): \(listed)\(more); \(scan.wholeRecords.count) whole records \
                in all. The gateway does not start on it, because skipping a damaged record could bring back a revoked session \
                or lose a live one. To keep every whole record and drop the damaged ones, stop every gateway on this data folder \
                and run: gateway repair-journal --config <your gateway.json> (the file as it is now is kept beside it)
                """)
        }
        var loaded = Loaded()
        if let tail = scan.tail {
            do {
                try FileSystem.truncateDurably(path, to: tail.offset)
            } catch {
                throw JournalDamage(message: "the session journal \(path) ends in a torn record that cannot be cut off: \(error)")
            }
            loaded.warnings.append("\(path): cut off a torn tail of \(tail.length) bytes at byte \(tail.offset) (an unfinished last record, as a crash in the middle of a write leaves; the gateway answers only once a record is whole on disk)")
        }
        if scan.uncheckedRecords > 0 {
            loaded.warnings.append("\(path): \(scan.uncheckedRecords) records without checksums (written by an older gateway); they are rewritten with checksums at the next compaction")
        }
        let whole = scan.wholeRecords
        loaded.records = whole.count
        let (sessions, warnings) = replay(whole.compactMap(\.value), path: path, numbers: whole.map(\.number), defaults: defaults)
        loaded.sessions = sessions
        loaded.warnings += warnings
        return loaded
    }

    /// Keeps every whole record of the journal in `directory` and drops the damaged ones (a torn
    /// tail included). The file as it was is kept as `sessions.journal.damaged-<seconds>`.
    public static func repair(directory: String) throws(SystemError) -> JournalRepairReport {
        let path = path(inDirectory: directory)
        let bytes = try FileSystem.readBytes(path)
        let scan = JournalFormat.scan(bytes)
        let damaged = scan.records.filter { $0.value == nil }
        guard !damaged.isEmpty else {
            return JournalRepairReport(path: path, keptRecords: scan.records.count, dropped: [], backupPath: nil)
        }
        let backup = "\(path).damaged-\(WallClock.nowSeconds())"
        try FileSystem.writeDurably(backup, bytes)
        var kept: [UInt8] = []
        for record in scan.wholeRecords { kept += bytes[record.offset..<(record.offset + record.length)] }
        try FileSystem.replaceDurably(path, with: kept)
        return JournalRepairReport(path: path, keptRecords: scan.wholeRecords.count,
                                   dropped: damaged.map(JournalFormat.describe), backupPath: backup)
    }

    /// Applies whole records in order: the sessions open at the end, in the order they opened.
    static func replay(_ values: [JSONValue], path: String, numbers: [Int], defaults: JSONActionAPIDefaults)
        -> (sessions: [SessionSnapshot], warnings: [String]) {
        var open: [TokenDigest: SessionSnapshot] = [:]
        var order: [TokenDigest] = []
        var warnings: [String] = []
        for (value, number) in zip(values, numbers) {
            guard let digest = value["digest"]?.stringValue.flatMap(TokenDigest.init(hex:)) else {
                warnings.append("\(path): record \(number) has no valid digest; skipped")
                continue
            }
            switch value["op"]?.stringValue {
            case "open":
                guard let session = SessionSnapshot(journalValue: value, digest: digest, defaults: defaults) else {
                    warnings.append("\(path): record \(number) is an incomplete session; skipped")
                    continue
                }
                if open[digest] == nil { order.append(digest) }
                open[digest] = session
            case "alter":
                guard let existing = open[digest],
                      let settings = value["settings"].flatMap({ SessionSettings(journalValue: $0, defaults: defaults) }) else { continue }
                open[digest] = existing.with(settings: settings)
            case "close":
                open.removeValue(forKey: digest)
            default:
                warnings.append("\(path): record \(number) has an unknown op; skipped")
            }
        }
        return (order.compactMap { open[$0] }, warnings)
    }
}

extension SessionSnapshot {
    /// A session from an "open" record.
    init?(journalValue value: JSONValue, digest: TokenDigest, defaults: JSONActionAPIDefaults) {
        guard let username = value["username"]?.stringValue, let client = value["client"]?.stringValue,
              let upstream = value["upstream"]?.stringValue, let upstreamToken = value["upstreamToken"]?.stringValue,
              let started = value["started"]?.intValue,
              let settings = value["settings"].flatMap({ SessionSettings(journalValue: $0, defaults: defaults) }) else { return nil }
        self.init(digest: digest, username: username, clientAddress: client, upstream: upstream,
                  upstreamToken: upstreamToken, settings: settings, startedAt: started)
    }
}
