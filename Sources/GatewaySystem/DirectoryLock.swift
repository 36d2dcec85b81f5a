import Glibc

/// What `lstat` says of a path: its kind, owner and permission bits (a symbolic link is not followed).
public struct FileStatus: Sendable {
    public enum Kind: Sendable { case directory, regular, symbolicLink, other }
    public let kind: Kind
    public let owner: UInt32
    public let permissions: UInt32
    public let size: Int
}

extension FileSystem {
    /// Nil when `path` does not exist; a `SystemError` for any other failure (EACCES, ...).
    public static func status(_ path: String) throws(SystemError) -> FileStatus? {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError(call: "lstat \(path)", errno: errno)
        }
        let type = info.st_mode & S_IFMT
        let kind: FileStatus.Kind = type == S_IFDIR ? .directory : type == S_IFREG ? .regular : type == S_IFLNK ? .symbolicLink : .other
        return FileStatus(kind: kind, owner: info.st_uid, permissions: info.st_mode & 0o7777, size: Int(info.st_size))
    }

    public static var effectiveUser: UInt32 { geteuid() }

    /// Creates and removes a scratch directory in `parent`; the error when that fails.
    public static func probeCreatingDirectory(in parent: String) -> SystemError? {
        let probe = "\(parent)/.gateway-check-\(getpid())"
        guard mkdir(probe, 0o700) == 0 else { return SystemError(call: "mkdir \(probe)", errno: errno) }
        rmdir(probe)
        return nil
    }

    /// The absolute path with every link resolved, or nil when it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Why this process could not create and write files in `directory` (access(2) with
    /// W_OK|X_OK: EACCES, EROFS, ...), or nil when it could.
    public static func writeProblem(_ directory: String) -> SystemError? {
        access(directory, W_OK | X_OK) == 0 ? nil : SystemError(call: "access \(directory)", errno: errno)
    }
}

/// An exclusive lock (flock) on a directory, held until the process exits: one owner per data folder.
public final class DirectoryLock: Sendable {
    public enum Failure: Error, Sendable {
        /// Another process holds it; its pid and command name when /proc/locks tells.
        case held(pid: Int32?, command: String?)
        case system(SystemError)
    }

    private let fd: Int32

    /// Takes the lock without waiting.
    public init(_ directory: String) throws(Failure) {
        let opened = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        guard opened >= 0 else { throw .system(SystemError(call: "open \(directory)", errno: errno)) }
        if flock(opened, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var info = stat()
            let inode = fstat(opened, &info) == 0 ? UInt64(info.st_ino) : 0
            Glibc.close(opened)
            guard code == EWOULDBLOCK else { throw .system(SystemError(call: "flock \(directory)", errno: code)) }
            let pid = Self.holder(ofInode: inode)
            throw .held(pid: pid, command: pid.flatMap(Self.command))
        }
        fd = opened
    }

    deinit { Glibc.close(fd) }

    /// /proc/locks lines read "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": the pid, then device:inode.
    private static func holder(ofInode inode: UInt64) -> Int32? {
        guard let text = try? FileSystem.readText("/proc/locks") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[1] == "FLOCK", let pid = Int32(fields[4]),
                  let inodeField = fields[5].split(separator: ":").last, UInt64(inodeField) == inode else { continue }
            return pid
        }
        return nil
    }

    private static func command(_ pid: Int32) -> String? {
        (try? FileSystem.readText("/proc/\(pid)/comm")).map { String($0.split(separator: "\n").first ?? "") }
    }
}
