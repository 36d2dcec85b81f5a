import Glibc

/// Whole-file reads for configuration and fixtures (cold paths only).
public enum FileSystem {
    public static func readBytes(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try syscall("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = try syscall("read \(path)") { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    public static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }
}

/// Why a file that should hold configuration (gateway.json, a certificate, a key) was not read.
public struct FileReadError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

extension FileSystem {
    /// Reads `path` only when it is a regular file (links followed) of at most `maxBytes`: a device
    /// (`/dev/zero`) would be read until memory runs out, and a FIFO would block forever.
    public static func readRegularFile(_ path: String, maxBytes: Int) throws(FileReadError) -> [UInt8] {
        if let problem = regularFileProblem(path, maxBytes: maxBytes) { throw FileReadError(message: problem) }
        // O_NONBLOCK: should the path become a FIFO between the check and the open, the open does not hang.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FileReadError(message: String(cString: strerror(errno))) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count <= maxBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileReadError(message: String(cString: strerror(errno)))
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
        throw FileReadError(message: "more than the \(maxBytes) bytes such a file may have")
    }

    /// Why `path` is not a regular file of at most `maxBytes` (links followed), or nil when it is.
    public static func regularFileProblem(_ path: String, maxBytes: Int) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return String(cString: strerror(errno)) }
        guard info.st_mode & S_IFMT == S_IFREG else { return "not a regular file (\(kindName(info.st_mode)))" }
        guard Int(info.st_size) <= maxBytes else { return "\(info.st_size) bytes, more than the \(maxBytes) bytes such a file may have" }
        return nil
    }

    static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }
}

extension FileSystem {
    /// The names in a directory (no "." or ".."); empty when it cannot be read.
    /// The folder `path` is in: "/" for a file at the root, "." for a bare name.
    public static func folder(of path: String) -> String {
        path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    }

    public static func entries(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
