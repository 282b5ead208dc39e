import MKFormat
import MKKernel

/// crash's `timer [-r] [-C CPU]`: each CPU's timer wheels (`timer_list`s in
/// expiry order, with jiffies to go) or, with `-r`, its hrtimer clock bases.
enum TimerCommand {
    static let usage = "timer [-r] [-C CPU]"

    static let spec = CommandSpec(
        name: "timer", group: "kernel",
        summary: "each CPU's timer wheels, or (-r) its hrtimers, in expiry order, with their functions",
        usage: usage, details: """

        The wheels are per-CPU timer_bases[] (struct timer_base: the standard and deferrable bases,
        6.9+ a local, a global and a deferrable one); each queued timer_list with its expiry in
        jiffies, how many jiffies that is from now (TTE) and its function. -r: the per-CPU
        hrtimer_bases' clock bases (monotonic, realtime, boottime, tai, and their soft twins), each
        base's timerqueue in expiry order, expiries in nanoseconds of the base's clock.
        """,
        examples: ["timer", "timer -r", "timer -C 0"],
        options: [.flag("-r", help: "the hrtimers instead of the timer wheels"),
                  .option("-C", value: ArgumentSpec("CPU", .integer, expected: "a CPU number"), help: "only this CPU")],
        json: ["jiffies", "cpus", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let cpus = try KernelCommandSupport.cpuOption(args, "-C", kernel: kernel, command: "timer")
        let budget = session.walkBudget()
        let all: [CPUTimers]
        let jiffies: UInt64
        do {
            all = try kernel.timers(cpus: cpus, budget: budget)
            jiffies = try kernel.clock().jiffies
        } catch let e as KernelError {
            throw CommandError.failed("timer: \(e)", cause: e)
        }
        let symbols = session.target?.symbols
        func name(_ f: UInt64) -> String { symbols?.describeForPointer(f).map { "<\($0)>" } ?? "" }
        var lines: [String] = []
        var json: [JSONValue] = []
        var warnings: [String] = []
        for c in all {
            if !lines.isEmpty { lines.append("") }
            if args.has("-r") {
                lines.append("CPU: \(c.cpu)")
                for b in c.highRes {
                    lines.append("  CLOCK: \(b.index)  HRTIMER_CLOCK_BASE: \(hexDigits(b.address))  [\(name(b.getTime).dropFirst().dropLast())]")
                    if b.timers.isEmpty { lines.append("     (empty)"); continue }
                    lines.append("       SOFTEXPIRES            EXPIRES  HRTIMER           FUNCTION")
                    for t in b.timers {
                        lines.append("  " + String(t.softExpires).leftPadded(16, with: " ") + "   " + String(t.expires).leftPadded(16, with: " ")
                                     + "  \(hexDigits(t.address))  \(hexDigits(t.function))  \(name(t.function))")
                    }
                }
            } else {
                for b in c.wheel {
                    lines.append("TIMER_BASES[\(c.cpu)][\(b.index)]: \(hexDigits(b.address))  (clk \(b.clock), next expiry \(b.nextExpiry))")
                    if b.timers.isEmpty { lines.append("     (empty)"); continue }
                    lines.append("        EXPIRES        TTE  TIMER_LIST        FUNCTION")
                    for t in b.timers {
                        let tte = Int64(bitPattern: t.expires &- jiffies)
                        lines.append("  " + String(t.expires).leftPadded(13, with: " ") + "  " + String(tte).leftPadded(9, with: " ")
                                     + "  \(hexDigits(t.address))  \(hexDigits(t.function))  \(name(t.function))")
                    }
                }
            }
            warnings += c.warnings.map { "CPU \(c.cpu): \($0)" }
            func fn(_ f: UInt64) -> JSONValue { symbols?.describeForPointer(f).map { .string($0) } ?? .null }
            json.append(.object([
                ("cpu", .int(Int64(c.cpu))),
                ("wheel", .array(c.wheel.map { b in
                    .object([("index", .int(Int64(b.index))), ("address", jsonAddress(b.address)), ("clk", .uint(b.clock)),
                             ("next_expiry", .uint(b.nextExpiry)),
                             ("timers", .array(b.timers.map { t in
                                 .object([("address", jsonAddress(t.address)), ("expires", .uint(t.expires)),
                                          ("function", jsonAddress(t.function)), ("function_symbol", fn(t.function)),
                                          ("bucket", .int(Int64(t.bucket)))])
                             }))])
                })),
                ("hrtimer_bases", .array(c.highRes.map { b in
                    .object([("index", .int(Int64(b.index))), ("address", jsonAddress(b.address)),
                             ("get_time", fn(b.getTime)),
                             ("timers", .array(b.timers.map { t in
                                 .object([("address", jsonAddress(t.address)), ("expires", .int(t.expires)),
                                          ("soft_expires", .int(t.softExpires)),
                                          ("function", jsonAddress(t.function)), ("function_symbol", fn(t.function))])
                             }))])
                })),
            ]))
        }
        if !args.has("-r") { lines.insert("JIFFIES: \(jiffies)", at: 0) }
        let w = KernelCommandSupport.warnings("timer", warnings, budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("jiffies", .uint(jiffies)), ("cpus", .array(json)), ("warnings", w.json)])
    }
}
