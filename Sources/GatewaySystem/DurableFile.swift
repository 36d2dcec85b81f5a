import Glibc

/// A file opened for appending records that must reach the disk (the session journal).
/// Created with mode 0600: it describes live sessions and nobody else should read it.
public final class AppendOnlyFile {
    public let path: String
    private var fd: Int32

    public init(path: String) throws(SystemError) {
        self.path = path
        fd = try syscall("open \(path)") { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) }
        _ = fchmod(fd, 0o600)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Writes every byte (retrying short writes).
    public func append(_ bytes: [UInt8]) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let written = try syscall("write \(path)") {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            }
            offset += written
        }
    }

    /// Makes what was appended durable.
    public func sync() throws(SystemError) {
        _ = try syscall("fdatasync \(path)") { fdatasync(fd) }
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
