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
