import Dispatch
import GatewayConfig
import GatewayJSON
import GatewaySystem
import Synchronization

/// One change to the session table, as the journal stores it.
public enum JournalRecord: Sendable {
    case opened(SessionSnapshot)
    case altered(TokenDigest, SessionSettings)
    case closed(TokenDigest)

    /// One JSON line. Only the token's digest is written, never the token.
    var line: [UInt8] {
        let value: JSONValue
        switch self {
        case .opened(let s):
            value = .object([
                ("op", .string("open")), ("digest", .string(s.digest.hex)), ("username", .string(s.username)),
                ("client", .string(s.clientAddress)), ("upstream", .string(s.upstream)),
                ("upstreamToken", .string(s.upstreamToken)), ("started", .int(s.startedAt)), ("settings", s.settings.journalValue),
            ])
        case .altered(let digest, let settings):
            value = .object([("op", .string("alter")), ("digest", .string(digest.hex)), ("settings", settings.journalValue)])
        case .closed(let digest):
            value = .object([("op", .string("close")), ("digest", .string(digest.hex))])
        }
        var bytes = JSONWriter.bytes(value)
        bytes.append(10)
        return bytes
    }
}

/// Where a compaction reads the live sessions from: first their digests (one consistent
/// point), then the sessions in batches, so that a compaction never copies the whole table at once.
public protocol SessionSource: Sendable {
    func liveDigests() -> [TokenDigest]
    /// The sessions among `digests` that still exist.
    func sessions(_ digests: ArraySlice<TokenDigest>) -> [SessionSnapshot]
}

/// The session table on disk: an append-only file of JSON lines (`sessions.journal` in the data
/// directory, mode 0600). Appends are group-committed on one background queue: every record
/// waiting when a write starts goes out in one write and one fdatasync, and each caller's
/// completion runs after its record is durable. When enough records have accumulated the file is
/// rewritten from the live sessions, so it stays proportional to the table. The rewrite runs on a
/// second queue while appends go on: the records appended meanwhile are added to the new file
/// before it is renamed over the old one, so a login never waits for a compaction.
public final class SessionJournal: Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "gateway.session-journal")
    private let compactionQueue = DispatchQueue(label: "gateway.session-journal-compaction")
    private let file: FileBox
    private let compactAfterRecords: Int
    private let source: SessionSource
    static let compactionBatch = 1024
    private let pending = Mutex<PendingWrites>(PendingWrites())

    private struct PendingWrites {
        var records: [(bytes: [UInt8], completion: (@Sendable (SystemError?) -> Void)?)] = []
        var draining = false
        var recordsInFile = 0
        /// Live sessions written by the last compaction: the file is rewritten only once it has
        /// grown to twice that (and past `compactAfterRecords`), so compaction stays amortized O(1).
        var liveAtCompaction = 0
    }

    /// The open file and the compaction in progress, touched only on `queue`.
    private final class FileBox: @unchecked Sendable {
        var file: AppendOnlyFile
        var compacting = false
        /// Records appended since the compaction's snapshot, for the new file.
        var sinceSnapshot: [UInt8] = []
        var sinceSnapshotCount = 0
        init(_ file: AppendOnlyFile) { self.file = file }
    }

    public static func path(inDirectory directory: String) -> String { directory + "/sessions.journal" }

    /// Opens (creating where missing) the journal in `directory`; `recordsInFile` is what `read` found.
    public init(directory: String, recordsInFile: Int, compactAfterRecords: Int, source: SessionSource) throws(SystemError) {
        try FileSystem.makeDirectories(directory)
        path = Self.path(inDirectory: directory)
        file = FileBox(try AppendOnlyFile(path: path))
        self.compactAfterRecords = compactAfterRecords
        self.source = source
        pending.withLock { $0.recordsInFile = recordsInFile }
    }

    /// Queues `record`; `completion` (on the journal's queue) runs once it is on disk, or with the error.
    public func append(_ record: JournalRecord, completion: (@Sendable (SystemError?) -> Void)? = nil) {
        let startDrain = pending.withLock { p in
            p.records.append((record.line, completion))
            defer { p.draining = true }
            return !p.draining
        }
        if startDrain { queue.async { self.drain() } }
    }

    /// Waits until everything queued so far is on disk, compaction included (tests, shutdown).
    public func flush() {
        repeat {
            queue.sync {}
            compactionQueue.sync {}
            queue.sync {}
        } while pending.withLock({ $0.draining }) || queue.sync(execute: { file.compacting })
    }

    private func drain() {
        while true {
            let batch = pending.withLock { p -> [(bytes: [UInt8], completion: (@Sendable (SystemError?) -> Void)?)] in
                let taken = p.records
                p.records.removeAll()
                if taken.isEmpty { p.draining = false }
                p.recordsInFile += taken.count
                return taken
            }
            if batch.isEmpty { return }
            var bytes: [UInt8] = []
            for record in batch { bytes += record.bytes }
            var failure: SystemError?
            do {
                try file.file.append(bytes)
                try file.file.sync()
            } catch {
                failure = error
            }
            for record in batch { record.completion?(failure) }
            if file.compacting {
                file.sinceSnapshot += bytes
                file.sinceSnapshotCount += batch.count
            } else if pending.withLock({ $0.recordsInFile > max(compactAfterRecords, 2 * $0.liveAtCompaction) }) {
                startCompaction()
            }
        }
    }

    /// Takes the snapshot here (after every record so far), writes it on the compaction queue,
    /// and finishes back here. Replaying is idempotent (an open of a digest already open replaces
    /// it, a close of an unknown digest does nothing), so records that overlap the snapshot are harmless.
    private func startCompaction() {
        file.compacting = true
        file.sinceSnapshot = []
        file.sinceSnapshotCount = 0
        let digests = source.liveDigests()
        let temporary = path + ".compacting"
        compactionQueue.async {
            let failure: SystemError?
            var written = 0
            do throws(SystemError) {
                try FileSystem.writeDurably(temporary, [])
                let output = try AppendOnlyFile(path: temporary)
                defer { output.close() }
                // Batches keep the copy small; a session ended meanwhile is left out, and its close
                // record (appended since the digests were taken) is carried over anyway.
                for start in stride(from: 0, to: digests.count, by: Self.compactionBatch) {
                    var bytes: [UInt8] = []
                    for session in self.source.sessions(digests[start..<min(start + Self.compactionBatch, digests.count)]) {
                        bytes += JournalRecord.opened(session).line
                        written += 1
                    }
                    try output.append(bytes)
                }
                try output.sync()
                failure = nil
            } catch {
                failure = error
            }
            let live = written
            self.queue.async { self.finishCompaction(temporary, live: live, failure: failure) }
        }
    }

    private func finishCompaction(_ temporary: String, live: Int, failure: SystemError?) {
        defer {
            file.compacting = false
            file.sinceSnapshot = []
        }
        do {
            if let failure { throw failure }
            let replacement = try AppendOnlyFile(path: temporary)
            try replacement.append(file.sinceSnapshot)
            try replacement.sync()
            replacement.close()
            try FileSystem.renameDurably(temporary, to: path)
            file.file.close()
            file.file = try AppendOnlyFile(path: path)
            let total = live + file.sinceSnapshotCount
            pending.withLock { $0.recordsInFile = total; $0.liveAtCompaction = live }
        } catch {
            ProcessSetup.writeStandardError("session journal: compaction of \(path) failed: \(error); appending to the old file\n")
            pending.withLock { $0.liveAtCompaction = $0.recordsInFile }
        }
    }

    /// What a journal file holds: the sessions open at its end, how many records it had, and a
    /// warning for each record that could not be read (a torn last record after a crash is skipped).
    public static func read(directory: String, defaults: JSONActionAPIDefaults) -> (sessions: [SessionSnapshot], records: Int, warnings: [String]) {
        let path = path(inDirectory: directory)
        guard FileSystem.exists(path) else { return ([], 0, []) }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.readBytes(path)
        } catch {
            return ([], 0, ["cannot read \(path): \(error.reason); starting with no sessions"])
        }
        var open: [TokenDigest: SessionSnapshot] = [:]
        var order: [TokenDigest] = []
        var warnings: [String] = []
        var records = 0
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.isEmpty {
            records += 1
            let isLast = index == lines.count - 1
            guard let value = try? JSONParser.parse(Array(line)), let digest = value["digest"]?.stringValue.flatMap(TokenDigest.init(hex:)) else {
                warnings.append(isLast
                    ? "\(path): the last record is torn (\(line.count) bytes, probably cut off by a crash); skipped"
                    : "\(path): record \(index + 1) is unreadable; skipped")
                continue
            }
            switch value["op"]?.stringValue {
            case "open":
                guard let username = value["username"]?.stringValue, let client = value["client"]?.stringValue,
                      let upstream = value["upstream"]?.stringValue, let upstreamToken = value["upstreamToken"]?.stringValue,
                      let started = value["started"]?.intValue,
                      let settings = value["settings"].flatMap({ SessionSettings(journalValue: $0, defaults: defaults) }) else {
                    warnings.append("\(path): record \(index + 1) is an incomplete session; skipped")
                    continue
                }
                if open[digest] == nil { order.append(digest) }
                open[digest] = SessionSnapshot(digest: digest, username: username, clientAddress: client, upstream: upstream,
                                               upstreamToken: upstreamToken, settings: settings, startedAt: started)
            case "alter":
                guard let existing = open[digest],
                      let settings = value["settings"].flatMap({ SessionSettings(journalValue: $0, defaults: defaults) }) else { continue }
                open[digest] = existing.with(settings: settings)
            case "close":
                open.removeValue(forKey: digest)
            default:
                warnings.append("\(path): record \(index + 1) has an unknown op; skipped")
            }
        }
        return (order.compactMap { open[$0] }, records, warnings)
    }
}
