import GatewaySystem

/// The data folder (`sessions.dataDirectory`), opened for one gateway: checked as ssh checks a
/// key file (a real directory of this user, open to nobody else), created 0700 where missing,
/// and locked exclusively for as long as the gateway runs, so two gateways never write one
/// journal (a token deleted on one would live on in the other, and a compaction by one would
/// drop the other's sessions).
public final class DataDirectory: Sendable {
    public let path: String
    private let lock: DirectoryLock

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// Checks, creates where missing, and locks `path`. `handedTo` is the account a gateway started
    /// as root gives the folder to once its ports are bound (`user`): owned by it, the folder is
    /// this gateway's own, as one it owns itself is.
    public init(_ path: String, handedTo heir: UInt32? = nil) throws(Problem) {
        self.path = path
        try Self.check(path, creating: true, heir: heir)
        do {
            lock = try DirectoryLock(path)
        } catch {
            switch error {
            case .held(let pid, let command):
                let holder = pid.map { "process \($0)\(command.map { " (\($0))" } ?? "")" } ?? "another process"
                throw Problem(message: "the data folder \(path) is in use by \(holder): only one gateway may use a data folder (sessions.dataDirectory); stop it, or give this gateway a folder of its own")
            case .system(let failure):
                throw Problem(message: "cannot lock the data folder \(path): \(failure)")
            }
        }
        try Self.checkJournal(path, heir: heir)
    }

    /// What starting on `path` would refuse, without creating or locking anything (check-config).
    public static func problems(_ path: String, handedTo heir: UInt32? = nil) -> [String] {
        do {
            try check(path, creating: false, heir: heir)
            try checkJournal(path, heir: heir)
            return []
        } catch {
            return [error.message]
        }
    }

    private static func check(_ path: String, creating: Bool, heir: UInt32?) throws(Problem) {
        let status: FileStatus?
        do { status = try FileSystem.status(path) } catch { throw Problem(message: "cannot use the data folder \(path): \(error)") }
        guard let status else {
            if creating {
                do { try FileSystem.makeDirectories(path) } catch {
                    throw Problem(message: "cannot create the data folder \(path): \(error)")
                }
                return
            }
            // check-config: the nearest existing parent must let this user create it.
            var parent = path
            repeat {
                parent = parent.contains("/") ? String(parent[..<parent.lastIndex(of: "/")!]) : "."
                if parent.isEmpty { parent = "/" }
            } while !FileSystem.exists(parent) && parent != "/" && parent != "."
            if (try? FileSystem.status(parent))??.kind != .directory {
                throw Problem(message: "the data folder \(path) cannot be created: \(parent) is not a directory")
            }
            // Tried, not inferred from permissions: root passes every access check, yet /proc or a
            // read-only mount still refuse a new folder.
            if let failure = FileSystem.probeCreatingDirectory(in: parent) {
                throw Problem(message: "the data folder \(path) does not exist and cannot be created in \(parent): \(failure.reason)")
            }
            return
        }
        try checkPrivate(path, status, what: "data folder", kind: .directory, fix: "chmod 700", heir: heir)
        if let problem = FileSystem.writeProblem(path) {
            throw Problem(message: "the data folder \(path) is not writable: \(problem.reason)")
        }
    }

    private static func checkJournal(_ directory: String, heir: UInt32?) throws(Problem) {
        let journal = SessionJournal.path(inDirectory: directory)
        let status: FileStatus?
        do { status = try FileSystem.status(journal) } catch { throw Problem(message: "cannot use the session journal \(journal): \(error)") }
        if let status { try checkPrivate(journal, status, what: "session journal", kind: .regular, fix: "chmod 600", heir: heir) }
    }

    /// A symbolic link, a foreign owner or group/other permissions are refused, with the fix named.
    private static func checkPrivate(_ path: String, _ status: FileStatus, what: String, kind: FileStatus.Kind, fix: String,
                                     heir: UInt32?) throws(Problem) {
        switch status.kind {
        case .symbolicLink:
            throw Problem(message: "the \(what) \(path) is a symbolic link; the gateway refuses it (a link can point its sessions anywhere): use the real path")
        case kind: break
        default:
            throw Problem(message: "the \(what) \(path) is not a \(kind == .directory ? "directory" : "regular file")")
        }
        let user = heir ?? FileSystem.effectiveUser
        if status.owner != user && status.owner != FileSystem.effectiveUser {
            throw Problem(message: "the \(what) \(path) is owned by uid \(status.owner), not by the gateway's user (uid \(user)); it holds upstream session tokens: chown \(user) \(path)")
        }
        if status.permissions & 0o077 != 0 {
            let mode = String(status.permissions, radix: 8)
            throw Problem(message: "the \(what) \(path) is open to group or others (mode \(mode)); it holds upstream session tokens: \(fix) \(path)")
        }
    }
}
