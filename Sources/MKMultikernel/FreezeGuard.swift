import MKFormat
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// Freezes and thaws instances through their `freeze`/`events` files, and
/// makes sure mkdbg never leaves one frozen by accident: what it froze is
/// thawed on exit, on error, on SIGINT/SIGTERM/SIGHUP, and — through a
/// guardian process that outlives mkdbg — even after SIGKILL. It never
/// thaws what someone else froze.
public final class FreezeGuard {
    public static let shared = FreezeGuard()

    public enum Outcome: Equatable {
        case frozen
        /// Already frozen, by someone else: readable, not ours to thaw.
        case alreadyFrozen
    }

    public var timeout: Double = 5
    /// The mkdbg binary that serves `--guardian` (this process's own, normally).
    public var guardianExecutable = "/proc/self/exe"
    public var pollInterval: Double = 0.02
    /// Freeze files of the instances this process froze.
    public private(set) var held: [String] = []
    private var guardian: Guardian?

    public init() {}

    public func holds(_ instance: Instance) -> Bool { held.contains(instance.freezePath) }

    public func freeze(_ instance: Instance) throws -> Outcome {
        guard instance.canFreeze else {
            throw MultikernelError.missingFile(instance.freezePath, purpose: "freezing (the multikernel debug interface's freeze/events files)")
        }
        if holds(instance) { return .frozen }
        if instance.isFrozen == true { return .alreadyFrozen }
        // The guardian learns of the freeze before it happens, so no window
        // exists in which mkdbg could die holding an unrecorded freeze.
        try startGuardian()
        guardian?.send("hold \(instance.freezePath)")
        held.append(instance.freezePath)
        Signals.setTerminationWrites(held, byte: UInt8(ascii: "0"))
        do {
            try KernfsFile.write(instance.freezePath, "1")
        } catch {
            release(instance)
            throw error
        }
        if !wait(instance, frozen: true) {
            try? KernfsFile.write(instance.freezePath, "0")
            release(instance)
            throw MultikernelError.freezeTimeout(instance.name, seconds: timeout)
        }
        return .frozen
    }

    /// Thaws an instance this process froze.
    public func thaw(_ instance: Instance) throws {
        guard holds(instance) else {
            if instance.isFrozen == true { throw MultikernelError.frozenByOther(instance.name) }
            return
        }
        try KernfsFile.write(instance.freezePath, "0")
        release(instance)
        if !wait(instance, frozen: false) {
            throw MultikernelError.badFormat(instance.eventsPath, detail: "did not report \"frozen 0\" within \(timeout) s after thaw")
        }
    }

    /// Thaws everything this process froze (exit paths).
    public func thawAll() {
        if held.isEmpty { return }
        for path in held { try? KernfsFile.write(path, "0") }
        for path in held { guardian?.send("release \(path)") }
        held.removeAll()
        Signals.setTerminationWrites(held, byte: UInt8(ascii: "0"))
    }

    private func release(_ instance: Instance) {
        held.removeAll { $0 == instance.freezePath }
        guardian?.send("release \(instance.freezePath)")
        Signals.setTerminationWrites(held, byte: UInt8(ascii: "0"))
    }

    private func wait(_ instance: Instance, frozen: Bool) -> Bool {
        let deadline = Stopwatch.now() + timeout
        while Stopwatch.now() < deadline {
            if instance.isFrozen == frozen { return true }
            usleep(useconds_t(pollInterval * 1_000_000))
        }
        return instance.isFrozen == frozen
    }

    private func startGuardian() throws {
        if guardian != nil { return }
        guardian = try Guardian.spawn(executable: guardianExecutable)
        Signals.installTerminationWrites()
    }
}
