/// The live sessions by token digest, keyed by 64 of the digest's bits: a slot is 16 bytes instead
/// of the 40 a full digest takes, which at a million sessions (two million slots) is 50 MiB less.
/// Each session keeps its whole digest, and a lookup matches only when all of it is equal, so a
/// token that shares the 64 bits of another's digest finds nothing. Two live sessions whose
/// digests share them (about one chance in 10^7 at a million sessions) both stay: the second goes
/// into `overflow`, keyed by the whole digest, which is otherwise empty and never looked at.
struct SessionIndex {
    private var primary: [UInt64: Session] = [:]
    private var overflow: [TokenDigest: Session] = [:]

    var count: Int { primary.count + overflow.count }

    subscript(digest: TokenDigest) -> Session? {
        if let session = primary[digest.indexKey], session.digest == digest { return session }
        return overflow.isEmpty ? nil : overflow[digest]
    }

    /// Adds a session whose digest is not in the index yet.
    mutating func insert(_ session: Session) {
        let key = session.digest.indexKey
        if primary[key] == nil {
            primary[key] = session
        } else {
            overflow[session.digest] = session
        }
    }

    @discardableResult
    mutating func remove(_ digest: TokenDigest) -> Session? {
        let key = digest.indexKey
        if let session = primary[key], session.digest == digest {
            primary.removeValue(forKey: key)
            // A session that had to overflow for this one's bits takes its place.
            if !overflow.isEmpty, let waiting = overflow.first(where: { $0.key.indexKey == key }) {
                overflow.removeValue(forKey: waiting.key)
                primary[key] = waiting.value
            }
            return session
        }
        return overflow.isEmpty ? nil : overflow.removeValue(forKey: digest)
    }

    var sessions: [Session] { Array(primary.values) + Array(overflow.values) }

    var digests: [TokenDigest] { primary.values.map(\.digest) + overflow.keys }
}
