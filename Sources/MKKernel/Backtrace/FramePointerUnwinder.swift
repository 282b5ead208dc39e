import MKFormat

/// Follows the chain of frame records the frame pointer links (the
/// architecture's `FrameRecord`): a guess, since nothing says the
/// register holds a frame pointer at this pc.
struct FramePointerUnwinder: UnwindStrategy {
    let context: UnwindContext
    var method: UnwindMethod { .framePointer }

    init(_ context: UnwindContext) { self.context = context }

    func step(_ frame: PhysicalFrame) -> UnwindStep {
        let record = context.arch.frameRecord
        let code = context.code
        guard let bp = frame.regs.bp, let sp = frame.regs.sp else { return .failed("no frame pointer to follow") }
        if let pc = context.lookupAddress(frame), let at = context.arch.exceptionFrame(pc: pc, framePointer: bp, kernel: context.kernel) {
            return exception(at)
        }
        if !frame.pcIsReturnAddress, frame.method == .start || frame.method == .regs, let caller = leafCaller(frame, bp: bp, sp: sp) {
            return caller
        }
        let switching = context.lookupAddress(frame).map { context.arch.switchesStacks(at: $0, kernel: context.kernel) } ?? false
        guard switching || (bp >= sp && bp - sp < 1 << 16), bp & 7 == 0 else {
            return .failed("the frame pointer \(hex(bp)) does not point into this stack")
        }
        do {
            let savedBP = try context.kernel.readU64(bp &+ record.savedFramePointer)
            let raw = try context.kernel.readU64(bp &+ record.returnAddress)
            if record.zeroRecordEndsStack && savedBP == 0 && raw == 0 { return .end }
            let ra = context.arch.codeAddress(raw, kernel: context.kernel)
            guard code.isVmlinux(ra &- 1) || code.module(containing: ra &- 1) != nil else {
                return .failed("the frame pointer chain leads to \(hex(ra)), which is not kernel code")
            }
            var regs = frame.regs
            // Nothing says where this function saved the other callee-saved registers: unknown in the caller.
            regs.keepOnly([])
            regs.pc = ra
            regs.sp = bp &+ record.callerStackPointer
            regs.bp = savedBP
            // The record's return address is the caller's saved link register where it has one (arm64 x30).
            let link = context.arch.cfiReturnAddressRegister
            var slots = [regs.file.fp: bp &+ record.savedFramePointer, regs.file.pc: bp &+ record.returnAddress]
            if link != regs.file.pc {
                regs[link] = ra
                slots[link] = bp &+ record.returnAddress
            }
            return .caller(regs, pcIsReturnAddress: true, switchedStack: switching, method: .framePointer,
                           saved: SavedRegisters(cfa: regs.sp, slots: slots))
        } catch {
            return .failed("cannot follow the frame pointer: \(error)")
        }
    }

    /// Where the registers hold a link register (arm64 x30): a function stopped before it
    /// saved a frame record (a leaf, or in its prologue) returns to the link register, not to
    /// the record's return address, which is its caller's. Taken only when the link register
    /// differs from the record's, points after a call (BL/BLR) in the vmlinux, in another
    /// function than the pc's; without DWARF CFI nothing better says whether the record is ours.
    private func leafCaller(_ frame: PhysicalFrame, bp: UInt64, sp: UInt64) -> UnwindStep? {
        let link = context.arch.cfiReturnAddressRegister
        guard link != frame.regs.file.pc, let raw = frame.regs[link], let pc = frame.regs.pc,
              let symbols = context.kernel.target.symbols else { return nil }
        let lr = context.arch.codeAddress(raw, kernel: context.kernel)
        guard lr >= 4, context.code.isVmlinux(lr &- 4), context.code.isVmlinux(pc),
              let recorded = try? context.kernel.readU64(bp &+ context.arch.frameRecord.returnAddress),
              context.arch.codeAddress(recorded, kernel: context.kernel) != lr,
              let caller = symbols.symbolizeCode(lr &- 4)?.symbol, let callee = symbols.symbolizeCode(pc)?.symbol,
              caller.address != callee.address,
              let bytes = try? context.kernel.memory.readVirtual(lr &- 4, count: 4) else { return nil }
        let insn = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        guard insn & 0xfc00_0000 == 0x9400_0000 || insn & 0xffff_fc1f == 0xd63f_0000 else { return nil }
        var regs = frame.regs
        regs.keepOnly([])
        regs.pc = lr
        regs.sp = sp
        regs.bp = bp
        return .caller(regs, pcIsReturnAddress: true, switchedStack: false, method: .framePointer,
                       saved: SavedRegisters(cfa: sp, slots: [:]))
    }

    /// The registers an exception entry saved in the `struct pt_regs` at `address`: the
    /// interrupted pc (not a return address), its stack pointer and the rest.
    private func exception(_ address: UInt64) -> UnwindStep {
        do {
            let layout = try context.arch.ptRegsLayout(kernel: context.kernel)
            var regs = try layout.read(at: address, memory: context.kernel.memory)
            regs.pc = regs.pc.map { context.arch.codeAddress($0, kernel: context.kernel) }
            return .caller(regs, pcIsReturnAddress: false, switchedStack: true, method: .regs,
                           saved: SavedRegisters(cfa: address, slots: layout.slots(at: address)))
        } catch {
            return .failed("cannot read the exception's struct pt_regs at \(hex(address)): \(error)")
        }
    }
}
