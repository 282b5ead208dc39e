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

    /// A pc in a function's patchable entry, which its FDE does not cover, is where the function
    /// has changed nothing yet: the FDE's first row, just past the entry, holds there too.
    private func entryRow(_ lookup: UInt64, _ dwarf: DebugInfo) -> DwarfCFIRow? {
        let bytes = context.arch.patchableEntryBytes
        guard bytes > 0, let (symbol, offset) = context.code.symbols?.symbolize(lookup), offset < bytes else { return nil }
        return dwarf.callFrameRow(linkAddress: symbol.address &+ bytes &- context.code.kaslr, registers: registers)
    }

    func step(_ frame: PhysicalFrame) -> UnwindStep {
        guard let pc = frame.regs.pc, let lookup = context.lookupAddress(frame) else { return .noInfo("no pc") }
        let code = context.code
        let kernel = context.kernel
        guard code.isVmlinux(lookup) else { return .noInfo("no DWARF CFI outside the vmlinux") }
        guard let dwarf = kernel.dwarf else { return .noInfo("no DWARF CFI without the vmlinux") }
        guard let row = dwarf.callFrameRow(linkAddress: lookup &- code.kaslr, registers: registers)
                ?? entryRow(lookup, dwarf) else {
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
            // A signed x30 (PAC) is stripped in the register too, as the caller's code sees it after autiasp.
            if ra != regs.file.pc {
                caller[ra] = caller[ra].map { context.arch.codeAddress($0, kernel: kernel) }
                caller.pc = caller[ra]
            }
            caller.pc = caller.pc.map { context.arch.codeAddress($0, kernel: kernel) }
            guard caller.pc != nil else { return .failed("DWARF CFI does not say where the return address is at \(hex(pc))") }
            caller.sp = cfa
            return .caller(caller, pcIsReturnAddress: true, switchedStack: false, method: .cfi, saved: saved)
        } catch {
            return .failed("DWARF CFI at \(hex(pc)): \(error)")
        }
    }
}
