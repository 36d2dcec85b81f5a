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

    /// A revocation must be writable on a full disk: it goes into the space the journal reserves.
    var isRevocation: Bool {
        if case .closed = self { return true }
        return false
    }

    /// One checksummed line (see `JournalFormat`). Only the token's digest is written, never the token.
    var line: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        appendLine(to: &out)
        return out
    }

    /// Appends `line` to `out`, written straight from the fields (a compaction writes every live session).
    func appendLine(to out: inout [UInt8]) {
        JournalFormat.appendLine(to: &out) { json in
            json.append(UInt8(ascii: "{"))
            JSONWriter.writeKey("op", into: &json, first: true)
            switch self {
            case .opened(let s):
                JSONWriter.writeString("open", into: &json)
                writeDigest(s.digest, into: &json)
                JSONWriter.writeMember("username", s.username, into: &json)
                JSONWriter.writeMember("client", s.clientAddress, into: &json)
                JSONWriter.writeMember("upstream", s.upstream, into: &json)
                JSONWriter.writeMember("upstreamToken", s.upstreamToken, into: &json)
                JSONWriter.writeKey("started", into: &json)
                JSONWriter.writeInt(s.startedAt, into: &json)
                JSONWriter.writeKey("settings", into: &json)
                s.settings.writeJournalValue(into: &json)
            case .altered(let digest, let settings):
                JSONWriter.writeString("alter", into: &json)
                writeDigest(digest, into: &json)
                JSONWriter.writeKey("settings", into: &json)
                settings.writeJournalValue(into: &json)
            case .closed(let digest):
                JSONWriter.writeString("close", into: &json)
                writeDigest(digest, into: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
    }

    private func writeDigest(_ digest: TokenDigest, into json: inout [UInt8]) {
        JSONWriter.writeKey("digest", into: &json)
        json.append(UInt8(ascii: "\""))
        let at = json.count
        json.append(contentsOf: repeatElement(0, count: 64))
        _ = json.withUnsafeMutableBufferPointer { digest.writeHex(into: UnsafeMutableBufferPointer(rebasing: $0[at...])) }
        json.append(UInt8(ascii: "\""))
    }
}

/// Where a compaction reads the live sessions from: first their digests (one consistent
/// point), then the sessions in batches, so that a compaction never copies the whole table at once.
public protocol SessionSource: Sendable {
    /// How many sessions are live now: asked after every batch, so it must be cheap.
    var liveCount: Int { get }
    func liveDigests() -> [TokenDigest]
    /// The sessions among `digests` that still exist.
    func sessions(_ digests: ArraySlice<TokenDigest>) -> [SessionSnapshot]
}

/// The session table on disk: an append-only file of checksummed JSON lines (`sessions.journal`
/// in the data directory, mode 0600; see `JournalFormat`). Appends are group-committed on one
/// background queue: every record waiting when a write starts goes out in one write and one
/// fdatasync, and each caller's completion runs after its record is durable, or with the error
/// once the partial write has been cut off again (the file never keeps half a record).
///
/// A full disk must not stop revocations: the journal keeps `reserveBytes` preallocated past its
/// end. A batch that cannot get its space plus the reserve writes only its revocations (into the
/// reserve) and fails the rest with ENOSPC, so a login on a full disk is refused and changes
/// nothing while a deleteSession or an expiry still reaches the disk. A revocation that fails
/// anyway (EIO) is retried every second until it is written.
///
/// When most of the file is dead records (ended or superseded sessions) it is rewritten from the
/// live sessions, so it stays proportional to the table; a file of live sessions only (logins
/// piling up) is never rewritten, since a copy would reclaim nothing. The rewrite runs on a second queue while appends go on: the
/// records appended meanwhile are added to the new file before it is renamed over the old one,
/// so a login never waits for a compaction.
public final class SessionJournal: Sendable {
    public let path: String
    private let queue = DispatchQueue(label: "gateway.session-journal")
    private let compactionQueue = DispatchQueue(label: "gateway.session-journal-compaction")
    private let file: FileBox
    private let compactAfterRecords: Int
    public let statistics = JournalStatistics()
    private let source: SessionSource
    static let compactionBatch = 1024
    /// Room kept for revocations on a full disk: about 600 close records.
    public static let reserveBytes = 64 * 1024
    /// Space claimed ahead of the appends, beyond the reserve.
    static let claimAheadBytes = 256 * 1024
    /// A file this large is compacted whatever its record count (a few huge alterSession
    /// records must not grow it without bound), once it is also twice its last compacted size.
    public static let compactAfterBytes = 64 << 20
    /// On a full disk, after a compaction failed (no room for the live sessions' copy), the next waits this long.
    static let spaceCompactionIntervalSeconds = 10.0
    private let pending = Mutex<PendingWrites>(PendingWrites())

    typealias Completion = @Sendable (SystemError?) -> Void
    struct PendingRecord {
        let bytes: [UInt8]
        let isRevocation: Bool
        let completion: Completion?
    }

    private struct PendingWrites {
        var records: [PendingRecord] = []
        var draining = false
        var recordsInFile = 0
        /// The file's records when a compaction last failed: the next is tried only once it has doubled.
        var recordsAtFailedCompaction = 0
    }

    /// The open file and the compaction in progress, touched only on `queue`.
    private final class FileBox: @unchecked Sendable {
        var file: AppendOnlyFile
        var compacting = false
        /// Records appended since the compaction's snapshot, for the new file.
        var sinceSnapshot: [UInt8] = []
        var sinceSnapshotCount = 0
        /// Revocations whose write failed, waiting for the next retry.
        var failedRevocations: [PendingRecord] = []
        /// The size of the file the last compaction wrote.
        var bytesAtCompaction = 0
        /// When a compaction last failed: on a full disk the next is not tried for a while.
        var lastCompactionFailure: DispatchTime?
        /// The reserve is lent to a compaction on a full disk: the old file does not claim it back meanwhile.
        var reserveLent = false
        init(_ file: AppendOnlyFile) { self.file = file }
    }

    public static func path(inDirectory directory: String) -> String { directory + "/sessions.journal" }

    /// Opens (creating where missing) the journal in `directory`; `recordsInFile` is what `load` found.
    public init(directory: String, recordsInFile: Int, compactAfterRecords: Int, source: SessionSource) throws(SystemError) {
        try FileSystem.makeDirectories(directory)
        path = Self.path(inDirectory: directory)
        let opened = try AppendOnlyFile(path: path)
        file = FileBox(opened)
        self.compactAfterRecords = compactAfterRecords
        self.source = source
        pending.withLock { $0.recordsInFile = recordsInFile }
        // Claim the reserve now, while there may still be room; failing here is not fatal.
        queue.async { [file] in
            try? file.file.reserve(upTo: file.file.durableSize + Self.reserveBytes)
        }
    }

    /// Queues `record`; `completion` (on the journal's queue) runs once it is on disk, or with the error.
    public func append(_ record: JournalRecord, completion: (@Sendable (SystemError?) -> Void)? = nil) {
        enqueue([PendingRecord(bytes: record.line, isRevocation: record.isRevocation, completion: completion)])
    }

    private func enqueue(_ records: [PendingRecord]) {
        let startDrain = pending.withLock { p in
            p.records += records
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
            let batch = pending.withLock { p -> [PendingRecord] in
                let taken = p.records
                p.records.removeAll()
                if taken.isEmpty { p.draining = false }
                return taken
            }
            if batch.isEmpty { return }
            let written = write(batch)
            pending.withLock { $0.recordsInFile += written.count }
            if written.refusedForSpace { compactForSpace() }
            if written.bytes.isEmpty { continue }
            if file.compacting {
                file.sinceSnapshot += written.bytes
                file.sinceSnapshotCount += written.count
            } else if isDueForCompaction {
                startCompaction()
            }
        }
    }

    /// Due once more than half the file's records are dead: the copy then writes fewer records
    /// than twice those appended since the last copy, so compaction stays amortized O(1) per
    /// record. The size rule is for a few huge alterSession records, which the count misses.
    private var isDueForCompaction: Bool {
        let (records, floor) = pending.withLock { ($0.recordsInFile, max(compactAfterRecords, 2 * $0.recordsAtFailedCompaction)) }
        let bySize = file.file.durableSize > max(Self.compactAfterBytes, 2 * file.bytesAtCompaction)
        guard records > floor || bySize else { return false }
        let live = source.liveCount
        return records > max(floor, 2 * live) || (bySize && records > live)
    }

    /// A full disk may be full of this journal's own dead records: a compaction gives that space
    /// back when there is room for the live sessions' copy. After a failed one, not again for a while.
    private func compactForSpace() {
        guard !file.compacting else { return }
        if let last = file.lastCompactionFailure, DispatchTime.now() < last + Self.spaceCompactionIntervalSeconds { return }
        guard pending.withLock({ $0.recordsInFile }) > source.liveDigests().count else { return }
        // The copy needs room that a full disk has only in the revocation reserve: lend it to the
        // compaction (a revocation meanwhile that finds no room is retried), reclaimed on the new file.
        file.file.releasePreallocation()
        file.reserveLent = true
        startCompaction()
    }

    /// At start: a journal mostly of ended sessions is compacted at once, not only once it has
    /// grown past the thresholds again.
    public func compactIfMostlyEnded(liveSessions: Int) {
        queue.async { [self] in
            guard !file.compacting, pending.withLock({ $0.recordsInFile }) > 2 * liveSessions + 64 else { return }
            startCompaction()
        }
    }

    /// Writes what of `batch` the disk can take, completes every record, and returns what was written.
    private func write(_ batch: [PendingRecord]) -> (bytes: [UInt8], count: Int, refusedForSpace: Bool) {
        var accepted = batch
        var refusal: SystemError?
        let total = batch.reduce(0) { $0 + $1.bytes.count }
        if let error = claimSpace(for: total) {
            // The reserve is for revocations only: everything else is refused, unwritten.
            accepted = batch.filter(\.isRevocation)
            refusal = error
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(total)
        for record in accepted { bytes += record.bytes }
        var failure: SystemError?
        // Index in `batch` of each record that reached the disk.
        var written = Set<Int>()
        if !bytes.isEmpty {
            do {
                let started = MonotonicClock.nowMicroseconds()
                try file.file.appendDurably(bytes)
                written = Set(batch.indices.filter { refusal == nil || batch[$0].isRevocation })
                statistics.batchWritten(records: written.count, microseconds: MonotonicClock.nowMicroseconds() - started)
            } catch {
                failure = error
                statistics.writeFailed()
            }
        }
        if failure != nil && accepted.count > 1 {
            // The batch did not fit whole (it was rolled back): one at a time, what fits still goes.
            bytes = []
            for index in batch.indices where refusal == nil || batch[index].isRevocation {
                guard (try? file.file.appendDurably(batch[index].bytes)) != nil else { continue }
                written.insert(index)
                bytes += batch[index].bytes
            }
        }
        for (index, record) in batch.enumerated() {
            if written.contains(index) {
                record.completion?(nil)
            } else {
                record.completion?(!record.isRevocation && refusal != nil ? refusal : failure)
            }
        }
        let lost = batch.indices.filter { batch[$0].isRevocation && !written.contains($0) }.map { batch[$0] }
        if !lost.isEmpty { retryLater(lost) }
        return (bytes, written.count, (refusal ?? failure).map(\.isOutOfSpace) ?? false)
    }

    /// Makes sure `count` more bytes and the revocation reserve have blocks; the error (ENOSPC)
    /// when they cannot be had, or when the disk has no free block left at all (the reserve may
    /// not be eaten into by logins just because a block of it was half used).
    private func claimSpace(for count: Int) -> SystemError? {
        if let free = file.file.freeBytesOnDisk, free == 0 { return .outOfSpace("write \(path)") }
        let needed = file.file.durableSize + count + (file.reserveLent ? 0 : Self.reserveBytes)
        do {
            // Claimed a chunk ahead, so that most batches claim nothing of their own; on a disk
            // without room for the chunk, exactly what this batch needs.
            if needed > file.file.allocatedSize, (try? file.file.reserve(upTo: needed + Self.claimAheadBytes)) != nil { return nil }
            try file.file.reserve(upTo: needed)
            return nil
        } catch {
            return error
        }
    }

    /// A revocation must reach the disk eventually: its record goes out again in a second.
    private func retryLater(_ revocations: [PendingRecord]) {
        file.failedRevocations += revocations.map { PendingRecord(bytes: $0.bytes, isRevocation: true, completion: nil) }
        guard file.failedRevocations.count == revocations.count else { return }
        queue.asyncAfter(deadline: .now() + 1) { [self] in
            let retry = file.failedRevocations
            file.failedRevocations = []
            ProcessSetup.writeStandardError("session journal: writing \(retry.count) revocation(s) again\n")
            enqueue(retry)
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
                        JournalRecord.opened(session).appendLine(to: &bytes)
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
            file.reserveLent = false
            file.sinceSnapshot = []
        }
        do {
            if let failure { throw failure }
            let replacement = try AppendOnlyFile(path: temporary)
            try replacement.append(file.sinceSnapshot)
            try replacement.sync()
            replacement.close()
            try FileSystem.renameDurably(temporary, to: path)
            let reopened = try AppendOnlyFile(path: path)
            file.file.close()
            file.file = reopened
            try? reopened.reserve(upTo: reopened.durableSize + Self.reserveBytes)
            file.bytesAtCompaction = reopened.durableSize
            file.lastCompactionFailure = nil
            statistics.compacted(ok: true)
            let total = live + file.sinceSnapshotCount
            pending.withLock { $0.recordsInFile = total; $0.recordsAtFailedCompaction = 0 }
        } catch {
            // The old file is whole and still in use; the copy only costs space.
            FileSystem.remove(temporary)
            statistics.compacted(ok: false)
            ProcessSetup.writeStandardError("session journal: compaction of \(path) failed: \(error); appending to the old file\n")
            pending.withLock { $0.recordsAtFailedCompaction = $0.recordsInFile }
            file.bytesAtCompaction = file.file.durableSize
            file.lastCompactionFailure = .now()
        }
    }
}
