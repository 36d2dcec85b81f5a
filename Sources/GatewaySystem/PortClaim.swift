import Glibc

/// A claim on a listen port among gateways starting at the same moment: a socket bound to an
/// abstract Unix name derived from the port ("\0faircom-gateway/port/8080"). Only one process
/// can hold a name, and the kernel drops it when the process exits, so no file is left behind.
/// Held from before the "is the port free" probe until the listeners are bound: two gateways
/// started together can then not both pass the probe and share the port through SO_REUSEPORT.
public struct PortClaim: Sendable {
    private let fd: Int32

    /// Waits up to `timeoutMilliseconds` for another starting gateway to finish binding.
    public init(port: Int, timeoutMilliseconds: Int = 3000) throws(SystemError) {
        let name = Array("faircom-gateway/port/\(port)".utf8)
        var waited = 0
        while true {
            let socketFD = try syscall("socket AF_UNIX") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            // The path starts with a NUL byte: the abstract namespace.
            withUnsafeMutableBytes(of: &address.sun_path) { path in
                for (index, byte) in name.prefix(path.count - 1).enumerated() { path[index + 1] = byte }
            }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.count)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) }
            }
            if bound == 0 {
                fd = socketFD
                return
            }
            let code = errno
            Glibc.close(socketFD)
            guard code == EADDRINUSE, waited < timeoutMilliseconds else {
                throw SystemError(call: "claim of port \(port) (another gateway is starting on it)", errno: code)
            }
            usleep(10_000)
            waited += 10
        }
    }

    public func release() { Glibc.close(fd) }
}
