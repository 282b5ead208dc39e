#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C for long operations. A SIGINT handler only stores to a flag (the
/// one async-signal-safe thing it may do); loops that can run long call
/// `Cancellation.check()`, which throws `Interrupted` once the flag is set.
/// The check is a single load, cheap enough for every page read.
///
/// Who catches SIGINT is decided here and only here: the REPL calls
/// `catchInterrupts()` for as long as it runs (a Ctrl-C then cancels the
/// running command, or clears the line at the prompt); batch use never
/// does, so SIGINT keeps its default action and kills mkdbg (status 130).
public enum Cancellation {
    /// Whether an interrupt arrived since the last `reset()`.
    public static var isRequested: Bool { flag.pointee != 0 }

    /// Throws `Interrupted` when an interrupt arrived since the last `reset()`.
    @inline(__always)
    public static func check() throws {
        if flag.pointee != 0 { throw Interrupted() }
    }

    /// Forgets an interrupt (before a command starts, after it ends).
    public static func reset() { flag.pointee = 0 }

    /// Asks running work to stop, as a SIGINT does.
    public static func request() { flag.pointee = 1 }

    /// Catches SIGINT into the flag until the returned handle's `restore()`.
    /// Syscalls interrupted by it restart (`SA_RESTART`), except the ones
    /// Linux never restarts, such as `poll` — which is how the REPL's prompt
    /// notices a Ctrl-C.
    public static func catchInterrupts() -> InterruptHandler {
        _ = flag // allocate the flag before the handler can touch it
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Cancellation.flag.pointee = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        var previous = sigaction()
        sigaction(SIGINT, &action, &previous)
        // A parent may have started us with SIGINT blocked; Ctrl-C must arrive.
        var unblock = sigset_t(), previousMask = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &previousMask)
        return InterruptHandler(previous: previous, previousMask: previousMask)
    }

    /// A plain word, allocated once and never freed, so the signal handler
    /// stores to fixed memory.
    static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
}

/// The SIGINT disposition `Cancellation.catchInterrupts()` replaced.
public struct InterruptHandler {
    var previous: sigaction
    var previousMask: sigset_t

    /// Puts the previous disposition (and signal mask) back.
    public func restore() {
        var previous = self.previous, mask = previousMask
        sigaction(SIGINT, &previous, nil)
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }
}

/// What a cancelled operation throws.
public struct Interrupted: Error, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "interrupted" }
}
