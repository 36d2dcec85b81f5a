import CGatewayShims
import Glibc

/// The signals an operator may send, delivered to one waiting thread instead of interrupting the
/// loops. Every signal whose default action would end the process without a word is caught here,
/// so that each one is logged: SIGKILL and SIGSTOP alone cannot be.
public enum TerminationSignals {
    /// Blocks the signals in this thread and every thread it starts afterwards; call first.
    /// SIGPROF is not among them: it stays deliverable (with a
    /// handler that says it was ignored), because Swift's crash handler suspends the other threads
    /// with the first of SIGUSR1, SIGUSR2 or SIGPROF that a thread does not block, and a crash must
    /// end the process with its backtrace, not hang.
    public static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // A parent may have blocked the fault signals (a test runner does); blocked, a real fault
        // would end the process without its backtrace, and one sent with kill would never arrive.
        var faults = sigset_t()
        sigemptyset(&faults)
        for signal in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPROF] { sigaddset(&faults, signal) }
        pthread_sigmask(SIG_UNBLOCK, &faults, nil)
        _ = cgw_note_and_ignore_sigprof()
        _ = cgw_ignore_fault_signals_sent_with_kill()
    }

    /// Waits for one of the blocked signals and returns its number.
    public static func wait() -> Int32 {
        var set = signalSet()
        var signal: Int32 = 0
        while sigwait(&set, &signal) != 0 {}
        return signal
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        case SIGQUIT: return "SIGQUIT"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        case SIGALRM: return "SIGALRM"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGVTALRM: return "SIGVTALRM"
        case SIGIO: return "SIGIO"
        case SIGPWR: return "SIGPWR"
        case SIGSTKFLT: return "SIGSTKFLT"
        case SIGSYS: return "SIGSYS"
        case SIGTRAP: return "SIGTRAP"
        default:
            let first = realTimeMinimum, last = realTimeMaximum
            if signal == first { return "SIGRTMIN" }
            if (first...last).contains(signal) { return "SIGRTMIN+\(signal - first)" }
            return "signal \(signal)"
        }
    }

    /// SIGSYS and SIGTRAP are here too: blocked, one sent with kill(2) waits here, while one the
    /// process raises itself (a seccomp refusal, a breakpoint) is still delivered by the kernel and
    /// ends it. Without them, SIGSYS ended the gateway silently and SIGTRAP printed a crash report
    /// for a crash that never happened.
    static let caught: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM,
                                  SIGIO, SIGPWR, SIGXCPU, SIGXFSZ, SIGSTKFLT, SIGSYS, SIGTRAP]

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in caught { sigaddset(&set, signal) }
        for signal in realTimeMinimum...realTimeMaximum { sigaddset(&set, signal) }
        return set
    }

    // glibc's SIGRTMIN/SIGRTMAX are functions (it keeps the first few for itself).
    private static var realTimeMinimum: Int32 { __libc_current_sigrtmin() }
    private static var realTimeMaximum: Int32 { __libc_current_sigrtmax() }
}
