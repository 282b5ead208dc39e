import MKFormat
import MKDebugInfo

/// The registers each real frame of a backtrace had, as exactly as DWARF
/// allows, for reading its variables.
///
/// The walk's own registers are enough to find callers, but ORC only
/// recovers the stack and frame pointers: it carries the other callee-saved
/// registers (rbx, r12–r15) up unchanged, although a callee may have saved
/// and reused them. So each caller's registers are recomputed here from its
/// callee's refined registers by the callee's `.debug_frame` rules (saved
/// registers read back from the stack); a frame found through a `pt_regs`,
/// or the first one, keeps the registers it was found with. Where the callee
/// has no CFI (module code, assembly) its callee-saved registers other than
/// the stack and frame pointers are taken as unchanged (drgn assumes the
/// same): a module function that saved and reused one would mislead here.
struct FrameRegisters {
    let kernel: Kernel
    private let unwinder: CallFrameUnwinder?
    private let kept: Set<Int>

    init(kernel: Kernel) {
        self.kernel = kernel
        if let arch = try? kernel.architecture() {
            unwinder = CallFrameUnwinder(UnwindContext(kernel: kernel, code: KernelCode(kernel: kernel), arch: arch))
            let file = arch.registerFile
            kept = arch.calleeSaved.subtracting([file.sp, file.fp, file.pc])
        } else {
            unwinder = nil
            kept = []
        }
    }

    /// Refined registers by the index of each real frame.
    func registers(_ frames: [BacktraceFrame]) -> [Int: RegisterSet] {
        var result: [Int: RegisterSet] = [:]
        var previous: Int?
        for i in frames.indices where FrameVariableReader.placement(frames, i).real == i {
            let f = frames[i]
            defer { previous = i }
            guard let p = previous, let below = result[p], f.method != "pt_regs", f.method != "start" else {
                result[i] = f.registers
                continue
            }
            let callee = PhysicalFrame(regs: below, pcIsReturnAddress: frames[p].pcIsReturnAddress, method: .orc, reliable: true)
            if let unwinder, case let .caller(regs, _, _, _) = unwinder.step(callee) {
                var r = regs
                // libdw reports a register the FDE never mentions as undefined; the
                // ABI says a callee-saved one keeps its value (compilers never mark
                // them undefined).
                for n in kept where r[n] == nil { r[n] = below[n] }
                r.pc = f.registers.pc
                r.sp = f.registers.sp
                if r.bp == nil { r.bp = f.registers.bp }
                r.mode = f.registers.mode
                result[i] = r
            } else {
                // No CFI for the callee: assume it kept the callee-saved registers, as drgn does.
                var r = f.registers
                for n in kept { r[n] = below[n] }
                result[i] = r
            }
        }
        return result
    }
}
