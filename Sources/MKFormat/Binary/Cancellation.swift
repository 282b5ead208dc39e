import MKSystem

/// Ctrl-C for long operations. The SIGINT handler (`Signals.catchInterrupts`)
/// only stores to a flag (the one async-signal-safe thing it may do); loops
/// that can run long call `Cancellation.check()`, which throws `Interrupted`
/// once the flag is set. The check is a single load, cheap enough for every
/// page read.
///
/// The REPL calls `catchInterrupts()` for as long as it runs (a Ctrl-C then
/// cancels the running command, or clears the line at the prompt); batch
/// use never does, so SIGINT keeps its default action and kills mkdbg
/// (status 130).
public enum Cancellation {
    /// Whether an interrupt arrived since the last `reset()`.
    public static var isRequested: Bool { Signals.interruptFlag.pointee != 0 }

    /// Throws `Interrupted` when an interrupt arrived since the last `reset()`.
    @inline(__always)
    public static func check() throws {
        if Signals.interruptFlag.pointee != 0 { throw Interrupted() }
    }

    /// Forgets an interrupt (before a command starts, after it ends).
    public static func reset() { Signals.interruptFlag.pointee = 0 }

    /// Asks running work to stop, as a SIGINT does.
    public static func request() { Signals.interruptFlag.pointee = 1 }

    /// Catches SIGINT into the flag until the returned handle's `restore()`.
    public static func catchInterrupts() -> InterruptHandler { Signals.catchInterrupts() }
}

/// The SIGINT disposition `Cancellation.catchInterrupts()` replaced.
public typealias InterruptHandler = SignalDisposition

/// What a cancelled operation throws.
public struct Interrupted: Error, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "interrupted" }
}
