import GatewaySessions
import Synchronization

/// Concurrency: shared by every loop, one Mutex around all of it, held for a few dictionary
/// operations and never across I/O. The session table holds the sessions themselves; this holds
/// what the fleet needs to know of each cached one: when Redis last vouched for it, and whether
/// it was used since the last report. Lock order: this lock, then the table's, never the reverse.
final class FleetCache: Sendable {
    enum Freshness {
        /// Vouched for within `cacheMilliseconds` and since the invalidation channel last came back.
        case fresh
        /// Known here, but too long ago or before a gap in the channel: ask Redis.
        case stale(validatedAt: Int64)
        /// Not cached.
        case unknown
    }

    private struct Entry {
        var validatedAt: Int64
        var touched: Bool
    }

    private struct State {
        var entries: [TokenDigest: Entry] = [:]
        var touched: [TokenDigest] = []
        /// Digests being fetched: how many fetches, and the sequence number of the last invalidation
        /// that arrived meanwhile (a fetch begun before it may carry an answer older than it).
        var fetching: [TokenDigest: (count: Int, invalidatedAt: UInt64)] = [:]
        var invalidations: UInt64 = 0
        /// Entries vouched for before this (a loss of the channel) are stale.
        var validFloor: Int64 = .min
    }

    private let state = Mutex(State())
    let cacheMilliseconds: Int64

    init(cacheMilliseconds: Int64) { self.cacheMilliseconds = cacheMilliseconds }

    /// Marks the session used (for the next report) and says whether Redis has vouched for it lately.
    func use(_ digest: TokenDigest, now: Int64) -> Freshness {
        state.withLock { s in
            guard var entry = s.entries[digest] else { return .unknown }
            if !entry.touched {
                entry.touched = true
                s.entries[digest] = entry
                s.touched.append(digest)
            }
            let fresh = entry.validatedAt >= s.validFloor && now - entry.validatedAt <= cacheMilliseconds
            return fresh ? .fresh : .stale(validatedAt: entry.validatedAt)
        }
    }

    /// Redis vouched for these sessions at `at` (a login, a fetch, a report).
    func vouch(_ digests: [TokenDigest], at: Int64) {
        state.withLock { s in
            for digest in digests {
                if var entry = s.entries[digest] {
                    entry.validatedAt = max(entry.validatedAt, at)
                    s.entries[digest] = entry
                } else {
                    s.entries[digest] = Entry(validatedAt: at, touched: false)
                }
            }
        }
    }

    /// Forgets a session (deleted, altered or expired anywhere in the fleet), and spoils a fetch of it under way.
    func invalidate(_ digest: TokenDigest, table: SessionTable) {
        state.withLock { s in
            s.invalidations += 1
            s.entries.removeValue(forKey: digest)
            if s.fetching[digest] != nil { s.fetching[digest]!.invalidatedAt = s.invalidations }
            table.remove(digest)
        }
    }

    /// The channel was lost: invalidations may have been missed, so nothing cached is fresh any more.
    func distrustAll(now: Int64) {
        state.withLock { $0.validFloor = now }
    }

    /// Starts a fetch; the returned ticket goes to `finishFetch` or `abandonFetch`.
    func beginFetch(_ digest: TokenDigest) -> UInt64 {
        state.withLock { s in
            var entry = s.fetching[digest] ?? (0, 0)
            entry.count += 1
            s.fetching[digest] = entry
            return s.invalidations
        }
    }

    private static func endFetch(_ digest: TokenDigest, ticket: UInt64, in s: inout State) -> Bool {
        guard var entry = s.fetching[digest] else { return false }
        let spoiled = entry.invalidatedAt > ticket
        entry.count -= 1
        if entry.count <= 0 { s.fetching.removeValue(forKey: digest) } else { s.fetching[digest] = entry }
        return spoiled
    }

    /// Ends a fetch; with the session Redis returned, caches it unless an invalidation came after
    /// the fetch began (then returns false: the answer may be older than the invalidation). The
    /// request that fetched it is a use, reported with the next ones.
    func finishFetch(_ digest: TokenDigest, ticket: UInt64, found session: SessionSnapshot?, startedAt: Int64, table: SessionTable, now: Int64) -> Bool {
        state.withLock { s in
            guard !Self.endFetch(digest, ticket: ticket, in: &s) else { return false }
            guard let session else {
                s.entries.removeValue(forKey: digest)
                table.remove(digest)
                return true
            }
            if table.find(digest) == nil { table.restore(session, now: now) }
            var entry = s.entries[digest] ?? Entry(validatedAt: startedAt, touched: false)
            entry.validatedAt = max(entry.validatedAt, startedAt)
            if !entry.touched {
                entry.touched = true
                s.touched.append(digest)
            }
            s.entries[digest] = entry
            return true
        }
    }

    /// A fetch that got no answer.
    func abandonFetch(_ digest: TokenDigest, ticket: UInt64) {
        state.withLock { s in _ = Self.endFetch(digest, ticket: ticket, in: &s) }
    }

    /// A report that failed: its sessions are reported with the next one instead.
    func retouch(_ digests: [TokenDigest]) {
        state.withLock { s in
            for digest in digests where s.entries[digest] != nil && !s.entries[digest]!.touched {
                s.entries[digest]!.touched = true
                s.touched.append(digest)
            }
        }
    }

    /// A session that idled out of this gateway's table (it may live on elsewhere in the fleet).
    func forget(_ digest: TokenDigest) {
        _ = state.withLock { $0.entries.removeValue(forKey: digest) }
    }

    /// The sessions used since the last report, cleared for the next one.
    func takeTouched() -> [TokenDigest] {
        state.withLock { s in
            let taken = s.touched
            s.touched.removeAll()
            for digest in taken { s.entries[digest]?.touched = false }
            return taken
        }
    }

    var cachedDigests: [TokenDigest] { state.withLock { Array($0.entries.keys) } }

    /// Drops entries of sessions the table no longer has (they idled out locally).
    func prune(keeping table: SessionTable) {
        let digests = cachedDigests
        let gone = digests.filter { table.find($0) == nil }
        guard !gone.isEmpty else { return }
        state.withLock { s in for digest in gone where table.find(digest) == nil { s.entries.removeValue(forKey: digest) } }
    }
}
