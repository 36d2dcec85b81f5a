import FairComStub
import GatewaySystem
import Glibc

let usage = """
usage: faircom-stub [--port P] [--address A] [--accounts FILE] [--workers N] [--latency-ms MS] [--fault none|close|http500|hang]
                    [--permanent-sessions allow|refuse] [--token-bytes N] [--max-sessions-per-address N]
                    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

A FairCom-style JSON Action backend for tests, benchmarks and local runs.
Default account: admin / ADMIN. Prints "faircom-stub listening on HOST:PORT" once ready.

"""

func fail(_ message: String) -> Never {
    ProcessSetup.writeStandardError("faircom-stub: \(message)\n")
    exit(2)
}

var options = StubServer.Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    func value() -> String {
        guard let v = arguments.next() else { fail("\(argument) needs a value") }
        return v
    }
    switch argument {
    case "--port":
        guard let port = Int(value()), (0...65535).contains(port) else { fail("--port must be 0 to 65535") }
        options.port = port
    case "--address": options.address = value()
    case "--workers":
        guard let n = Int(value()), n > 0, n <= 256 else { fail("--workers must be 1 to 256") }
        options.workers = n
    case "--accounts":
        let path = value()
        do { options.accounts = try StubServer.loadAccounts(path: path) } catch { fail("\(error)") }
    case "--latency-ms":
        guard let ms = Int(value()), ms >= 0 else { fail("--latency-ms must be a non-negative integer") }
        options.faults.latencyMilliseconds = ms
    case "--fault":
        let name = value()
        guard let mode = StubFaults.Mode(rawValue: name) else { fail("--fault must be one of none, close, http500, hang (got \"\(name)\")") }
        options.faults.mode = mode
    case "--permanent-sessions":
        let choice = value()
        guard choice == "allow" || choice == "refuse" else { fail("--permanent-sessions must be allow or refuse (got \"\(choice)\")") }
        options.allowsPermanentSessions = choice == "allow"
    case "--max-sessions-per-address":
        guard let n = Int(value()), n >= 0 else { fail("--max-sessions-per-address must be a non-negative integer") }
        options.maxSessionsPerAddress = n
    case "--token-bytes":
        guard let n = Int(value()), (12...189).contains(n) else { fail("--token-bytes must be 12 to 189") }
        options.tokenBytes = n
    case "--tls-cert": options.tlsCertificate = value()
    case "--tls-key": options.tlsKey = value()
    case "--tls-client-ca": options.tlsClientAuthority = value()
    case "-h", "--help":
        ProcessSetup.writeStandardOutput(usage)
        exit(0)
    default:
        fail("unknown argument \"\(argument)\"\n\(usage)")
    }
}

if (options.tlsCertificate == nil) != (options.tlsKey == nil) { fail("--tls-cert and --tls-key go together") }
if options.tlsClientAuthority != nil && options.tlsCertificate == nil { fail("--tls-client-ca needs --tls-cert and --tls-key") }
ProcessSetup.ignoreSIGPIPE()
TerminationSignals.block()
do {
    let server = try StubServer(options: options)
    server.start()
    ProcessSetup.writeStandardOutput("faircom-stub listening on \(server.boundAddress)\n")
    _ = TerminationSignals.wait()
    server.stop()
    exit(0)
} catch {
    fail("\(error)")
}
