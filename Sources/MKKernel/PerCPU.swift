import MKFormat
import MKDebugInfo
import MKValues

/// Per-CPU data and CPU masks.
///
/// A per-CPU variable is linked into the `.data..percpu` section, whose
/// symbols are offsets from zero (`__per_cpu_start` is 0, `__per_cpu_end`
/// the section's size) and do not move with KASLR. CPU `n`'s copy lives at
/// that offset plus `__per_cpu_offset[n]`. A kernel built without SMP has
/// no `__per_cpu_offset`: its per-CPU variables are ordinary ones.
extension Kernel {
    public enum CPUMask: String, CaseIterable {
        case possible, online, present, active
    }

    /// Why a data symbol is missing without CONFIG_KALLSYMS_ALL.
    static let noDataSymbols = " (kallsyms has text symbols only: the kernel was built without CONFIG_KALLSYMS_ALL, and VMCOREINFO does not give it)"

    /// `nr_cpu_ids`: CPU ids run from 0 below it (1 when the kernel has no such variable).
    public func nrCPUIds() throws -> Int {
        guard has(variable: "nr_cpu_ids") else {
            if let derivedCPUCount { return derivedCPUCount }
            if target.lacksDataSymbols { throw KernelError.missingSymbol("nr_cpu_ids" + Self.noDataSymbols) }
            return 1
        }
        let n = try object("nr_cpu_ids").unsigned()
        guard n >= 1, n <= 1 << 16 else {
            throw KernelError.implausible(what: "nr_cpu_ids", value: n, address: nil, message: "nr_cpu_ids is \(n): not a plausible CPU count")
        }
        return Int(n)
    }

    /// The CPUs in one of the kernel's CPU masks: `__cpu_<kind>_mask`
    /// (a `struct cpumask`, 4.5 and later), or the `cpu_<kind>_mask` pointer
    /// of older kernels. Bits at or above `nr_cpu_ids` are ignored.
    public func cpus(_ kind: CPUMask) throws -> [Int] {
        let limit = try nrCPUIds()
        var mask: KObject
        if has(variable: "__cpu_\(kind.rawValue)_mask") {
            mask = try object("__cpu_\(kind.rawValue)_mask")
        } else if has(variable: "cpu_\(kind.rawValue)_mask") {
            mask = try object("cpu_\(kind.rawValue)_mask")
            if mask.type.isPointer { mask = try mask.deref() }
        } else if let derivedCPUCount, kind == .possible {
            // Each has a runqueue whose idle task is its swapper: brought up, so possible. Whether
            // it is online now only the mask says (a panic takes the other CPUs offline).
            return Array(0..<derivedCPUCount)
        } else {
            throw KernelError.missingSymbol("__cpu_\(kind.rawValue)_mask" + (target.lacksDataSymbols ? Self.noDataSymbols : ""))
        }
        let bits = try mask["bits"]
        guard let address = bits.address else { throw KernelError.notInMemory(what: "__cpu_\(kind.rawValue)_mask.bits", message: "the CPU mask is not in memory") }
        let words = (limit + 63) / 64
        let available = Int((bits.type.byteSize ?? 8) / 8)
        let bytes = try memory.readVirtual(address, count: 8 * min(words, max(available, 1)))
        var result: [Int] = []
        for w in 0..<(bytes.count / 8) {
            let word = bytes.loadLE64(at: 8 * w) ?? 0
            guard word != 0 else { continue }
            for b in 0..<64 where word & (1 << UInt64(b)) != 0 {
                let cpu = 64 * w + b
                if cpu < limit { result.append(cpu) }
            }
        }
        return result
    }

    /// `__per_cpu_offset[0 ..< nr_cpu_ids]` (all zero on a kernel without SMP).
    /// `__per_cpu_offset[0..<nr_cpu_ids]`, read once per kernel object:
    /// fixed after boot, and wanted for every CPU of every `ps` and `bt`.
    public func perCPUOffsets() throws -> [UInt64] {
        if let cachedPerCPUOffsets { return cachedPerCPUOffsets }
        let offsets = try readPerCPUOffsets()
        cachedPerCPUOffsets = offsets
        return offsets
    }

    func readPerCPUOffsets() throws -> [UInt64] {
        let n = try nrCPUIds()
        guard has(variable: "__per_cpu_offset") else { return [UInt64](repeating: 0, count: n) }
        let array = try object("__per_cpu_offset")
        guard let address = array.address else { throw KernelError.notInMemory(what: "__per_cpu_offset", message: "__per_cpu_offset is not in memory") }
        let capacity = array.type.resolved.count.map(Int.init) ?? n
        let count = min(n, capacity)
        let bytes = try memory.readVirtual(address, count: 8 * count)
        return (0..<count).map { bytes.loadLE64(at: 8 * $0) ?? 0 }
    }

    /// The per-CPU section's extent `[__per_cpu_start, __per_cpu_end)`, as linked.
    public func perCPUSection() -> Range<UInt64>? {
        guard let symbols = target.symbols,
              let start = symbols.lookup("__per_cpu_start")?.address,
              let end = symbols.lookup("__per_cpu_end")?.address, start <= end else { return nil }
        return start..<end
    }

    /// Whether a (link-time, unrelocated) address lies in the per-CPU section.
    public func isPerCPU(_ address: UInt64) -> Bool {
        guard has(variable: "__per_cpu_offset") || derivedCPUCount != nil else { return false }
        return perCPUSection()?.contains(address) ?? false
    }

    /// CPU `cpu`'s copy of the per-CPU datum at section offset `address`.
    public func perCPUAddress(_ address: UInt64, cpu: Int, offsets: [UInt64]? = nil) throws -> UInt64 {
        let table = try offsets ?? perCPUOffsets()
        guard cpu >= 0, cpu < table.count else {
            throw KernelError.outOfRange(value: cpu >= 0 ? UInt64(cpu) : nil, maximum: table.isEmpty ? nil : UInt64(table.count - 1), message: "CPU \(cpu) is out of range: this kernel has CPU ids 0-\(table.count - 1)")
        }
        return address &+ table[cpu]
    }

    /// CPU `cpu`'s copy of a per-CPU variable, typed by its DWARF.
    public func perCPU(_ name: String, cpu: Int, offsets: [UInt64]? = nil) throws -> KObject {
        guard let v = types.variable(name) else { throw KernelError.missingSymbol(name) }
        let base = try address(of: name)
        if (has(variable: "__per_cpu_offset") || derivedCPUCount != nil) && !isPerCPU(base) {
            throw KernelError.notPerCPU(name)
        }
        return object(v.type, at: try perCPUAddress(base, cpu: cpu, offsets: offsets))
    }

    /// The task running on `cpu` when the image was taken: per-CPU
    /// `pcpu_hot.current_task` (6.2 and later), else per-CPU `current_task`,
    /// else the runqueue's `curr`.
    public func currentTask(cpu: Int) throws -> UInt64 {
        let offsets = try perCPUOffsets()
        if has(variable: "pcpu_hot"), let t = try? perCPU("pcpu_hot", cpu: cpu, offsets: offsets)["current_task"].unsigned() {
            return t
        }
        if has(variable: "current_task") {
            return try perCPU("current_task", cpu: cpu, offsets: offsets).unsigned()
        }
        return try perCPU("runqueues", cpu: cpu, offsets: offsets)["curr"].unsigned()
    }
}
