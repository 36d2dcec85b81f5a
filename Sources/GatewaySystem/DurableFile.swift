import Glibc

/// A file opened for appending records that must reach the disk (the session journal).
/// Created with mode 0600: it describes live sessions and nobody else should read it.
///
/// `appendDurably` is all or nothing: a write or sync that fails (ENOSPC, EIO, a short write) is
/// cut back to the last durable size before the error is thrown, so the file never keeps half a
/// record. `reserve` claims space past the content by writing zeros there, which later appends
/// overwrite: blocks a full disk cannot take away, and, since neither the file's size nor its
/// block map changes, a sync after an append has only the data to write (on ext4 about a third
/// less time per fdatasync than an append that grows the file). So the content ends at the last
/// nonzero byte: for text whose last byte is never zero (journal lines end in a newline).
public final class AppendOnlyFile {
    public let path: String
    private var fd: Int32
    /// The content's length after the last append that reached the disk.
    public private(set) var durableSize: Int
    /// The content written so far, synced or not.
    private var contentEnd: Int
    /// The file's length: the content and the zeros claimed past it.
    public private(set) var allocatedSize: Int
    static let zeroChunk = [UInt8](repeating: 0, count: 64 * 1024)

    public init(path: String) throws(SystemError) {
        self.path = path
        fd = try syscall("open \(path)") { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
        _ = fchmod(fd, 0o600)
        var info = stat()
        allocatedSize = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        durableSize = 0
        contentEnd = 0
        durableSize = try endOfContent()
        contentEnd = durableSize
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Where the zeros claimed ahead start: read backwards from the end a chunk at a time.
    private func endOfContent() throws(SystemError) -> Int {
        var end = allocatedSize
        var chunk = [UInt8](repeating: 0, count: Self.zeroChunk.count)
        while end > 0 {
            let start = max(0, end - chunk.count)
            let want = end - start
            let got = try syscall("read \(path)") { chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(start)) } }
            guard got == want else { throw SystemError(call: "read \(path)", errno: EIO) }
            if let last = chunk[..<want].lastIndex(where: { $0 != 0 }) { return start + last + 1 }
            end = start
        }
        return 0
    }

    /// Writes every byte after the content (retrying short writes), without syncing and without rolling back.
    public func append(_ bytes: [UInt8]) throws(SystemError) {
        try write(bytes, at: contentEnd)
        contentEnd += bytes.count
        allocatedSize = max(allocatedSize, contentEnd)
    }

    private func write(_ bytes: [UInt8], at position: Int) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = try syscall("write \(path)") {
                bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + offset, $0.count - offset, off_t(position + offset)) }
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
        durableSize = contentEnd
    }

    /// Cuts anything past the last durable size (a failed append's partial bytes, and the zeros
    /// claimed ahead, which truncation gives back too).
    private func rollBack() {
        if ftruncate(fd, off_t(durableSize)) == 0 { _ = fdatasync(fd) }
        contentEnd = durableSize
        allocatedSize = durableSize
    }

    /// Gives back the space claimed past the content (to make room on a full disk).
    public func releasePreallocation() {
        if ftruncate(fd, off_t(contentEnd)) == 0 { allocatedSize = contentEnd }
    }

    /// Makes what was appended durable.
    public func sync() throws(SystemError) {
        _ = try syscall("fdatasync \(path)") { fdatasync(fd) }
    }

    /// Makes sure the file's first `size` bytes exist on disk, claiming what lies past the content
    /// with zeros. Throws ENOSPC, with nothing claimed, when the disk cannot give them.
    public func reserve(upTo size: Int) throws(SystemError) {
        guard size > allocatedSize else { return }
        var position = allocatedSize
        do {
            while position < size {
                let count = min(Self.zeroChunk.count, size - position)
                try write(count == Self.zeroChunk.count ? Self.zeroChunk : Array(Self.zeroChunk[..<count]), at: position)
                position += count
            }
        } catch {
            _ = ftruncate(fd, off_t(allocatedSize))
            throw error
        }
        allocatedSize = size
    }

    /// Bytes an unprivileged writer could still take on the file's file system (nil if unknown).
    public var freeBytesOnDisk: Int? {
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { return nil }
        return Int(info.f_bavail) * Int(info.f_frsize)
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
