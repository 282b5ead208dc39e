import MKFormat
import MKDebugInfo

/// The registers a stopped kernel's CPUs saved as crash notes.
///
/// Upstream (`include/linux/multikernel.h` @ 223163d8) saves them in one
/// case only: while an instance whose host tree carries a `vmcore` node
/// runs (`mk_instance.dumps_host`, `mk_crash_notes_wanted()`), a CPU of
/// the kernel it backs up that stops writes its registers with
/// `crash_save_cpu()`: a `CORE`/`NT_PRSTATUS` note, then an empty final
/// note, in its per-CPU `crash_notes` buffer (the address
/// `/sys/devices/system/cpu/cpuN/crash_notes` prints). Nothing else ever
/// exports a stopped CPU's registers, so this is where the fallback looks.
public struct CrashNotes {
    public struct CPU: Equatable {
        public var cpu: Int
        /// Physical address of the CPU's note buffer.
        public var physical: UInt64?
        public var note: ElfNote?
        /// Why the buffer holds no usable note (nil when it has one).
        public var problem: String?
    }

    public var cpus: [CPU]
    /// Why nothing could be looked at (no symbols, buffers never allocated).
    public var unavailable: String?

    /// `note_buf_t`: two note headers, the name "CORE" padded, the prstatus.
    static func bufferSize(_ layout: PrStatusLayout) -> Int { 12 * 2 + 8 + layout.size }

    public var saved: [CPU] { cpus.filter { $0.note != nil } }

    /// Reads every possible CPU's buffer. Needs the kernel's symbols
    /// (`crash_notes`, `__per_cpu_offset`, `nr_cpu_ids`); reads only.
    public static func read(_ target: Target) -> CrashNotes {
        guard let layout = PrStatusLayout.forMachine(target.image.elfMachine) else {
            return CrashNotes(cpus: [], unavailable: "no NT_PRSTATUS layout for ELF machine \(target.image.elfMachine.map(String.init) ?? "?")")
        }
        guard let symbols = target.symbols else {
            return CrashNotes(cpus: [], unavailable: "no symbols for the kernel (\(target.symbolProblem ?? "no vmlinux"))")
        }
        guard let notesVar = symbols.lookup("crash_notes")?.address else {
            return CrashNotes(cpus: [], unavailable: "the kernel has no crash_notes (built without CONFIG_CRASH_DUMP)")
        }
        let memory = target.memory
        guard let base = try? memory.readVirtualU64(notesVar) else {
            return CrashNotes(cpus: [], unavailable: "crash_notes at \(hex(notesVar)) cannot be read")
        }
        guard base != 0 else { return CrashNotes(cpus: [], unavailable: "crash_notes is NULL: the buffers were never allocated") }
        var count = 1
        if let n = symbols.lookup("nr_cpu_ids")?.address, let bytes = try? memory.readVirtual(n, count: 4),
           let v = bytes.loadLE32(at: 0) {
            guard v >= 1, v <= 8192 else {
                return CrashNotes(cpus: [], unavailable: "nr_cpu_ids is \(v): not a plausible CPU count")
            }
            count = Int(v)
        }
        let offsets = symbols.lookup("__per_cpu_offset")?.address
        var cpus: [CPU] = []
        for cpu in 0..<count {
            var offset: UInt64 = 0
            if let offsets {
                guard let at = checkedAdd(offsets, UInt64(8 * cpu)), let o = try? memory.readVirtualU64(at) else {
                    cpus.append(CPU(cpu: cpu, problem: "__per_cpu_offset[\(cpu)] cannot be read"))
                    continue
                }
                offset = o
            }
            let va = base &+ offset
            let phys = try? memory.translate(va).physical
            guard let bytes = try? memory.readVirtual(va, count: bufferSize(layout)) else {
                cpus.append(CPU(cpu: cpu, physical: phys, problem: "its note buffer at \(hex(va)) cannot be read"))
                continue
            }
            cpus.append(parse(bytes, cpu: cpu, physical: phys ?? va, layout: layout))
        }
        return CrashNotes(cpus: cpus, unavailable: nil)
    }

    /// One CPU's buffer: empty (all zero: the CPU never saved), a
    /// `CORE`/`NT_PRSTATUS` note, or something else (refused).
    static func parse(_ bytes: [UInt8], cpu: Int, physical: UInt64, layout: PrStatusLayout) -> CPU {
        var c = CPU(cpu: cpu, physical: physical)
        guard let namesz = bytes.loadLE32(at: 0), let descsz = bytes.loadLE32(at: 4), let type = bytes.loadLE32(at: 8) else {
            c.problem = "short buffer"
            return c
        }
        if namesz == 0 && descsz == 0 && type == 0 {
            c.problem = "empty: the CPU saved no registers"
            return c
        }
        let nameEnd = 12 + Int(namesz)
        let descStart = 12 + 8
        guard namesz == 5, nameEnd <= bytes.count, Array(bytes[12..<nameEnd]) == Array("CORE\0".utf8),
              type == ElfNote.ntPrStatus, Int(descsz) == layout.size, descStart + layout.size <= bytes.count else {
            c.problem = "not a CORE/NT_PRSTATUS note (namesz \(namesz), descsz \(descsz), type \(type))"
            return c
        }
        c.note = ElfNote(name: "CORE", type: ElfNote.ntPrStatus, descriptor: Array(bytes[descStart..<(descStart + layout.size)]), offset: physical)
        return c
    }
}
