import GatewayConfig
import GatewayCore
import GatewayLogging
import GatewaySystem
import Glibc

let usage = """
usage: gateway [--config FILE]                 run the gateway (default FILE: gateway.json)
       gateway check-config FILE               validate FILE, print every problem, exit 1 if any
       gateway repair-journal [--config FILE]  keep every whole record of the session journal, drop the damaged ones
       gateway reload [--config FILE]          make the running gateway (its pidFile) read FILE again (SIGHUP)
       gateway --version

"""

func fail(_ message: String, code: Int32 = 2) -> Never {
    ProcessSetup.writeStandardError("gateway: \(message)\n")
    exit(code)
}

func loadOrExit(_ path: String) -> GatewayConfiguration {
    do {
        return try GatewayConfiguration.load(path: path)
    } catch {
        ProcessSetup.writeStandardError("\(error)\n")
        exit(1)
    }
}

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "check-config" {
    guard arguments.count == 2 else { fail("check-config takes one file\n\(usage)") }
    let checked = loadOrExit(arguments[1])
    let problems = Gateway.startProblems(checked)
    guard problems.isEmpty else {
        ProcessSetup.writeStandardError("\(arguments[1]): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n" + problems.map { "  \($0)\n" }.joined())
        exit(1)
    }
    ProcessSetup.writeStandardOutput("\(arguments[1]): configuration is valid\n")
    exit(0)
}

if arguments.first == "--version" || arguments.first == "version" {
    ProcessSetup.writeStandardOutput("gateway \(GatewayVersion.current)\n")
    exit(0)
}

var command = "run"
if arguments.first == "repair-journal" || arguments.first == "reload" {
    command = arguments.removeFirst()
}
var configPath = "gateway.json"
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    switch argument {
    case "--config", "-c":
        guard !arguments.isEmpty else { fail("--config needs a file") }
        configPath = arguments.removeFirst()
    case "-h", "--help":
        ProcessSetup.writeStandardOutput(usage)
        exit(0)
    default:
        fail("unknown argument \"\(argument)\"\n\(usage)")
    }
}

let configuration = loadOrExit(configPath)
if command == "repair-journal" {
    do {
        let report = try JournalRepair.run(configuration)
        ProcessSetup.writeStandardOutput(report + "\n")
        exit(0)
    } catch {
        fail("repair-journal: \(error)", code: 1)
    }
}
if command == "reload" {
    guard !configuration.pidFile.isEmpty else {
        fail("reload: \(configPath) sets no \"pidFile\", so the running gateway cannot be found; set one, or send it SIGHUP yourself", code: 1)
    }
    switch PidFile.runningProcess(configuration.pidFile) {
    case .failure(let problem):
        fail("reload: \(problem)", code: 1)
    case .success(let pid):
        do {
            try PidFile.send(SIGHUP, to: pid)
        } catch {
            fail("reload: \(error)", code: 1)
        }
        ProcessSetup.writeStandardOutput("gateway: sent SIGHUP to pid \(pid); it logs whether the reload was applied or refused\n")
        exit(0)
    }
}
let logger = Logger(label: "gateway", level: Logger.Level(name: configuration.logging.level) ?? .info)
ProcessSetup.ignoreSIGPIPE()
ProcessSetup.returnLargeBuffersToSystem()
TerminationSignals.block()
let accountProblems = Gateway.accountProblems(configuration)
if !accountProblems.isEmpty { fail("cannot start: " + accountProblems.joined(separator: "; "), code: 1) }
let gateway: Gateway
do {
    gateway = try Gateway(configuration: configuration, logger: logger)
} catch {
    fail("cannot start: \(error)", code: 1)
}
if !configuration.user.isEmpty {
    guard let account = AccountSwitch.lookUp(configuration.user) else { fail("user: no account \"\(configuration.user)\" on this machine", code: 1) }
    if AccountSwitch.isRoot {
        let data = configuration.sessions.dataDirectory
        var owned = [data] + FileSystem.entries(of: data).map { data + "/" + $0 }
        // The access log is handed over when it is a plain file; an operator's link (/dev/stdout) is left alone.
        let accessLog = configuration.logging.accessLogFile
        if !accessLog.isEmpty, (try? FileSystem.status(accessLog))??.kind == .regular { owned.append(accessLog) }
        do {
            for path in owned { try AccountSwitch.handOver(path, to: account) }
        } catch {
            fail("user: cannot give \"\(account.name)\" its files: \(error)", code: 1)
        }
        do {
            try AccountSwitch.become(account)
        } catch {
            fail("user: cannot switch to \"\(account.name)\": \(error)", code: 1)
        }
        logger.info("ports bound; now running as \(account.name) (uid \(account.uid))")
        if owned.last == accessLog, configuration.logging.accessLog {
            if let problem = AccountSwitch.writeProblem(account, directory: FileSystem.folder(of: accessLog)) {
                logger.warning("logging.accessLogFile: \(problem), so after a rotation SIGUSR1 cannot open a new \(accessLog) and the old file stays in use: give the folder to \(account.name), or rotate with copytruncate")
            }
        }
    } else if getuid() != account.uid {
        fail("user: switching to \"\(account.name)\" needs the gateway to start as root", code: 1)
    }
}
if !configuration.pidFile.isEmpty {
    do {
        try PidFile.write(configuration.pidFile)
    } catch {
        fail("pidFile: \(error)", code: 1)
    }
}
gateway.start()
for (name, address) in gateway.boundListeners {
    ProcessSetup.writeStandardOutput("gateway listening on \(name) \(address)\n")
}
ProcessSetup.writeStandardOutput("gateway ready\n")
logger.info("started \(configuration.effectiveWorkers) event loops; upstreams: \(configuration.upstreams.map { "\($0.name)=\($0.url)" }.joined(separator: ", "))")
while true {
    let signal = TerminationSignals.wait()
    switch signal {
    case SIGHUP:
        logger.info("SIGHUP: reloading \(configPath)")
        let outcome = gateway.reload(from: configPath)
        for line in outcome.lines {
            if outcome.applied { logger.info("reload: \(line)") } else { logger.error("reload refused: \(line)") }
        }
        if outcome.applied { logger.info("reload applied") }
        continue
    case SIGUSR1:
        logger.info("SIGUSR1: reopening log files")
        gateway.reopenLogs()
        continue
    case SIGINT, SIGTERM, SIGQUIT:
        break
    default:
        logger.warning("\(TerminationSignals.name(signal)) received and ignored (SIGTERM stops the gateway, SIGHUP reloads gateway.json, SIGUSR1 reopens the log files)")
        continue
    }
    logger.info("\(TerminationSignals.name(signal)): stopping")
    gateway.stop()
    if !configuration.pidFile.isEmpty { PidFile.remove(configuration.pidFile) }
    logger.info("stopped")
    exit(0)
}
