import MKFormat
import MKKernel

enum SysCommand {
    static let usage = "sys"

    static let spec = CommandSpec(
        name: "sys", group: "kernel",
        summary: "the kernel's release, version, machine, CPUs, uptime, load, memory and panic",
        usage: usage, details: """

        Uptime is (jiffies_64 - INITIAL_JIFFIES) / HZ; HZ is derived from tick_nsec (see
        docs/json.md). For a panicked kernel: panic()'s message, panic_cpu, and the task that
        was current on that CPU.
        """,
        examples: ["sys"],
        json: ["release", "version", "machine", "nodename", "sysname", "domainname", "nr_cpu_ids", "online_cpus", "possible_cpus",
               "uptime_seconds", "jiffies", "hz", "hz_method", "load_average", "total_ram_pages", "page_size", "total_ram_bytes",
               "nr_threads", "crash_time", "panic", "warnings"],
        excess: "takes no arguments"
    ) { _, session in
        let kernel = try session.kernel()
        let s = kernel.systemInfo()
        var rows: [(String, String)] = []
        var fields: [(String, JSONValue)] = []
        for key in ["release", "version", "machine", "nodename", "sysname", "domainname"] {
            let v = s.utsField(key)
            if let v { rows.append((key, v)) }
            fields.append((key, v.map { .string($0) } ?? .null))
        }
        if let n = s.nrCPUIds {
            // Without the online mask (no data symbols) the count is not known: say so, do not guess.
            var text = s.onlineCPUs.map { "\($0.count) online" } ?? "online unknown"
            if let p = s.possibleCPUs { text += ", \(p.count) possible" }
            text += " (nr_cpu_ids \(n)"
            if let o = s.onlineCPUs { text += "; online \(cpuList(o))" }
            text += ")"
            rows.append(("cpus", text))
        }
        fields += [("nr_cpu_ids", s.nrCPUIds.map { .int(Int64($0)) } ?? .null),
                   ("online_cpus", s.onlineCPUs.map { .array($0.map { .int(Int64($0)) }) } ?? .null),
                   ("possible_cpus", s.possibleCPUs.map { .array($0.map { .int(Int64($0)) }) } ?? .null)]
        if let c = s.clock {
            rows.append(("uptime", "\(duration(c.uptimeSeconds)) (\(c.ticks) jiffies at HZ \(c.hz))"))
            rows.append(("HZ", "\(c.hz), from \(c.hzMethod)"))
            fields += [("uptime_seconds", .double((c.uptimeSeconds * 1000).rounded() / 1000)), ("jiffies", .uint(c.jiffies)),
                       ("hz", .int(Int64(c.hz))), ("hz_method", .string(c.hzMethod))]
        } else {
            fields += [("uptime_seconds", .null), ("jiffies", .null), ("hz", .null), ("hz_method", .null)]
        }
        if let l = s.loadAverage {
            rows.append(("load average", l.joined(separator: ", ")))
            fields.append(("load_average", .array(l.map { .string($0) })))
        } else {
            fields.append(("load_average", .null))
        }
        if let pages = s.totalRAMPages, let bytes = s.totalRAMBytes {
            rows.append(("memory", "\(mebibytes(bytes)) (\(pages) pages of \(s.pageSize) bytes; totalram_pages)"))
            fields += [("total_ram_pages", .uint(pages)), ("page_size", .uint(s.pageSize)), ("total_ram_bytes", .uint(bytes))]
        } else {
            fields += [("total_ram_pages", .null), ("page_size", .uint(s.pageSize)), ("total_ram_bytes", .null)]
        }
        if let t = s.threads {
            rows.append(("tasks", "\(t) (nr_threads; the idle tasks are not counted)"))
        }
        fields.append(("nr_threads", s.threads.map { .int(Int64($0)) } ?? .null))
        if let t = s.crashTime {
            rows.append(("crash time", "\(t) (seconds since the epoch, VMCOREINFO CRASHTIME)"))
        }
        fields.append(("crash_time", s.crashTime.map { .int($0) } ?? .null))
        var warnings = s.warnings
        if let p = s.panic {
            rows.append(("panic", p.message.map { "\"\($0)\"" } ?? "(message not found)"))
            rows.append(("panic cpu", String(p.cpu)))
            if let task = p.task {
                rows.append(("panic task", "PID \(p.pid.map(String.init) ?? "?") \"\(p.comm ?? "?")\" task \(hexDigits(task))"))
            }
            warnings += p.warnings
            fields.append(("panic", .object([
                ("message", p.message.map { .string($0) } ?? .null), ("cpu", .int(Int64(p.cpu))),
                ("task", p.task.map { jsonAddress($0) } ?? .null), ("pid", p.pid.map { .int(Int64($0)) } ?? .null),
                ("comm", p.comm.map { .string($0) } ?? .null)])))
        } else {
            if s.warnings.contains(where: { $0.hasPrefix("panic:") }) {
                rows.append(("panic", "unknown (see the warning)"))
            } else if kernel.target.lacksDataSymbols {
                rows.append(("panic", "none (no panic line in the log; panic_cpu is not a symbol without CONFIG_KALLSYMS_ALL)"))
            } else {
                rows.append(("panic", "none (panic_cpu is -1)"))
            }
            fields.append(("panic", .null))
        }
        let width = rows.map(\.0.count).max() ?? 0
        let body = rows.map { $0.0.padding(width + 2) + $0.1 }.joined(separator: "\n")
        let w = KernelCommandSupport.warnings("sys", warnings)
        fields.append(("warnings", w.json))
        return CommandOutput(text: KernelCommandSupport.join(body, w.text), fields: fields)
    }

    /// `0-1,4`
    static func cpuList(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// `2 days, 03:04:05.67` style.
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds)
        let days = total / 86400
        let h = (total % 86400) / 3600, m = (total % 3600) / 60, s = total % 60
        let hundredths = Int((seconds - Double(total)) * 100)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let clock = "\(two(h)):\(two(m)):\(two(s)).\(two(hundredths))"
        return days > 0 ? "\(days) day\(days == 1 ? "" : "s"), \(clock)" : clock
    }

    static func mebibytes(_ bytes: UInt64) -> String {
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}
