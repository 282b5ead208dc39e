import MKFormat
import MKDebugInfo

/// Unwinds by the vmlinux's DWARF CFI (`.debug_frame`): the CFA and each
/// register's rule, evaluated by `DwarfExpression`.
struct CallFrameUnwinder: UnwindStrategy {
    let context: UnwindContext
    var method: UnwindMethod { .dwarfCFI }
    /// The DWARF numbers asked for, and those kept without a rule.
    private let registers: [Int]
    private let calleeSaved: Set<Int>

    init(_ context: UnwindContext) {
        self.context = context
        registers = context.arch.registers.map(\.dwarfNumber)
        calleeSaved = context.arch.calleeSaved
    }

    func step(_ frame: PhysicalFrame) -> UnwindStep {
        guard let pc = frame.regs.pc, let lookup = context.lookupAddress(frame) else { return .noInfo("no pc") }
        let code = context.code
        let kernel = context.kernel
        guard code.isVmlinux(lookup) else { return .noInfo("no DWARF CFI outside the vmlinux") }
        guard let row = kernel.debugInfo.callFrameRow(linkAddress: lookup &- code.kaslr, registers: registers) else {
            return .noInfo("no DWARF CFI for \(hex(pc))")
        }
        var eval = DwarfExpression(registers: frame.regs, memory: kernel.memory)
        do {
            let (cfa, _) = try eval.evaluate(row.cfa, initial: nil)
            let regs = frame.regs
            var caller = RegisterSet(file: regs.file)
            var saved = SavedRegisters(cfa: cfa)
            caller.mode = regs.mode
            for regno in registers where regno != regs.file.sp {
                switch row.registers[regno] {
                case .sameValue?:
                    caller[regno] = regs[regno]
                case .undefined?:
                    // libdw says undefined for a register the row does not mention: a callee-saved one keeps its value.
                    caller[regno] = calleeSaved.contains(regno) ? regs[regno] : nil
                case let .expression(ops)?:
                    let (v, isValue) = try eval.evaluate(ops, initial: cfa)
                    caller[regno] = isValue ? v : try kernel.readU64(v)
                    if !isValue { saved.slots[regno] = v }
                case nil:
                    // No rule: callee-saved registers keep their value.
                    caller[regno] = calleeSaved.contains(regno) ? regs[regno] : nil
                }
            }
            // The return address column may be a register of its own (arm64's x30).
            let ra = context.arch.cfiReturnAddressRegister
            if ra != regs.file.pc { caller.pc = caller[ra] }
            caller.pc = caller.pc.map { context.arch.codeAddress($0, kernel: kernel) }
            guard caller.pc != nil else { return .failed("DWARF CFI does not say where the return address is at \(hex(pc))") }
            caller.sp = cfa
            return .caller(caller, pcIsReturnAddress: true, switchedStack: false, method: .cfi, saved: saved)
        } catch {
            return .failed("DWARF CFI at \(hex(pc)): \(error)")
        }
    }
}
