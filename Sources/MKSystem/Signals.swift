#if canImport(Glibc)
import Glibc
#endif

/// The one owner of signal dispositions. Handlers installed here are
/// async-signal-safe: they only store to, or read from, memory allocated
/// once and never freed, and make only async-signal-safe calls (`open`,
/// `write`, `close`, `sigaction`, `raise`).
///
/// Who handles what, and in which order it is set up:
/// - SIGPIPE: ignored by batch mkdbg and the guardian (`ignore`); the REPL
///   catches it with a handler that does nothing (`catchBrokenPipe`), so
///   writes fail with EPIPE but the commands it starts get the default back.
/// - SIGINT: the REPL catches it into the interrupt flag for as long as it
///   runs (`catchInterrupts`); batch use keeps the default (death, 130).
/// - SIGTERM, SIGHUP and, unless someone already handles it, SIGINT: once
///   `installTerminationWrites` ran, each writes the termination table's
///   files (the freeze guard's thaws), then dies of the signal as before.
///
/// readline is the one exception: while it reads a line it installs its
/// SIGWINCH handler (`rl_catch_sigwinch`); `rl_catch_signals = 0` keeps it
/// off all the others (see MKRepl's `LineEditor`).
public enum Signals {
    // MARK: ignoring

    /// Ignores `signal` for the rest of the process.
    public static func ignore(_ signal: Int32) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, nil)
    }

    /// Catches SIGPIPE with a handler that does nothing (a handler, unlike
    /// SIG_IGN, is reset in the processes mkdbg starts) until `restore()`.
    public static func catchBrokenPipe() -> SignalDisposition {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var previous = sigaction()
        sigaction(SIGPIPE, &action, &previous)
        return SignalDisposition(signal: SIGPIPE, previous: previous, previousMask: nil)
    }

    // MARK: the interrupt flag

    /// A word the SIGINT handler stores 1 to.
    public static let interruptFlag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// Catches SIGINT into `interruptFlag` until `restore()`. Syscalls it
    /// interrupts restart (`SA_RESTART`), except the ones Linux never
    /// restarts, such as `poll`, which is how a prompt notices a Ctrl-C.
    public static func catchInterrupts() -> SignalDisposition {
        _ = interruptFlag // allocate the flag before the handler can touch it
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Signals.interruptFlag.pointee = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var previous = sigaction()
        sigaction(SIGINT, &action, &previous)
        // A parent may have started us with SIGINT blocked; Ctrl-C must arrive.
        var unblock = sigset_t(), previousMask = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previousMask)
        return SignalDisposition(signal: SIGINT, previous: previous, previousMask: previousMask)
    }

    // MARK: writes on termination

    /// Sets the files a terminating signal writes `byte` to (at most
    /// `TerminationTable.capacity`, each shorter than `PATH_MAX`; longer
    /// ones are left to other means, such as the freeze guardian).
    public static func setTerminationWrites(_ paths: [String], byte: UInt8) {
        TerminationTable.shared.publish(paths, byte: byte)
    }

    /// Installs the SIGTERM, SIGHUP and SIGINT handlers that write the
    /// termination table's files and then die of the signal. SIGINT is left
    /// alone when it already has a handler (the REPL's) or is ignored.
    /// Installing twice does nothing.
    public static func installTerminationWrites() {
        let table = TerminationTable.shared // allocated before any handler runs
        guard !table.installed else { return }
        table.installed = true
        let fatal = [SIGTERM, SIGHUP, SIGINT]
        // A parent may have started us with these blocked (test runners,
        // some supervisors); whoever needs the writes must hear them.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in fatal { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in fatal {
            if sig == SIGINT {
                var old = sigaction()
                sigaction(SIGINT, nil, &old)
                if let handler = old.__sigaction_handler.sa_handler, unsafeBitCast(handler, to: Int.self) != 0 { continue }
            }
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                TerminationTable.shared.writeFromHandler()
                var fallback = sigaction()
                fallback.__sigaction_handler.sa_handler = SIG_DFL
                sigemptyset(&fallback.sa_mask)
                sigaction(sig, &fallback, nil)
                raise(sig)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }
}

/// A signal's disposition (and, for some, the signal mask) from before a
/// `Signals` call replaced it.
public struct SignalDisposition {
    let signal: Int32
    var previous: sigaction
    var previousMask: sigset_t?

    /// Puts the previous disposition (and signal mask) back.
    public func restore() {
        var previous = self.previous
        sigaction(signal, &previous, nil)
        if var mask = previousMask { pthread_sigmask(SIG_SETMASK, &mask, nil) }
    }
}
