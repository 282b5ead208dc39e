import MKFormat
import MKDebugInfo

/// What the kernel recorded about a panic.
///
/// - The CPU: `panic()` claims `panic_cpu` (an `atomic_t`, -1 while no CPU
///   has panicked) before anything else, and it stays set in the image.
/// - The task: the one current on that CPU (`Kernel.currentTask`).
/// - The message: `panic()` formats its arguments into a function-static
///   `char buf[1024]` before printing "Kernel panic - not syncing: %s";
///   mkdbg finds that variable in `panic`'s DWARF (it has no global name)
///   and reads it. Since 6.10 `panic()` calls `vpanic()`, which owns `buf`.
public struct PanicInfo {
    /// "Kernel panic - not syncing: …", or nil when the buffer is empty or unreadable.
    public var message: String?
    public var cpu: Int
    public var task: UInt64?
    public var pid: Int?
    public var comm: String?
    public var warnings: [String] = []
}

extension Kernel {
    /// The panic, or nil when `panic_cpu` says no CPU panicked.
    public func panicInfo() throws -> PanicInfo? {
        let cpu: Int
        var derivedFrom: String?
        if has(variable: "panic_cpu") {
            let panicCPU = try object("panic_cpu")
            let raw = panicCPU.type.isInteger ? try panicCPU.signed() : try panicCPU["counter"].signed()
            cpu = Int(Int32(truncatingIfNeeded: raw))
        } else if target.lacksDataSymbols {
            guard let (c, how) = panicCPUFromLog() else { return nil }
            cpu = c
            derivedFrom = how
        } else {
            throw KernelError.missingSymbol("panic_cpu")
        }
        guard cpu >= 0 else { return nil }
        var info = PanicInfo(message: nil, cpu: cpu)
        if let derivedFrom { info.warnings.append(derivedFrom) }
        if let text = panicBuffer(), !text.isEmpty {
            info.message = "Kernel panic - not syncing: " + text
        } else if dwarf == nil, let line = panicLine() {
            // Without DWARF the static buffer has no name: the line panic() printed is in the log.
            info.message = line
        } else {
            info.warnings.append("the message buffer of panic() (vpanic() since 6.10) is empty or not found")
        }
        do {
            let task = try currentTask(cpu: cpu)
            info.task = task
            let layout = try TaskLayout(self)
            let bytes = try readObject(at: task, covering: [layout.pid, layout.comm])
            info.pid = bytes.signed(layout.pid).map { Int($0) }
            info.comm = bytes.string(layout.comm)
        } catch {
            info.warnings.append("cannot read the task current on CPU \(cpu): \(error)")
        }
        return info
    }

    /// Without `panic_cpu` (no data symbols in kallsyms): the CPU that logged the
    /// last panic line, by its record's caller id — a CPU, or a thread then
    /// current on exactly one CPU. Nil when the log has no panic line or the
    /// caller is on no CPU.
    public func panicCPUFromLog() -> (Int, String)? {
        guard let log = try? printkLog(),
              let r = log.records.last(where: { $0.text.hasPrefix("Kernel panic - not syncing: ") }), let caller = r.caller,
              let cpus = try? nrCPUIds() else { return nil }
        switch caller {
        case let .cpu(c):
            guard Int(c) < cpus else { return nil }
            return (Int(c), "panic_cpu is not a symbol (no CONFIG_KALLSYMS_ALL): CPU \(c) logged the panic line")
        case let .thread(pid):
            guard let layout = try? TaskLayout(self) else { return nil }
            let on = (0..<cpus).filter { cpu in
                guard let t = try? currentTask(cpu: cpu), let b = try? readObject(at: t, covering: [layout.pid]) else { return false }
                return b.signed(layout.pid) == Int64(pid)
            }
            guard on.count == 1, let cpu = on.first else { return nil }
            return (cpu, "panic_cpu is not a symbol (no CONFIG_KALLSYMS_ALL): PID \(pid), current on CPU \(cpu), logged the panic line")
        }
    }

    /// The last "Kernel panic - not syncing: …" line in the kernel log.
    func panicLine() -> String? {
        guard let log = try? printkLog() else { return nil }
        let prefix = "Kernel panic - not syncing: "
        guard let r = log.records.last(where: { $0.text.hasPrefix(prefix) }) else { return nil }
        var text = r.text
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The text of `panic()`'s static `buf`, up to its NUL, without the trailing newline.
    func panicBuffer() -> String? {
        guard let dwarf, let v = dwarf.staticLocal("buf", inFunction: "vpanic") ?? dwarf.staticLocal("buf", inFunction: "panic"),
              let link = v.linkAddress else { return nil }
        let address = target.symbols?.relocated(link)
            ?? memory.addressLayout.map { $0.space.relocate(link, kaslrOffset: $0.kaslrOffset) } ?? link
        let size = Int(min(v.type.byteSize ?? 1024, 4096))
        guard let bytes = try? memory.readVirtual(address, count: size) else { return nil }
        var text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}
