import MKFormat
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
        SignalThaw.update(held)
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
        SignalThaw.update(held)
    }

    private func release(_ instance: Instance) {
        held.removeAll { $0 == instance.freezePath }
        guardian?.send("release \(instance.freezePath)")
        SignalThaw.update(held)
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
        SignalThaw.install()
    }

}

/// Thaws from a signal handler: only async-signal-safe calls on paths
/// kept as C strings ahead of time.
enum SignalThaw {
    static let capacity = 64
    nonisolated(unsafe) static var paths: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        p.initialize(repeating: nil, count: capacity)
        return p
    }()
    nonisolated(unsafe) static var count: Int32 = 0
    nonisolated(unsafe) static var installed = false

    static func update(_ held: [String]) {
        // Publish an empty list first, so a signal never sees a half-built one.
        count = 0
        for i in 0..<capacity {
            if let p = paths[i] { free(p) }
            paths[i] = nil
        }
        for (i, path) in held.prefix(capacity).enumerated() { paths[i] = strdup(path) }
        count = Int32(min(held.count, capacity))
    }

    static func install() {
        if installed { return }
        installed = true
        // A parent may have started us with these blocked (test runners,
        // some supervisors); a freeze holder must hear them.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGTERM, SIGHUP, SIGINT] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                SignalThaw.thawFromHandler()
                signal(sig, SIG_DFL)
                raise(sig)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            // Keep SIGINT for the REPL's own handler when one is installed.
            if sig == SIGINT {
                var old = sigaction()
                sigaction(SIGINT, nil, &old)
                if old.__sigaction_handler.sa_handler != nil && unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) != 0 { continue }
            }
            sigaction(sig, &action, nil)
        }
    }

    static func thawFromHandler() {
        let n = Int(count)
        for i in 0..<n {
            guard let p = paths[i] else { continue }
            let fd = open(p, O_WRONLY)
            if fd >= 0 {
                _ = write(fd, "0", 1)
                close(fd)
            }
        }
    }
}
