import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// The registers of a target's selected frame as the evaluator's `$name`s
/// (`$rip`, `$rsp`, `$eflags`, gdb's `$pc`, `$sp`, `$fp`). It reads the
/// selection each time it is asked, so `frame N` changes what `$rip` means.
/// Locals are another scope's: `variable(named:)` asks `locals`.
final class SelectedFrameScope: FrameScope {
    private weak var context: TargetContext?
    /// The selected frame's locals and arguments, when a scope for them is installed.
    var locals: (any FrameScope)?

    init(context: TargetContext) {
        self.context = context
        locals = SelectedFrameVariables(context: context)
    }

    func register(named name: String) throws -> Value? {
        guard let context, let arch = try? context.kernel().architecture(),
              let register = FrameRegisters.resolve(name, arch) else { return nil }
        let (bt, index) = try FrameRegisters.selected(context, budget: context.walkBudget())
        let frame = bt.frames[index]
        guard let v = frame.registers[register.dwarfNumber] else {
            throw EvaluationError("$\(name) is not saved in frame \(index)")
        }
        return Value.integer(v, type: FrameRegisters.type(of: register, arch))
    }

    func variable(named name: String) throws -> Value? { try locals?.variable(named: name) }
}

/// What the register commands share: names (with gdb's aliases), gdb's
/// types for them, and the selected frame.
enum FrameRegisters {
    /// `pc`, `sp`, `fp` are gdb's names for the architecture's pc, stack
    /// and frame pointer; a leading `$` is accepted.
    static func resolve(_ word: String, _ arch: any Architecture) -> RegisterInfo? {
        let name = word.hasPrefix("$") ? String(word.dropFirst()) : word
        let file = arch.registerFile
        let alias = arch.registerAliases.merging(["pc": file.pc, "sp": file.sp, "fp": file.fp]) { a, _ in a }
        if let regno = alias[name] { return arch.registers.first { $0.dwarfNumber == regno } }
        return arch.anyRegister(named: name)
    }

    /// The names `info registers` lists, in gdb's order.
    static func listed(_ arch: any Architecture) -> [RegisterInfo] {
        arch.displayOrder.compactMap { arch.anyRegister(named: $0) }
    }

    /// Every name completion offers for a register (all architectures).
    static let completionNames: [String] = {
        var names: [String] = ["pc", "sp", "fp"]
        for arch in Architectures.all {
            names += (arch.displayOrder + arch.registerAliases.keys.sorted()).filter { !names.contains($0) }
        }
        return names
    }()

    enum Kind { case code, data, integer }

    static func kind(of r: RegisterInfo, _ arch: any Architecture) -> Kind {
        let file = arch.registerFile
        if r.dwarfNumber == file.pc { return .code }
        if r.dwarfNumber == file.sp || r.dwarfNumber == file.fp { return .data }
        return .integer
    }

    /// gdb's types: the pc is `void (*)()`, the stack and frame pointers `void *`, the rest `long`.
    static func type(of r: RegisterInfo, _ arch: any Architecture) -> CType {
        switch kind(of: r, arch) {
        case .code:
            let function = CType(kind: .function, name: nil, size: nil, target: .void)
            function.isUnprototyped = true
            return .pointer(to: function)
        case .data: return .pointer(to: .void)
        case .integer: return .integer("long", size: 8, signed: true)
        }
    }

    /// The selected task's backtrace and the selected frame's index in it.
    static func selected(_ context: TargetContext, budget: WalkBudget) throws -> (Backtrace, Int) {
        let bt: Backtrace
        do {
            bt = try context.selectedBacktrace(budget: budget)
        } catch let e as BacktraceError {
            throw CommandError.failed("\(e)", cause: e)
        }
        guard bt.frames.indices.contains(context.selection.frame) else {
            let why = bt.frames.isEmpty ? "has no frames" + (bt.notes.first.map { " (\($0))" } ?? "") : "has no frame \(context.selection.frame)"
            throw CommandError.targetState("task \(hex(bt.task)) \(why)")
        }
        return (bt, context.selection.frame)
    }

    /// `<panic+375>`, `<pvpanic_panic_notify+64 [pvpanic]>` for an address in
    /// kernel or module text (decimal offsets, as gdb prints pointers); nil elsewhere.
    static func codeSymbol(_ address: UInt64, symbols: SymbolTable?, modules: [LoadedModule]) -> String? {
        if let symbols, let start = symbols.lookup("_stext")?.address, let end = symbols.lookup("_etext")?.address,
           address >= start, address < end {
            if let (s, off) = symbols.symbolizeCode(address) { return "<" + s.name + (off == 0 ? "" : "+\(off)") + ">" }
        }
        if let m = modules.first(where: { $0.contains(address) }) {
            guard let (s, off) = m.symbolize(address) else { return "<[\(m.name)]>" }
            return "<" + s.name + (off == 0 ? "" : "+\(off)") + " [\(m.name)]>"
        }
        return nil
    }
}
