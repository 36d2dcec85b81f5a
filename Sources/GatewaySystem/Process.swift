import CGatewayShims
import COpenSSL
import Glibc

/// Process-wide settings every server binary needs before its loops start.
public enum ProcessSetup {
    /// A peer that resets a connection must not kill the process with SIGPIPE.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Buffers above 1 MiB (large request bodies) are mapped and unmapped on their own, so their
    /// memory goes back to the system as soon as they are freed. glibc otherwise raises this
    /// threshold after the first large free, and later bodies then stay in the heap after the
    /// clients leave. Not lower: every unmap flushes the other cores' TLBs.
    public static func returnLargeBuffersToSystem() {
        _ = cgw_set_mmap_threshold(1 << 20)
    }

    /// Returns free pages inside malloc's heaps to the system (`malloc_trim`); takes milliseconds.
    public static func returnFreedMemory() {
        _ = cgw_trim_heap()
    }

    /// Bytes malloc holds free in its arenas (whether or not their pages were already given back).
    public static var heapFreeBytes: Int { Int(cgw_heap_free_bytes()) }

    /// The process's resident memory (`/proc/self/statm`), or nil where there is no /proc.
    public static var residentBytes: Int? {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        // "size resident shared ...", in pages.
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    public static var onlineProcessorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Writes one line to standard error without buffering, so lines from several threads never interleave.
    public static func writeStandardError(_ line: String) {
        var line = line
        line.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }

    public static func writeStandardOutput(_ line: String) {
        var line = line
        line.withUTF8 { bytes in _ = Glibc.write(1, bytes.baseAddress, bytes.count) }
    }
}

/// Cryptographically strong random bytes from OpenSSL.
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: the process has no entropy source")
        return out
    }

    /// A URL-safe token (base64url without padding) of `byteCount` random bytes.
    public static func urlSafeToken(byteCount: Int = 32) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let raw = bytes(byteCount)
        var out = [UInt8]()
        out.reserveCapacity((byteCount * 4 + 2) / 3)
        var index = 0
        while index + 3 <= raw.count {
            let v = UInt32(raw[index]) << 16 | UInt32(raw[index + 1]) << 8 | UInt32(raw[index + 2])
            out.append(alphabet[Int(v >> 18 & 63)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)]); out.append(alphabet[Int(v & 63)])
            index += 3
        }
        let rest = raw.count - index
        if rest > 0 {
            var v = UInt32(raw[index]) << 16
            if rest == 2 { v |= UInt32(raw[index + 1]) << 8 }
            out.append(alphabet[Int(v >> 18 & 63)]); out.append(alphabet[Int(v >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(v >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
