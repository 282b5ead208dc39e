import MKFormat
import MKMemory
import MKDebugInfo

/// Unwinds by the kernel's ORC tables: the vmlinux's (link-time
/// addresses) and each module's (run-time addresses, read from memory).
/// ORC's base registers reach the architecture's through its
/// `orcRegisterMap`; an architecture without one has no ORC.
final class OrcUnwinder: UnwindStrategy {
    let context: UnwindContext
    var method: UnwindMethod { .orc }
    private let registerMap: [UInt8: Int]?
    private lazy var ptRegs: Result<PtRegsLayout, Error> = Result { try context.arch.ptRegsLayout(kernel: context.kernel) }

    init(_ context: UnwindContext) {
        self.context = context
        registerMap = context.arch.orcRegisterMap
    }

    func step(_ frame: PhysicalFrame) -> UnwindStep {
        guard let registerMap else { return .noInfo("the kernel has no ORC for \(context.arch.name)") }
        guard let pc = frame.regs.pc, let lookup = context.lookupAddress(frame) else { return .noInfo("no pc") }
        let code = context.code
        let table: OrcTable
        let key: UInt64
        if code.isVmlinux(lookup) {
            switch code.vmlinuxOrc {
            case let .success(t): table = t
            case let .failure(e): return .noInfo("\(e)")
            }
            key = lookup &- code.vmlinuxOrcShift
        } else if let m = code.module(containing: lookup) {
            switch m.orc {
            case let .success(t): table = t
            case let .failure(e): return .noInfo("\(e)")
            }
            key = lookup
        } else {
            return .failed("\(hex(pc)) is not in the kernel's or a loaded module's code")
        }
        guard table.covers(key), let (_, e) = table.lookup(key) else { return .noInfo("no ORC entry for \(hex(pc))") }
        switch e.kind {
        case .endOfStack: return .end
        case .undefined: return .noInfo("ORC has no rule for \(hex(pc))")
        case .call, .regs, .regsPartial: break
        }
        do {
            return try apply(e, to: frame.regs, pc: pc, lookup: lookup, registerMap: registerMap)
        } catch {
            return .failed("cannot read the stack for the ORC rule at \(hex(pc)): \(error)")
        }
    }

    private func apply(_ e: OrcEntry, to start: RegisterSet, pc: UInt64, lookup: UInt64, registerMap: [UInt8: Int]) throws -> UnwindStep {
        let kernel = context.kernel
        var regs = start
        let off = UInt64(bitPattern: Int64(e.spOffset))
        let needsBP = "ORC needs the frame pointer, which is unknown here"
        var switched = false
        let cfa: UInt64
        switch OrcEntry.Register(rawValue: e.spReg) {
        case .spIndirect?:
            // The stack pointer of the stack switched from is saved at the top of this one.
            guard let sp = regs.sp else { return .failed("ORC needs sp") }
            cfa = try kernel.readU64(sp) &+ off
            switched = true
        case .bpIndirect?:
            guard let bp = regs.bp else { return .failed(needsBP) }
            cfa = try kernel.readU64(bp &+ off)
            switched = true
        default:
            guard let regno = registerMap[e.spReg] else {
                return .failed("ORC entry for \(hex(pc)) uses an unknown base register \(e.spReg)")
            }
            guard let v = regs[regno] else {
                if regno == regs.file.sp { return .failed("ORC needs sp") }
                if regno == regs.file.fp { return .failed(needsBP) }
                return .failed("ORC needs a register (ORC number \(e.spReg)) that is unknown here")
            }
            cfa = v &+ off
        }
        switch e.kind {
        case .call:
            let ra = try kernel.readU64(cfa &- 8)
            let oldBP = regs.bp
            regs.keepOnly(context.arch.calleeSaved)
            regs.sp = cfa
            regs.pc = ra
            var saved = SavedRegisters(cfa: cfa, slots: [regs.file.pc: cfa &- 8])
            calleeSaved(&regs, callee: start, cfa: cfa, lookup: lookup, saved: &saved)
            regs.bp = try restoredBP(e, cfa: cfa, bp: oldBP, saved: &saved)
            return .caller(regs, pcIsReturnAddress: true, switchedStack: switched, method: .orc, saved: saved)
        case .regs:
            guard case let .success(layout) = ptRegs else { return .failed(ptRegsProblem) }
            let saved = try layout.read(at: cfa, memory: kernel.memory)
            return .caller(saved, pcIsReturnAddress: false, switchedStack: true, method: .regs,
                           saved: SavedRegisters(cfa: cfa, slots: layout.slots(at: cfa)))
        case .regsPartial:
            guard case let .success(layout) = ptRegs else { return .failed(ptRegsProblem) }
            let hw = try layout.readHardwareFrame(at: cfa, memory: kernel.memory)
            let oldBP = regs.bp
            regs.pc = hw.pc
            regs.sp = hw.sp
            regs.mode = hw.mode
            // cfa is the hardware frame's pc slot: only pc, sp and the mode register were read from it.
            let base = cfa &- (layout.offsets[regs.file.pc] ?? 0)
            let all = layout.slots(at: base)
            let modeRegno = context.arch.anyRegister(named: context.arch.modeRegister.prStatusName)?.dwarfNumber
            var saved = SavedRegisters(cfa: cfa, slots: all.filter { $0.key == regs.file.pc || $0.key == regs.file.sp || $0.key == modeRegno })
            regs.bp = try restoredBP(e, cfa: cfa, bp: oldBP, saved: &saved)
            return .caller(regs, pcIsReturnAddress: false, switchedStack: true, method: .regs, saved: saved)
        default:
            return .noInfo("ORC has no rule for \(hex(pc))")
        }
    }

    /// ORC says nothing of the callee-saved registers a function pushed, so
    /// the vmlinux's CFI row at the same pc says where they are (on ORC's
    /// CFA); without one (module code) they are unknown in the caller.
    private func calleeSaved(_ regs: inout RegisterSet, callee: RegisterSet, cfa: UInt64, lookup: UInt64,
                             saved: inout SavedRegisters) {
        let code = context.code
        let numbers = context.arch.calleeSaved.filter { $0 != regs.file.fp }.sorted()
        guard code.isVmlinux(lookup),
              let row = context.kernel.dwarf?.callFrameRow(linkAddress: lookup &- code.kaslr, registers: numbers) else {
            for n in numbers { regs[n] = nil }
            return
        }
        var eval = DwarfExpression(registers: callee, memory: context.kernel.memory)
        for n in numbers {
            switch row.registers[n] {
            case .sameValue?, .undefined?, nil:
                // libdw reports a register the row does not mention as undefined; the ABI keeps callee-saved ones.
                regs[n] = callee[n]
            case let .expression(ops)?:
                guard let (v, isValue) = try? eval.evaluate(ops, initial: cfa) else {
                    regs[n] = nil
                    continue
                }
                if isValue {
                    regs[n] = v
                } else {
                    regs[n] = try? context.kernel.readU64(v)
                    if regs[n] != nil { saved.slots[n] = v }
                }
            }
        }
    }

    private var ptRegsProblem: String {
        if case let .failure(e) = ptRegs { return "cannot read struct pt_regs: \(e)" }
        return "cannot read struct pt_regs"
    }

    /// The caller's frame pointer by the entry's bp rule.
    private func restoredBP(_ e: OrcEntry, cfa: UInt64, bp: UInt64?, saved: inout SavedRegisters) throws -> UInt64? {
        let off = UInt64(bitPattern: Int64(e.bpOffset))
        let fp = context.arch.registerFile.fp
        switch OrcEntry.Register(rawValue: e.bpReg) {
        case .undefined?: return bp
        case .prevSP?:
            saved.slots[fp] = cfa &+ off
            return try context.kernel.readU64(cfa &+ off)
        case .bp?:
            guard let bp else { return nil }
            saved.slots[fp] = bp &+ off
            return try context.kernel.readU64(bp &+ off)
        default: return nil
        }
    }
}
