import CGatewayShims
import Glibc

/// A file opened for appending records that must reach the disk (the session journal).
/// Created with mode 0600: it describes live sessions and nobody else should read it.
///
/// `appendDurably` is all or nothing: a write or sync that fails (ENOSPC, EIO, a short write) is
/// cut back to the last durable size before the error is thrown, so the file never keeps half a
/// record. `reserve` preallocates space past the end (without growing the file) that later
/// appends write into without needing new blocks: what a full disk cannot take away.
public final class AppendOnlyFile {
    public let path: String
    private var fd: Int32
    /// The size after the last append that reached the disk.
    public private(set) var durableSize: Int
    /// Bytes allocated from the start of the file (at least `durableSize`).
    public private(set) var allocatedSize: Int

    public init(path: String) throws(SystemError) {
        self.path = path
        fd = try syscall("open \(path)") { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        _ = fchmod(fd, 0o600)
        var info = stat()
        durableSize = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        allocatedSize = durableSize
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Writes every byte (retrying short writes), without syncing and without rolling back.
    public func append(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = try syscall("write \(path)") {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += written
        }
    }

    /// Writes `bytes` and syncs them; on any failure the file is cut back to its last durable
    /// size before the error is thrown.
    public func appendDurably(_ bytes: [UInt8]) throws(SystemError) {
        do {
            try append(bytes)
            try sync()
        } catch {
            rollBack()
            throw error
        }
        durableSize += bytes.count
        allocatedSize = max(allocatedSize, durableSize)
    }

    /// Cuts anything past the last durable size (a failed append's partial bytes).
    private func rollBack() {
        if ftruncate(fd, off_t(durableSize)) == 0 { _ = fdatasync(fd) }
        // Truncation also frees the blocks preallocated past the end.
        allocatedSize = durableSize
    }

    /// Gives back the blocks preallocated past the end (to make room on a full disk).
    public func releasePreallocation() {
        if ftruncate(fd, off_t(durableSize)) == 0 { allocatedSize = durableSize }
    }

    /// Makes what was appended durable.
    public func sync() throws(SystemError) {
        _ = try syscall("fdatasync \(path)") { fdatasync(fd) }
    }

    /// Makes sure the first `size` bytes of the file have blocks, without changing its size.
    /// Throws ENOSPC when the disk cannot give them; EOPNOTSUPP where the file system cannot
    /// preallocate (the caller then goes on without a reserve).
    public func reserve(upTo size: Int) throws(SystemError) {
        guard size > allocatedSize else { return }
        _ = try syscall("fallocate \(path)") { cgw_preallocate_keep_size(fd, Int64(allocatedSize), Int64(size - allocatedSize)) }
        allocatedSize = size
    }

    /// Bytes an unprivileged writer could still take on the file's file system (nil if unknown).
    public var freeBytesOnDisk: Int? {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    public var size: Int {
        var info = stat()
        return fstat(fd, &info) == 0 ? Int(info.st_size) : 0
    }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

extension FileSystem {
    /// Creates `path` and its parents with mode 0700 where they are missing.
    public static func makeDirectories(_ path: String) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SystemError(call: "mkdir \(prefix)", errno: errno)
            }
            prefix += "/"
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Cuts `path` to `size` bytes and syncs it (a torn journal tail).
    public static func truncateDurably(_ path: String, to size: Int) throws(SystemError) {
        let fd = try syscall("open \(path)") { open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW) }
        defer { Glibc.close(fd) }
        _ = try syscall("ftruncate \(path)") { ftruncate(fd, off_t(size)) }
        _ = try syscall("fsync \(path)") { fsync(fd) }
    }

    public static func remove(_ path: String) { unlink(path) }

    /// Replaces `path` with `bytes` so that a crash leaves either the old or the new file:
    /// write a temporary file, sync it, rename it over, sync the directory.
    public static func replaceDurably(_ path: String, with bytes: [UInt8]) throws(SystemError) {
        let temporary = path + ".tmp"
        try writeDurably(temporary, bytes)
        try renameDurably(temporary, to: path)
    }

    /// Creates (or empties) `path`, writes `bytes` and syncs them; mode 0600.
    public static func writeDurably(_ path: String, _ bytes: [UInt8]) throws(SystemError) {
        unlink(path)
        let file = try AppendOnlyFile(path: path)
        defer { file.close() }
        try file.append(bytes)
        try file.sync()
    }

    /// Renames `source` over `destination` and syncs the directory, so the rename survives a crash.
    public static func renameDurably(_ source: String, to destination: String) throws(SystemError) {
        _ = try syscall("rename \(source)") { rename(source, destination) }
        let directory = destination.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let dirFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); Glibc.close(dirFD) }
    }
}
