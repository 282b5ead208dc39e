import MKFormat
import MKSystem
import MKKernel

/// crash's `sig [PID|TASK]`: a task's signal_struct, its blocked and
/// pending signals, and each signal's disposition.
enum SigCommand {
    static let usage = "sig [PID | TASK-ADDRESS]"
    /// The x86-64 and arm64 (asm-generic) signal names, 1-31.
    static let names = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
                        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
                        "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
                        "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"]

    static func name(_ n: Int) -> String {
        // The kernel's numbering: SIGRTMIN is 32 (glibc keeps 32 and 33 for itself).
        n >= 1 && n <= names.count ? names[n - 1] : (n == 32 ? "SIGRTMIN" : (n > 32 ? "SIGRTMIN+\(n - 32)" : "SIG\(n)"))
    }

    static let spec = CommandSpec(
        name: "sig", group: "kernel",
        summary: "a task's signals: signal_struct, blocked and pending sets, each signal's handler, mask and flags",
        usage: usage, details: """

        No argument: the selected task (set PID, bt PID), else the panicking CPU's. HANDLER is
        SIG_DFL, SIG_IGN or the user-space handler's address (sighand->action[]); the sets are
        signals 1-64, bit n-1 for signal n, as crash and /proc/PID/status print them.
        """,
        examples: ["sig", "sig 1"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        json: ["task", "pid", "comm", "cpu", "signal_struct", "sighand", "nr_threads", "blocked", "pending",
               "shared_pending", "actions"],
        excess: "expected at most one PID or task address"
    ) { args, session in
        let header = try TaskHeader.resolve(args.words("PID|TASK-ADDRESS").first, session: session, command: "sig", usage: usage)
        let kernel = try session.kernel()
        let s: TaskSignals
        do { s = try kernel.signals(task: header.task) } catch let e as KernelError { throw CommandError.failed("sig: \(e)", cause: e) }
        func set(_ v: UInt64) -> String { hexDigits(v).leftPadded(16) }
        func handler(_ h: UInt64) -> String { h == 0 ? "SIG_DFL" : (h == 1 ? "SIG_IGN" : hexDigits(h)) }
        var lines = header.lines
        lines.append("SIGNAL_STRUCT: \(hexDigits(s.signalStruct))  NR_THREADS: \(s.threads)")
        lines.append(" SIG  NAME        SIGACTION         HANDLER           MASK              FLAGS")
        for a in s.actions {
            lines.append(("[\(a.signal)]").leftPadded(5, with: " ") + " " + name(a.signal).rightPadded(11) + " \(hexDigits(a.address)) "
                         + handler(a.handler).rightPadded(16) + "  " + set(a.mask) + "  " + hexDigits(a.flags))
        }
        lines.append("SIGPENDING: " + (s.pending | s.sharedPending == 0 ? "no" : "yes"))
        lines.append("    BLOCKED: \(set(s.blocked))")
        lines.append("PRIVATE_PENDING")
        lines.append("     SIGNAL: \(set(s.pending))")
        lines.append("SHARED_PENDING")
        lines.append("     SIGNAL: \(set(s.sharedPending))")
        let actions: [JSONValue] = s.actions.map { a in
            .object([("signal", .int(Int64(a.signal))), ("name", .string(name(a.signal))), ("sigaction", jsonAddress(a.address)),
                     ("handler", .string(a.handler <= 1 ? handler(a.handler) : "0x" + String(a.handler, radix: 16))),
                     ("mask", .uint(a.mask)), ("flags", .uint(a.flags))])
        }
        let fields = header.fields + [("signal_struct", jsonAddress(s.signalStruct)), ("sighand", jsonAddress(s.sighand)),
                                      ("nr_threads", .int(s.threads)), ("blocked", .uint(s.blocked)), ("pending", .uint(s.pending)),
                                      ("shared_pending", .uint(s.sharedPending)), ("actions", .array(actions))]
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }
}
