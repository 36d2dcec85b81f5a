import Glibc

/// The process's pid file: written whole (a temporary file renamed over it), so a reader never
/// sees half a number, and removed at a clean stop.
public enum PidFile {
    public static func write(_ path: String) throws(SystemError) {
        let temporary = path + ".tmp"
        let descriptor = try syscall("open \(temporary)") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        let text = Array("\(getpid())\n".utf8)
        let written = text.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == text.count else { unlink(temporary); throw SystemError(call: "write \(temporary)", errno: errno == 0 ? EIO : errno) }
        _ = try syscall("rename \(temporary) to \(path)") { rename(temporary, path) }
    }

    /// The pid in the file, if it names a running process.
    public static func runningProcess(_ path: String) -> Result<Int32, PidFileError> {
        guard let bytes = try? FileSystem.readBytes(path) else { return .failure(.unreadable(path)) }
        let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
        guard let pid = Int32(text), pid > 0 else { return .failure(.malformed(path, text)) }
        guard kill(pid, 0) == 0 || errno == EPERM else { return .failure(.notRunning(path, pid)) }
        return .success(pid)
    }

    public static func remove(_ path: String) { unlink(path) }

    /// Sends `signal` to `pid`.
    public static func send(_ signal: Int32, to pid: Int32) throws(SystemError) {
        _ = try syscall("kill \(pid)") { kill(pid, signal) }
    }
}

public enum PidFileError: Error, CustomStringConvertible {
    case unreadable(String), malformed(String, String), notRunning(String, Int32)

    public var description: String {
        switch self {
        case .unreadable(let path): return "cannot read the pid file \(path) (is the gateway running?)"
        case .malformed(let path, let text): return "the pid file \(path) holds \"\(text)\", not a process ID"
        case .notRunning(let path, let pid): return "no process \(pid) runs (the pid file \(path) is stale)"
        }
    }
}

/// Switching to an unprivileged account after binding ports below 1024 as root.
public enum AccountSwitch {
    public struct Account: Sendable {
        public let name: String
        public let uid: uid_t
        public let gid: gid_t
    }

    public static func lookUp(_ name: String) -> Account? {
        guard let entry = getpwnam(name) else { return nil }
        return Account(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// Why `account` could not create and remove files in `directory`, judged from the mode bits of
    /// the folder and of every folder above it (root passes every access check, so trying as root
    /// would prove nothing); nil when it can.
    public static func writeProblem(_ account: Account, directory: String) -> String? {
        var groups = [gid_t](repeating: 0, count: 64), count = Int32(groups.count)
        if getgrouplist(account.name, account.gid, &groups, &count) < 0 { count = 0 }
        let memberOf = Set(groups.prefix(Int(max(0, count)))).union([account.gid])
        var folder = directory
        var needed: (user: mode_t, group: mode_t, other: mode_t) = (S_IWUSR | S_IXUSR, S_IWGRP | S_IXGRP, S_IWOTH | S_IXOTH)
        while true {
            var info = stat()
            guard stat(folder, &info) == 0 else { return "\(folder): \(SystemError(call: "stat", errno: errno).reason)" }
            let bits = info.st_uid == account.uid ? needed.user : memberOf.contains(info.st_gid) ? needed.group : needed.other
            if info.st_mode & bits != bits {
                let what = folder == directory ? "write in" : "reach \(directory) through"
                return "\(account.name) (uid \(account.uid)) cannot \(what) \(folder) (owner uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8)))"
            }
            guard let slash = folder.lastIndex(of: "/"), folder != "/" else { return nil }
            folder = slash == folder.startIndex ? "/" : String(folder[..<slash])
            needed = (S_IXUSR, S_IXGRP, S_IXOTH)
        }
    }

    public struct HandOverError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Gives `path`, a directory or a regular file with one name, to `account`, following no link:
    /// the account may write in the data folder, and a link it planted there would otherwise hand
    /// it whatever the link names (/etc/shadow) at the next start as root.
    public static func handOver(_ path: String, to account: Account) throws(HandOverError) {
        var before = stat(), after = stat()
        if let problem = handOverProblem(path, to: account, status: &before) { throw HandOverError(description: problem) }
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard descriptor >= 0 else { throw HandOverError(description: "\(path): \(SystemError(call: "open", errno: errno).reason)") }
        defer { close(descriptor) }
        // The same file that was looked at, not one swapped in since.
        guard fstat(descriptor, &after) == 0, after.st_dev == before.st_dev, after.st_ino == before.st_ino else {
            throw HandOverError(description: "\(path) changed while the gateway gave it to \(account.name)")
        }
        guard fchown(descriptor, account.uid, account.gid) == 0 else {
            throw HandOverError(description: "\(path): \(SystemError(call: "fchown", errno: errno).reason)")
        }
    }

    /// Why `handOver` would refuse `path` (check-config asks too); nil when it would not.
    public static func handOverProblem(_ path: String, to account: Account) -> String? {
        var status = stat()
        return handOverProblem(path, to: account, status: &status)
    }

    private static func handOverProblem(_ path: String, to account: Account, status before: inout stat) -> String? {
        guard lstat(path, &before) == 0 else { return "\(path): \(SystemError(call: "lstat", errno: errno).reason)" }
        let kind = before.st_mode & S_IFMT
        if kind == S_IFLNK {
            return "\(path) is a symbolic link; the gateway follows none when it gives its files to \(account.name): remove it"
        }
        guard kind == S_IFDIR || kind == S_IFREG else {
            return "\(path) is neither a folder nor a regular file; the gateway gives only those to \(account.name): remove it"
        }
        if kind == S_IFREG && before.st_nlink > 1 {
            return "\(path) has \(before.st_nlink) names (hard links); the gateway gives only files with one name to \(account.name): remove the others"
        }
        return nil
    }

    /// A link at `path` that someone other than root made (the account could make one where it
    /// may write): a start as root would follow it. Nil for anything else, an operator's link too.
    public static func foreignLinkProblem(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFLNK, info.st_uid != 0 else { return nil }
        return "\(path) is a symbolic link made by uid \(info.st_uid), not root; a gateway started as root would follow it: remove it"
    }

    /// Becomes the account (its files handed over first, `handOver`): supplementary groups, group,
    /// then user, in that order (the other way round cannot drop the group).
    public static func become(_ account: Account) throws(SystemError) {
        _ = try syscall("initgroups \(account.name)") { initgroups(account.name, account.gid) }
        _ = try syscall("setgid \(account.gid)") { setgid(account.gid) }
        _ = try syscall("setuid \(account.uid)") { setuid(account.uid) }
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }.reversed()
            .drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
