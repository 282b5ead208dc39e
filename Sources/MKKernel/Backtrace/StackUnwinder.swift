import MKFormat
import MKMemory
import MKDebugInfo

/// The ways to find a caller's frame, most trusted first.
public enum UnwindMethod: String, CaseIterable, Sendable {
    /// The kernel's ORC tables (vmlinux sections, modules' from memory).
    case orc
    /// The vmlinux's `.debug_frame`, through libdw.
    case dwarfCFI = "dwarf-cfi"
    /// Following saved frame pointers: a guess, marked unreliable.
    case framePointer = "frame-pointer"
}

/// One frame the unwinder found: the registers in that frame, whether its
/// pc is a return address (so the call is at pc-1), and how it was found.
struct PhysicalFrame {
    enum Method: String {
        /// The registers the walk started from.
        case start
        case orc
        case cfi = "dwarf-cfi"
        /// A saved `struct pt_regs` (interrupt, exception or syscall entry).
        case regs = "pt_regs"
        case framePointer = "frame-pointer"
    }

    var regs: RegisterSet
    var pcIsReturnAddress: Bool
    var method: Method
    /// Found by rules the code itself describes (start registers, ORC,
    /// CFI, pt_regs), not guessed — and so were all frames inside it.
    var reliable: Bool
}

/// Walks a kernel stack from a register state: the kernel's ORC tables
/// (vmlinux from its sections, modules from memory), then the vmlinux's
/// DWARF CFI where ORC has no entry, then frame pointers (a guess). Every
/// walk is bounded: at most `maxFrames` frames, the stack pointer must
/// grow except where a `pt_regs` or a saved stack pointer switches stacks
/// (at most `maxStackSwitches` times), and every read must succeed.
final class StackUnwinder {
    static let maxFrames = 128
    static let maxStackSwitches = 8
    static let kernelHalf: UInt64 = 0xffff_8000_0000_0000

    let kernel: Kernel
    let code: KernelCode
    /// The methods tried, in this order: ORC, DWARF CFI, frame pointers.
    var methods: [UnwindMethod] = UnwindMethod.allCases
    private var ptRegs: PtRegsLayout?
    private var ptRegsProblem: String?

    init(kernel: Kernel, code: KernelCode) {
        self.kernel = kernel
        self.code = code
        do {
            ptRegs = try PtRegsLayout(kernel: kernel)
        } catch {
            ptRegsProblem = "\(error)"
        }
    }

    struct Walk {
        var frames: [PhysicalFrame] = []
        var notes: [String] = []
        /// The registers the kernel was entered with from user mode, when the walk got there.
        var userRegisters: RegisterSet?
        /// The walk reached the outermost frame (ORC's end of stack, or user mode).
        var complete = false
    }

    enum Step {
        case caller(RegisterSet, pcIsReturnAddress: Bool, switchedStack: Bool, method: PhysicalFrame.Method)
        /// The outermost frame (ORC says so).
        case end
        /// This method has nothing to say here; try the next.
        case noInfo(String)
        case failed(String)
    }

    func walk(from start: RegisterSet, pcIsReturnAddress: Bool) -> Walk {
        var walk = Walk()
        var frame = PhysicalFrame(regs: start, pcIsReturnAddress: pcIsReturnAddress, method: .start, reliable: true)
        var switches = 0
        while true {
            guard let pc = frame.regs.pc, let sp = frame.regs.sp else {
                walk.notes.append("stopped: the frame has no pc or stack pointer")
                return walk
            }
            if !frame.regs.isUserMode && pc < Self.kernelHalf {
                walk.notes.append("stopped: pc \(hex(pc)) is not a kernel address")
                return walk
            }
            if frame.regs.isUserMode {
                if walk.frames.isEmpty {
                    walk.notes.append("the CPU was in user mode: ip \(hex(pc)), sp \(hex(sp)); the task has no kernel frames")
                } else {
                    walk.notes.append("entered the kernel from user mode: ip \(hex(pc)), sp \(hex(sp))")
                }
                walk.userRegisters = frame.regs
                walk.complete = !walk.frames.isEmpty
                return walk
            }
            walk.frames.append(frame)
            if walk.frames.count >= Self.maxFrames {
                walk.notes.append("stopped after \(Self.maxFrames) frames")
                return walk
            }
            // Try each method in turn; remember why the earlier ones gave up.
            var reasons: [String] = []
            var next: (RegisterSet, Bool, Bool, PhysicalFrame.Method)?
            for method in methods {
                let step: Step
                switch method {
                case .orc: step = orcStep(frame)
                case .dwarfCFI: step = cfiStep(frame)
                case .framePointer: step = framePointerStep(frame)
                }
                switch step {
                case .end:
                    walk.complete = true
                    return walk
                case let .caller(regs, isReturn, switched, how):
                    next = (regs, isReturn, switched, how)
                case let .noInfo(why), let .failed(why):
                    reasons.append(why)
                    // A failed ORC rule with data behind it is still worth a CFI or frame-pointer try.
                    continue
                }
                break
            }
            guard let (regs, isReturn, switched, how) = next else {
                walk.notes.append("stopped at \(hex(pc)): " + reasons.joined(separator: "; "))
                return walk
            }
            guard let newSP = regs.sp, let newPC = regs.pc else {
                walk.notes.append("stopped at \(hex(pc)): the caller's pc or stack pointer is unknown")
                return walk
            }
            if switched {
                switches += 1
                if switches > Self.maxStackSwitches {
                    walk.notes.append("stopped at \(hex(pc)): more than \(Self.maxStackSwitches) stack switches")
                    return walk
                }
            } else if newSP <= sp {
                walk.notes.append("stopped at \(hex(pc)): the caller's stack pointer \(hex(newSP)) is not above \(hex(sp))")
                return walk
            }
            if newPC == 0 {
                walk.notes.append("stopped at \(hex(pc)): the caller's pc is 0")
                return walk
            }
            let reliable = frame.reliable && how != .framePointer
            frame = PhysicalFrame(regs: regs, pcIsReturnAddress: isReturn, method: how, reliable: reliable)
        }
    }

    // MARK: ORC

    private func orcStep(_ frame: PhysicalFrame) -> Step {
        guard let pc = frame.regs.pc else { return .noInfo("no pc") }
        let lookup = frame.pcIsReturnAddress ? pc &- 1 : pc
        let table: OrcTable
        let key: UInt64
        if code.isVmlinux(lookup) {
            switch code.vmlinuxOrc {
            case let .success(t): table = t
            case let .failure(e): return .noInfo("\(e)")
            }
            key = lookup &- code.kaslr
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
        var regs = frame.regs
        let off = UInt64(bitPattern: Int64(e.spOffset))
        var switched = false
        let cfa: UInt64
        do {
            switch OrcEntry.Register(rawValue: e.spReg) {
            case .sp?:
                guard let sp = regs.sp else { return .failed("ORC needs sp") }
                cfa = sp &+ off
            case .bp?:
                guard let bp = regs.bp else { return .failed("ORC needs the frame pointer, which is unknown here") }
                cfa = bp &+ off
            case .spIndirect?:
                // The stack pointer of the stack switched from is saved at the top of this one.
                guard let sp = regs.sp else { return .failed("ORC needs sp") }
                cfa = try kernel.readU64(sp) &+ off
                switched = true
            case .bpIndirect?:
                guard let bp = regs.bp else { return .failed("ORC needs the frame pointer, which is unknown here") }
                cfa = try kernel.readU64(bp &+ off)
                switched = true
            case .r10?, .r13?, .di?, .dx?:
                let regno = [OrcEntry.Register.r10: RegisterSet.r10, .r13: RegisterSet.r13, .di: RegisterSet.rdi, .dx: RegisterSet.rdx][OrcEntry.Register(rawValue: e.spReg)!]!
                guard let v = regs[regno] else { return .failed("ORC needs a register (ORC number \(e.spReg)) that is unknown here") }
                cfa = v &+ off
            default:
                return .failed("ORC entry for \(hex(pc)) uses an unknown base register \(e.spReg)")
            }
            switch e.kind {
            case .call:
                let ra = try kernel.readU64(cfa &- 8)
                let oldBP = regs.bp
                regs.dropCallerSaved()
                regs.sp = cfa
                regs.pc = ra
                regs.bp = try restoredBP(e, cfa: cfa, bp: oldBP)
                return .caller(regs, pcIsReturnAddress: true, switchedStack: switched, method: .orc)
            case .regs:
                guard let layout = ptRegs else { return .failed("cannot read struct pt_regs: \(ptRegsProblem ?? "?")") }
                let saved = try layout.read(at: cfa, memory: kernel.memory)
                return .caller(saved, pcIsReturnAddress: false, switchedStack: true, method: .regs)
            case .regsPartial:
                guard let layout = ptRegs else { return .failed("cannot read struct pt_regs: \(ptRegsProblem ?? "?")") }
                let iret = try layout.readIretFrame(at: cfa, memory: kernel.memory)
                let oldBP = regs.bp
                regs.pc = iret.ip
                regs.sp = iret.sp
                regs.cs = iret.cs
                regs.bp = try restoredBP(e, cfa: cfa, bp: oldBP)
                return .caller(regs, pcIsReturnAddress: false, switchedStack: true, method: .regs)
            default:
                return .noInfo("ORC has no rule for \(hex(pc))")
            }
        } catch {
            return .failed("cannot read the stack for the ORC rule at \(hex(pc)): \(error)")
        }
    }

    /// The caller's frame pointer by the entry's bp rule.
    private func restoredBP(_ e: OrcEntry, cfa: UInt64, bp: UInt64?) throws -> UInt64? {
        let off = UInt64(bitPattern: Int64(e.bpOffset))
        switch OrcEntry.Register(rawValue: e.bpReg) {
        case .undefined?: return bp
        case .prevSP?: return try kernel.readU64(cfa &+ off)
        case .bp?:
            guard let bp else { return nil }
            return try kernel.readU64(bp &+ off)
        default: return nil
        }
    }

    // MARK: DWARF CFI

    private func cfiStep(_ frame: PhysicalFrame) -> Step {
        guard let pc = frame.regs.pc else { return .noInfo("no pc") }
        let lookup = frame.pcIsReturnAddress ? pc &- 1 : pc
        guard code.isVmlinux(lookup) else { return .noInfo("no DWARF CFI outside the vmlinux") }
        guard let row = kernel.debugInfo.callFrameRow(linkAddress: lookup &- code.kaslr) else {
            return .noInfo("no DWARF CFI for \(hex(pc))")
        }
        var eval = DwarfExpression(registers: frame.regs, memory: kernel.memory)
        do {
            let (cfa, _) = try eval.evaluate(row.cfa, initial: nil)
            var regs = frame.regs
            var caller = RegisterSet()
            caller.cs = regs.cs
            for regno in 0...RegisterSet.rip where regno != RegisterSet.rsp {
                switch row.registers[regno] {
                case .sameValue?:
                    caller[regno] = regs[regno]
                case .undefined?:
                    caller[regno] = nil
                case let .expression(ops)?:
                    let (v, isValue) = try eval.evaluate(ops, initial: cfa)
                    caller[regno] = isValue ? v : try kernel.readU64(v)
                case nil:
                    // No rule: callee-saved registers keep their value.
                    let calleeSaved = [RegisterSet.rbx, RegisterSet.rbp, RegisterSet.r12, RegisterSet.r13, RegisterSet.r14, RegisterSet.r15]
                    caller[regno] = calleeSaved.contains(regno) ? regs[regno] : nil
                }
            }
            guard caller.pc != nil else { return .failed("DWARF CFI does not say where the return address is at \(hex(pc))") }
            caller.sp = cfa
            regs = caller
            return .caller(regs, pcIsReturnAddress: true, switchedStack: false, method: .cfi)
        } catch {
            return .failed("DWARF CFI at \(hex(pc)): \(error)")
        }
    }

    // MARK: frame pointers (a guess)

    private func framePointerStep(_ frame: PhysicalFrame) -> Step {
        guard let bp = frame.regs.bp, let sp = frame.regs.sp else { return .failed("no frame pointer to follow") }
        guard bp >= sp, bp - sp < 1 << 16, bp & 7 == 0 else {
            return .failed("the frame pointer \(hex(bp)) does not point into this stack")
        }
        do {
            let savedBP = try kernel.readU64(bp)
            let ra = try kernel.readU64(bp &+ 8)
            guard code.isVmlinux(ra &- 1) || code.module(containing: ra &- 1) != nil else {
                return .failed("the frame pointer chain leads to \(hex(ra)), which is not kernel code")
            }
            var regs = frame.regs
            regs.dropCallerSaved()
            regs.pc = ra
            regs.sp = bp &+ 16
            regs.bp = savedBP
            return .caller(regs, pcIsReturnAddress: true, switchedStack: false, method: .framePointer)
        } catch {
            return .failed("cannot follow the frame pointer: \(error)")
        }
    }
}

/// Where `struct pt_regs` keeps each register, from DWARF.
struct PtRegsLayout {
    var size: UInt64
    /// DWARF register number → member offset.
    var offsets: [Int: UInt64] = [:]
    var cs: UInt64
    var ip: UInt64
    var sp: UInt64

    init(kernel: Kernel) throws {
        let t = try kernel.type("struct pt_regs")
        size = t.byteSize ?? 0
        for (regno, name) in RegisterSet.ptRegsNames.enumerated() {
            offsets[regno] = try kernel.offset(of: name, in: t)
        }
        cs = try kernel.offset(of: "cs", in: t)
        ip = try kernel.offset(of: "ip", in: t)
        sp = try kernel.offset(of: "sp", in: t)
        guard size > 0, size <= 4096 else { throw KernelError.unsupported("struct pt_regs has an odd size \(size)") }
    }

    func read(at address: UInt64, memory: KernelMemory) throws -> RegisterSet {
        let bytes = try memory.readVirtual(address, count: Int(size))
        var regs = RegisterSet()
        for (regno, off) in offsets { regs[regno] = bytes.loadLE64(at: Int(off)) }
        regs.cs = bytes.loadLE64(at: Int(cs))
        return regs
    }

    /// The hardware frame (ip, cs, flags, sp, ss) that starts at `address`.
    func readIretFrame(at address: UInt64, memory: KernelMemory) throws -> (ip: UInt64, cs: UInt64, sp: UInt64) {
        let base = address &- ip
        let ipv = try memory.readVirtualU64(base &+ ip)
        let csv = try memory.readVirtualU64(base &+ cs)
        let spv = try memory.readVirtualU64(base &+ sp)
        return (ipv, csv, spv)
    }
}

/// A small DWARF expression evaluator: what CFI rules use (register
/// bases, constants, CFA, arithmetic, dereference, stack_value).
struct DwarfExpression {
    let registers: RegisterSet
    let memory: KernelMemory

    struct Unsupported: Error, CustomStringConvertible {
        let atom: UInt8
        var description: String { "unsupported DWARF operation \(hex(atom))" }
    }
    struct Unknown: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }

    /// Evaluates `ops` with `initial` pushed first (when given); returns the
    /// top of the stack and whether it is a value (`DW_OP_stack_value`)
    /// rather than an address.
    mutating func evaluate(_ ops: [DwarfOp], initial: UInt64?) throws -> (UInt64, Bool) {
        var stack: [UInt64] = initial.map { [$0] } ?? []
        var isValue = false
        func pop() throws -> UInt64 {
            guard let v = stack.popLast() else { throw Unknown(what: "DWARF expression stack underflow") }
            return v
        }
        func reg(_ n: Int) throws -> UInt64 {
            guard let v = registers[n] else { throw Unknown(what: "DWARF register \(n) is unknown here") }
            return v
        }
        for op in ops.prefix(64) {
            let a = op.atom
            switch a {
            case 0x70...0x8f: // DW_OP_breg0..31
                stack.append(try reg(Int(a - 0x70)) &+ op.number)
            case 0x92: // DW_OP_bregx
                stack.append(try reg(Int(op.number)) &+ op.number2)
            case 0x50...0x6f: // DW_OP_reg0..31: the value is in the register
                stack.append(try reg(Int(a - 0x50)))
                isValue = true
            case 0x90: // DW_OP_regx
                stack.append(try reg(Int(op.number)))
                isValue = true
            case 0x9c: // DW_OP_call_frame_cfa
                guard let initial else { throw Unknown(what: "DW_OP_call_frame_cfa outside a register rule") }
                stack.append(initial)
            case 0x30...0x4f: // DW_OP_lit0..31
                stack.append(UInt64(a - 0x30))
            case 0x08...0x11: // DW_OP_const1u .. DW_OP_consts
                stack.append(op.number)
            case 0x23: // DW_OP_plus_uconst
                stack.append(try pop() &+ op.number)
            case 0x22: // DW_OP_plus
                let b = try pop(), x = try pop()
                stack.append(x &+ b)
            case 0x1c: // DW_OP_minus
                let b = try pop(), x = try pop()
                stack.append(x &- b)
            case 0x06: // DW_OP_deref
                stack.append(try memory.readVirtualU64(try pop()))
            case 0x9f: // DW_OP_stack_value
                isValue = true
            default:
                throw Unsupported(atom: a)
            }
        }
        return (try pop(), isValue)
    }
}
