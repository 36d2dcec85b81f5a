import Foundation
import GatewayConfig
import GatewaySessions
import GatewaySystem
import GatewayTestSupport
import Glibc
import Synchronization
import Testing

/// A session source for tests: whatever `list` returns is live.
struct ListedSessions: SessionSource {
    let list: @Sendable () -> [SessionSnapshot]
    let count: @Sendable () -> Int
    /// `count` stands in for `list().count` where reading the list has a side effect.
    init(count: (@Sendable () -> Int)? = nil, _ list: @escaping @Sendable () -> [SessionSnapshot]) {
        self.list = list
        self.count = count ?? { list().count }
    }
    var liveCount: Int { count() }
    func liveDigests() -> [TokenDigest] { list().map(\.digest) }
    func sessions(_ digests: ArraySlice<TokenDigest>) -> [SessionSnapshot] {
        let all = list()
        return digests.compactMap { digest in all.first { $0.digest == digest } }
    }
}

@Suite struct SessionJournalTests {
    static let defaults = JSONActionAPIDefaults()

    static func directory() throws -> String {
        let url = Scratch.root.appendingPathComponent("journal-\(UUID().uuidString)")
        return url.path
    }

    static func session(_ name: String, permanent: Bool = false) -> (token: String, session: SessionSnapshot) {
        var settings = SessionSettings(defaults: defaults)
        settings.permanentSession = permanent
        settings.description = "session of \(name)"
        let token = SessionToken.generate()
        return (token, SessionSnapshot(digest: TokenDigest(token: token), username: name, clientAddress: "10.0.0.1",
                                       upstream: "faircom1", upstreamToken: "up-\(name)", settings: settings, startedAt: 1_700_000_000))
    }

    @Test func whatIsWrittenIsReadBackWithoutTokens() throws {
        let dir = try Self.directory()
        let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 1000, source: ListedSessions { [] })
        let a = Self.session("alice"), b = Self.session("bob", permanent: true), c = Self.session("carol")
        for s in [a, b, c] { journal.append(.opened(s.session)) }
        var altered = b.session.settings
        altered.description = "altered"
        journal.append(.altered(b.session.digest, altered))
        journal.append(.closed(c.session.digest))
        journal.flush()

        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(found.warnings.isEmpty)
        #expect(found.records == 5)
        #expect(found.sessions.map(\.username) == ["alice", "bob"])
        #expect(found.sessions[1].settings.description == "altered" && found.sessions[1].settings.permanentSession)
        #expect(found.sessions[0].upstreamToken == "up-alice")

        let text = try String(contentsOfFile: SessionJournal.path(inDirectory: dir), encoding: .utf8)
        for s in [a, b, c] { #expect(!text.contains(s.token), "a gateway token reached the journal") }
        #expect(text.contains(a.session.digest.hex))
        let mode = try FileManager.default.attributesOfItem(atPath: SessionJournal.path(inDirectory: dir))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// Writes sessions for `names` and returns the journal's path and the sessions.
    static func written(_ names: [String]) throws -> (dir: String, path: String, sessions: [SessionSnapshot]) {
        let dir = try Self.directory()
        let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 1000, source: ListedSessions { [] })
        let sessions = names.map { Self.session($0).session }
        for session in sessions { journal.append(.opened(session)) }
        journal.flush()
        return (dir, SessionJournal.path(inDirectory: dir), sessions)
    }

    /// A journal's content: the file without the zeros the journal claims past its records.
    static func bytes(_ path: String) throws -> [UInt8] {
        let file = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        return Array(file[..<(file.lastIndex { $0 != 0 }.map { $0 + 1 } ?? 0)])
    }
    static func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    @Test func aTornTailIsCutOffSoTheNextRecordIsNotGluedToIt() throws {
        let (dir, path, _) = try Self.written(["alice", "bob"])
        // Cut the last record in half, as a crash in the middle of a write would.
        let whole = try Self.bytes(path)
        try Self.write(Array(whole.dropLast(40)), to: path)

        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(found.sessions.map(\.username) == ["alice"])
        #expect(found.warnings.count == 1 && found.warnings[0].contains("torn tail"), "\(found.warnings)")
        let firstLength = try #require(whole.firstIndex(of: 10)) + 1
        #expect(try Self.bytes(path).count == firstLength, "the fragment is cut off on disk")

        // A record appended after the cut starts on a line of its own and is read back.
        let journal = try SessionJournal(directory: dir, recordsInFile: found.records, compactAfterRecords: 1000, source: ListedSessions { [] })
        let carol = Self.session("carol").session
        journal.append(.opened(carol))
        journal.flush()
        let again = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(again.sessions.map(\.username) == ["alice", "carol"])
        #expect(again.warnings.isEmpty)
    }

    @Test func damageBeforeTheTailRefusesTheStartNamingRecordAndOffset() throws {
        let (dir, path, _) = try Self.written(["alice", "bob", "carol"])
        var bytes = try Self.bytes(path)
        let secondStart = try #require(bytes.firstIndex(of: 10)) + 1
        bytes[secondStart + 20] ^= 0x01 // one flipped bit inside record 2
        try Self.write(bytes, to: path)
        do {
            _ = try SessionJournal.load(directory: dir, defaults: Self.defaults)
            Issue.record("a journal damaged in the middle was loaded")
        } catch {
            #expect(error.message.contains("record 2 at byte \(secondStart)"), "\(error.message)")
            #expect(error.message.contains("checksum mismatch") && error.message.contains("gateway repair-journal"))
        }
        // The repair keeps records 1 and 3, reports record 2, and keeps the damaged file.
        let report = try SessionJournal.repair(directory: dir)
        #expect(report.keptRecords == 2)
        #expect(report.dropped.count == 1 && report.dropped[0].contains("record 2 at byte \(secondStart)"))
        let backup = try #require(report.backupPath)
        #expect(try Self.bytes(backup) == bytes)
        let repaired = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(repaired.sessions.map(\.username) == ["alice", "carol"] && repaired.warnings.isEmpty)
    }

    @Test func everyKindOfDamageIsDetected() throws {
        let (_, path, _) = try Self.written(["alice", "bob", "carol"])
        let good = try Self.bytes(path)
        let firstEnd = try #require(good.firstIndex(of: 10)) + 1
        let head = Array(good[..<firstEnd]), rest = Array(good[firstEnd...])
        // Each case damages what follows record 1 and leaves whole records after it.
        let cases: [(String, [UInt8], whole: Int)] = [
            ("a fragment glued to the next record", head + Array(head.prefix(50)) + rest, 2),
            ("zeros in the middle", head + [UInt8](repeating: 0, count: 64) + [10] + rest, 3),
            ("a checksum digit changed", Array(head.dropLast(2)) + [head[head.count - 2] == 48 ? 49 : 48, 10] + rest, 2),
            ("an empty line", head + [10] + rest, 3),
        ]
        for (name, bytes, whole) in cases {
            let scan = JournalFormat.scan(bytes)
            #expect(scan.damagedBeforeTail.count == 1, "\(name): \(scan.records.map { $0.problem ?? "ok" })")
            #expect(scan.wholeRecords.count == whole, "\(name)")
        }
        // Garbage after the last whole record is a tail, not damage before it.
        let tail = JournalFormat.scan(good + Array(repeating: UInt8(ascii: "x"), count: 100) + [UInt8](repeating: 0, count: 4096))
        #expect(tail.wholeRecords.count == 3)
        // Zeros after it are the space the journal claims ahead: nothing to cut off.
        let claimed = JournalFormat.scan(good + [UInt8](repeating: 0, count: 4096))
        #expect(claimed.tail == nil && claimed.damagedBeforeTail.isEmpty && claimed.wholeRecords.count == 3)
        // A complete last record that fails its checksum is damage, not a torn write: it could be a revocation.
        let lastDamaged = JournalFormat.scan(Array(good.dropLast(2)) + [good[good.count - 2] == 48 ? 49 : 48, 10])
        #expect(lastDamaged.tail == nil && lastDamaged.damagedBeforeTail.map(\.number) == [3])
        #expect(tail.damagedBeforeTail.isEmpty && tail.tail?.offset == good.count && tail.tail?.length == 100)
    }

    @Test func aJournalWithoutChecksumsFromAnOlderGatewayIsStillRead() throws {
        let (dir, path, _) = try Self.written(["alice", "bob"])
        // Strip the checksums: the lines an older gateway wrote.
        let legacy = try Self.bytes(path).split(separator: 10).flatMap { line in Array(line[..<line.lastIndex(of: 9)!]) + [10] }
        try Self.write(legacy, to: path)
        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(found.sessions.map(\.username) == ["alice", "bob"])
        #expect(found.warnings.contains { $0.contains("without checksums") })
    }

    @Test func compactionKeepsOnlyLiveSessions() throws {
        let dir = try Self.directory()
        let keeper = Self.session("keeper")
        let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 100,
                                         source: ListedSessions { [keeper.session] })
        journal.append(.opened(keeper.session))
        for i in 0..<150 {
            let s = Self.session("temp\(i)")
            journal.append(.opened(s.session))
            journal.append(.closed(s.session.digest))
        }
        journal.flush()
        // Records that arrived during a compaction count towards the next one, which a later append
        // starts once they pass the threshold: the file never holds more than the threshold and a batch.
        journal.append(.closed(Self.session("gone").session.digest))
        journal.flush()
        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(found.sessions.map(\.username) == ["keeper"])
        #expect(found.records <= 101, "the journal holds \(found.records) of its 302 records for one live session")
    }

    /// Logins piling up leave nothing to reclaim: copying them would only cost the disk twice.
    @Test func aJournalOfLiveSessionsOnlyIsNotRewritten() throws {
        let dir = try Self.directory()
        let sessions = (0..<300).map { Self.session("user\($0)").session }
        let live = Mutex(sessions)
        let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 100,
                                         source: ListedSessions { live.withLock { $0 } })
        for session in sessions { journal.append(.opened(session)) }
        journal.flush()
        #expect(journal.statistics.figures.compactions == 0)
        // Once most of the file is ended sessions, it is rewritten down to the rest.
        for session in sessions.prefix(200) {
            live.withLock { $0.removeAll { $0.digest == session.digest } }
            journal.append(.closed(session.digest))
        }
        journal.flush()
        #expect(journal.statistics.figures.compactions >= 1)
        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(Set(found.sessions.map(\.username)) == Set(sessions.suffix(100).map(\.username)))
        #expect(found.records < 400, "\(found.records) records for 100 live sessions")
    }

    /// A login while the journal is being compacted must not be lost with the old file.
    @Test func recordsAppendedDuringACompactionSurviveIt() throws {
        final class Box: @unchecked Sendable { var journal: SessionJournal? }
        let dir = try Self.directory()
        let keeper = Self.session("keeper"), late = Self.session("late")
        let box = Box()
        let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 100, source: ListedSessions(count: { 1 }) {
            // Called as the compaction reads the table: this record arrives after it.
            box.journal?.append(.opened(late.session))
            return [keeper.session]
        })
        box.journal = journal
        journal.append(.opened(keeper.session))
        for i in 0..<120 {
            let s = Self.session("temp\(i)")
            journal.append(.opened(s.session))
            journal.append(.closed(s.session.digest))
        }
        journal.flush()
        box.journal = nil
        let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
        #expect(Set(found.sessions.map(\.username)) == ["keeper", "late"])
        #expect(found.records < 150)
    }

    /// A journal that filled its disk with ended sessions gives the space back by compacting.
    @Test func aDiskFullOfEndedSessionsIsCompactedBackToRoom() throws {
        try TestDisks.withTinyDisk("256k") { mountPoint in
            let dir = mountPoint + "/data"
            let journal = try SessionJournal(directory: dir, recordsInFile: 0, compactAfterRecords: 1_000_000, source: ListedSessions { [] })
            final class Outcome: @unchecked Sendable { var error: SystemError? }
            func open() -> SystemError? {
                let outcome = Outcome()
                let s = Self.session("temp").session
                journal.append(.opened(s)) { outcome.error = $0 }
                journal.append(.closed(s.digest))
                journal.flush()
                return outcome.error
            }
            var refused: SystemError?
            for _ in 0..<2000 where refused == nil { refused = open() }
            let error = try #require(refused, "the disk never filled")
            #expect(error.isOutOfSpace)
            // The refusal started a compaction of the ended sessions: there is room again.
            journal.flush()
            #expect(open() == nil, "still no room after the compaction")
            let found = try SessionJournal.load(directory: dir, defaults: Self.defaults)
            #expect(found.sessions.isEmpty && found.records < 10, "\(found.records) records")
        }
    }

    @Test func aMissingJournalIsAnEmptyStart() throws {
        let found = try SessionJournal.load(directory: try Self.directory(), defaults: Self.defaults)
        #expect(found.sessions.isEmpty && found.records == 0 && found.warnings.isEmpty)
    }

    @Test func tokensAndDigests() {
        let token = SessionToken.generate()
        #expect(token.utf8.count == 64 && SessionToken.isWellFormed(token))
        #expect(SessionToken.generate() != token)
        #expect(!SessionToken.isWellFormed("short"))
        #expect(!SessionToken.isWellFormed((String(token.dropLast()) + "=")))
        for bad in ["+", "/", " ", "é", "\u{7F}", "@", "[", "`", "{"] {
            #expect(!SessionToken.isWellFormed(String(token.dropLast(bad.utf8.count)) + bad), "\(bad)")
        }
        #expect(SessionToken.isWellFormed(String(repeating: "-", count: 32) + String(repeating: "_", count: 32)))
        let digest = TokenDigest(token: token)
        #expect(TokenDigest(hex: digest.hex) == digest)
        #expect(digest.hex.count == 64 && digest.fingerprint.hasPrefix("sha256:") && digest.fingerprint.count == 23)
        #expect(TokenDigest(hex: "zz") == nil)
        // SHA-256 of "abc", the FIPS 180-2 example.
        #expect(TokenDigest(token: "abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func addressRanges() {
        let v4 = AddressRange("10.0.0.0/8")!
        #expect(v4.contains("10.200.1.1") && !v4.contains("11.0.0.1") && v4.contains("::ffff:10.1.2.3"))
        let v6 = AddressRange("fd00::/8")!
        #expect(v6.contains("fd12::1") && !v6.contains("fe80::1") && !v6.contains("10.0.0.1"))
        #expect(AddressRange("127.0.0.1")!.contains("127.0.0.1") && !AddressRange("127.0.0.1")!.contains("127.0.0.2"))
        #expect(AddressRange("10.0.0.0/33") == nil && AddressRange("nonsense") == nil && AddressRange("10.0.0.0/x") == nil)
    }
}
