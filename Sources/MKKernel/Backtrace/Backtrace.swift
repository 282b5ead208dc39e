import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// One frame of a backtrace as people read it: inline frames are frames of
/// their own (innermost first, same pc), as gdb and drgn show them.
public struct BacktraceFrame: Equatable, Sendable {
    public var index: Int
    public var pc: UInt64
    public var sp: UInt64
    /// The function: DWARF's name (inlined or real), else the symbol's.
    public var function: String?
    /// The ELF (or module kallsyms) symbol holding the pc, for real frames.
    public var symbol: String?
    /// pc minus the symbol's address.
    public var offset: UInt64?
    public var file: String?
    public var line: Int?
    /// The module whose code this is; nil for the vmlinux.
    public var module: String?
    public var isInline: Bool
    /// False for frames found by guessing (frame pointers) or above one.
    public var reliable: Bool
    /// How the frame was found: start, orc, dwarf-cfi, pt_regs, frame-pointer.
    public var method: String
    /// The registers the unwinder knows in this frame (nil ones are not
    /// saved), by the architecture's DWARF numbers; inline frames share
    /// their real frame's.
    public var registers: RegisterSet
    /// The frame's CFA and where its caller's registers were saved (what the
    /// unwinder learned stepping out of it; empty for the outermost frame).
    /// Inline frames share their real frame's.
    public var saved = SavedRegisters()
    /// The pc is a return address (the call is at pc-1): what code
    /// lookups (scopes, variable locations) use.
    public var pcIsReturnAddress = false
}

/// A task's kernel stack, walked.
public struct Backtrace: Sendable {
    public var task: UInt64
    public var pid: Int64?
    public var comm: String?
    /// The CPU the task was running on when the dump was taken (nil when
    /// it was not running), else the CPU it last ran on.
    public var cpu: Int?
    /// Running on `cpu` at dump time: the registers came from that CPU's note.
    public var active: Bool
    public var frames: [BacktraceFrame]
    /// Why the walk stopped where it did, and anything doubtful on the way.
    public var notes: [String]
}

public enum BacktraceError: Error, CustomStringConvertible {
    case noSuchPID(Int64)
    case unreadableTask(UInt64, String)
    case noCPU(Int)

    public var description: String {
        switch self {
        case let .noSuchPID(pid): return "no task with PID \(pid) in this kernel"
        case let .unreadableTask(a, why): return "cannot read a task_struct at \(hex(a)): \(why)"
        case let .noCPU(cpu): return "CPU \(cpu) is not in this dump"
        }
    }
}

/// Backtraces of a kernel's tasks: which registers to start from (the
/// CPU's `NT_PRSTATUS` note for a task running at dump time, what the
/// last context switch saved for a sleeping one, both by the
/// architecture's table), the walk (`StackUnwinder`) and the names of the frames.
public final class Backtracer {
    let kernel: Kernel
    let code: KernelCode
    let unwinder: StackUnwinder
    let taskType: CType
    /// The architecture's table: registers, start registers, unwinding rules.
    public let architecture: any Architecture

    public init(kernel: Kernel) throws {
        self.kernel = kernel
        self.code = KernelCode(kernel: kernel)
        self.architecture = try kernel.architecture()
        self.unwinder = StackUnwinder(kernel: kernel, code: code, architecture: architecture)
        self.taskType = try kernel.type("struct task_struct")
    }

    public var modules: [LoadedModule] { code.modules }

    /// Module debug files (`mod -s`), by module name: module frames get their file:line from them.
    public var moduleDebugFiles: [String: ModuleDebugFile] = [:]

    /// The unwinding methods tried, in order (all of them by default; tests
    /// narrow them to check one alone).
    public var methods: [UnwindMethod] {
        get { unwinder.methods }
        set { unwinder.methods = newValue }
    }

    // MARK: tasks

    /// What the task lookups may spend walking lists (the command's budget).
    public var budget = WalkBudget()

    /// Every task, as `ps` lists them (the kernel's bounded, recovering task walk).
    public func allTasks() throws -> [UInt64] {
        try kernel.tasks(budget: budget).tasks.map(\.address)
    }

    /// Whether `address` is a task on the task list (read once while memory cannot change).
    public func isListedTask(_ address: UInt64) throws -> Bool {
        if kernel.memory.cachingEnabled, let known = kernel.cachedTaskAddresses { return known.contains(address) }
        let all = Set(try allTasks())
        if kernel.memory.cachingEnabled { kernel.cachedTaskAddresses = all }
        return all.contains(address)
    }

    public func task(pid: Int64) throws -> UInt64 {
        if pid == 0 { return try kernel.address(of: "init_task") }
        guard let t = try kernel.tasks(budget: budget).tasks.first(where: { Int64($0.pid) == pid }) else {
            throw BacktraceError.noSuchPID(pid)
        }
        return t.address
    }

    // MARK: CPUs

    /// Number of CPUs the dump has registers for.
    public var cpuCount: Int { prStatusNotes.count }

    private var prStatusNotes: [PrStatus] { kernel.target.image.prStatus(layout: architecture.prStatusLayout) }

    /// The task running on `cpu` (the kernel helper `ps` uses too).
    public func currentTask(cpu: Int) throws -> UInt64 {
        try kernel.currentTask(cpu: cpu)
    }

    /// The registers each CPU saved, by CPU number, with how the note was
    /// matched to the CPU. QEMU writes one note per vCPU in CPU order with
    /// `pr_pid` = CPU index + 1; the kernel's kdump writes them in CPU order
    /// with `pr_pid` = the PID of the task that was running.
    public func cpuRegisters() -> [Int: (registers: RegisterSet, how: String)] {
        let notes = prStatusNotes
        var result: [Int: (RegisterSet, String)] = [:]
        let qemuNumbering = notes.enumerated().allSatisfy { Int($0.element.pid) == $0.offset + 1 }
        for (i, note) in notes.enumerated() {
            if qemuNumbering {
                result[i] = (architecture.registers(from: note), "NT_PRSTATUS note \(i) (pr_pid \(note.pid) = CPU + 1)")
            } else {
                var how = "NT_PRSTATUS note \(i) (in CPU order)"
                if let cur = try? currentTask(cpu: i), let pid = try? kernel.object(taskType, at: cur)["pid"].signed(),
                   pid != Int64(note.pid) {
                    how += "; its pr_pid \(note.pid) is not the PID \(pid) of CPU \(i)'s current task"
                }
                result[i] = (architecture.registers(from: note), how)
            }
        }
        return result
    }

    /// The CPU that panicked (`panic_cpu`, else `crashing_cpu`), if any.
    public func panicCPU() -> Int? {
        for name in ["panic_cpu", "crashing_cpu"] {
            guard let a = try? kernel.address(of: name), let bytes = try? kernel.memory.readVirtual(a, count: 4) else { continue }
            let v = Int32(bitPattern: UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
            if v >= 0 && Int(v) < max(cpuCount, 1) { return Int(v) }
        }
        if kernel.target.lacksDataSymbols { return kernel.panicCPUFromLog()?.0 }
        return nil
    }

    /// What a bare `bt` shows: the panicking CPU's task, else CPU 0's.
    public func defaultTask() throws -> (task: UInt64, note: String?) {
        if let cpu = panicCPU() { return (try currentTask(cpu: cpu), nil) }
        return (try currentTask(cpu: 0), "no CPU panicked; showing CPU 0's current task")
    }

    // MARK: backtraces

    /// The backtrace of the task at `task`. Throws only when the task
    /// cannot be read at all; a walk that cannot go on ends with a note.
    /// With `physicalFrames`, the walk stops after that many (frame 0 alone
    /// needs no unwind tables); such a backtrace is partial, not for caching.
    public func backtrace(task: UInt64, physicalFrames: Int? = nil) throws -> Backtrace {
        let saved = unwinder.frameLimit
        if let physicalFrames { unwinder.frameLimit = max(1, min(physicalFrames, saved)) }
        defer { unwinder.frameLimit = saved }
        let t = kernel.object(taskType, at: task)
        let pid: Int64
        do {
            pid = try t["pid"].signed()
        } catch {
            throw BacktraceError.unreadableTask(task, "\(error)")
        }
        var notes: [String] = []
        let comm = try? t["comm"].string(limit: 16)
        var taskCPU: Int?
        if let c = try? t["cpu"].unsigned() { taskCPU = Int(c) } else if let c = try? t["thread_info"]["cpu"].unsigned() { taskCPU = Int(c) }

        // Running on a CPU at dump time?
        var activeCPU: Int?
        for cpu in 0..<cpuCount where (try? currentTask(cpu: cpu)) == task {
            activeCPU = cpu
            break
        }
        var start: RegisterSet
        var pcIsReturn: Bool
        if let cpu = activeCPU, let (regs, _) = cpuRegisters()[cpu], regs.pc ?? 0 != 0 || regs.sp ?? 0 != 0 {
            start = regs
            pcIsReturn = false
        } else {
            if let cpu = activeCPU { notes.append("running on CPU \(cpu), which saved no registers; starting from the task's last switch frame") }
            do {
                (start, pcIsReturn) = try switchFrame(of: t)
            } catch {
                return Backtrace(task: task, pid: pid, comm: comm, cpu: taskCPU, active: false, frames: [],
                                 notes: notes + ["cannot read the task's saved stack: \(error)"])
            }
        }
        if let problem = code.moduleProblem { notes.append(problem) }
        let walk = unwinder.walk(from: start, pcIsReturnAddress: pcIsReturn)
        let frames = symbolize(walk.frames)
        return Backtrace(task: task, pid: pid, comm: comm, cpu: activeCPU ?? taskCPU, active: activeCPU != nil,
                         frames: frames, notes: notes + walk.notes)
    }

    /// A sleeping task's registers, as its architecture finds them.
    func switchFrame(of t: KObject) throws -> (RegisterSet, Bool) {
        let (regs, isReturn) = try architecture.sleepingTaskRegisters(t, kernel: kernel)
        return (regs, isReturn)
    }

    /// A walk from arbitrary registers (for checking the unwinder on
    /// made-up starts): the frames, named when `names` is set, the notes,
    /// and whether the kernel's unwind data said the stack ended there.
    public func walk(from registers: RegisterSet, pcIsReturnAddress: Bool,
                     names: Bool = true) -> (frames: [BacktraceFrame], notes: [String], complete: Bool) {
        let walk = unwinder.walk(from: registers, pcIsReturnAddress: pcIsReturnAddress)
        if names { return (symbolize(walk.frames), walk.notes, walk.complete) }
        let frames = walk.frames.enumerated().map { i, p in
            BacktraceFrame(index: i, pc: p.regs.pc ?? 0, sp: p.regs.sp ?? 0, function: nil, symbol: nil, offset: nil,
                           file: nil, line: nil, module: nil, isInline: false, reliable: p.reliable, method: p.method.rawValue,
                           registers: p.regs, saved: p.saved, pcIsReturnAddress: p.pcIsReturnAddress)
        }
        return (frames, walk.notes, walk.complete)
    }

    /// Every CPU's active task.
    public func backtracesOfAllCPUs() -> [(cpu: Int, result: Result<Backtrace, Error>)] {
        (0..<cpuCount).map { cpu in
            (cpu, Result {
                let task = try currentTask(cpu: cpu)
                var bt = try backtrace(task: task)
                if !bt.active { bt.notes.insert("CPU \(cpu)'s current task is not running there by the per-CPU data", at: 0) }
                return bt
            })
        }
    }

    // MARK: names

    /// The nearest symbol with a size that holds `address`, looking past
    /// sizeless labels.
    func containingFunction(_ address: UInt64) -> String? {
        guard let symbols = code.symbols else { return nil }
        var current = symbols.symbolize(address)
        for _ in 0..<8 {
            guard let c = current else { return nil }
            if c.symbol.size > 0 { return c.symbol.name }
            guard c.symbol.address > 0, let prev = symbols.symbolize(c.symbol.address - 1) else { return nil }
            if prev.symbol.size > 0 {
                return address - prev.symbol.address < prev.symbol.size ? prev.symbol.name : nil
            }
            current = prev
        }
        return nil
    }

    func symbolize(_ physical: [PhysicalFrame]) -> [BacktraceFrame] {
        var frames: [BacktraceFrame] = []
        for p in physical {
            guard let pc = p.regs.pc else { continue }
            let sp = p.regs.sp ?? 0
            let lookup = p.pcIsReturnAddress ? pc &- 1 : pc
            func add(_ function: String?, symbol: String?, offset: UInt64?, file: String?, line: Int?, module: String?, inline: Bool) {
                frames.append(BacktraceFrame(index: frames.count, pc: pc, sp: sp, function: function, symbol: symbol,
                                             offset: offset, file: file, line: line, module: module, isInline: inline,
                                             reliable: p.reliable, method: p.method.rawValue, registers: p.regs,
                                             saved: p.saved, pcIsReturnAddress: p.pcIsReturnAddress))
            }
            if code.isVmlinux(lookup) {
                let sym = code.symbols?.symbolize(lookup)
                let offset = sym.map { pc &- $0.symbol.address }
                let levels = kernel.dwarf?.frameFunctions(linkAddress: lookup &- code.kaslr) ?? []
                // Without DWARF (assembly), the function is the sized symbol holding the pc
                // (entry_SYSCALL_64), not a label inside it (entry_SYSCALL_64_after_hwframe).
                let function = containingFunction(lookup) ?? sym?.symbol.name
                if levels.isEmpty {
                    add(function, symbol: sym?.symbol.name, offset: offset, file: nil, line: nil, module: nil, inline: false)
                }
                for level in levels {
                    if level.isInline {
                        add(level.name, symbol: nil, offset: nil, file: level.file, line: level.line, module: nil, inline: true)
                    } else {
                        add(level.name ?? function, symbol: sym?.symbol.name, offset: offset,
                            file: level.file, line: level.line, module: nil, inline: false)
                    }
                }
            } else if let m = code.module(containing: lookup) {
                if let (s, _) = m.symbolize(lookup) {
                    let levels = moduleDebugFiles[m.name].map { m.frameFunctions(lookup, debugFile: $0) } ?? []
                    if levels.isEmpty {
                        add(s.name, symbol: s.name, offset: pc &- s.address, file: nil, line: nil, module: m.name, inline: false)
                    }
                    for level in levels {
                        if level.isInline {
                            add(level.name, symbol: nil, offset: nil, file: level.file, line: level.line, module: m.name, inline: true)
                        } else {
                            add(level.name ?? s.name, symbol: s.name, offset: pc &- s.address,
                                file: level.file, line: level.line, module: m.name, inline: false)
                        }
                    }
                } else {
                    let base = m.textRanges.first { $0.contains(lookup) }?.lowerBound ?? m.address
                    add(nil, symbol: nil, offset: pc &- base, file: nil, line: nil, module: m.name, inline: false)
                }
            } else {
                add(nil, symbol: nil, offset: nil, file: nil, line: nil, module: nil, inline: false)
            }
        }
        return frames
    }
}
