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
    /// Set once the walk stepped out of this frame: its CFA and where the
    /// caller's registers were found.
    var saved = SavedRegisters()
}

/// What one unwinding method says about the caller of a frame.
enum UnwindStep {
    case caller(RegisterSet, pcIsReturnAddress: Bool, switchedStack: Bool, method: PhysicalFrame.Method, saved: SavedRegisters)
    /// The outermost frame (ORC says so).
    case end
    /// This method has nothing to say here; try the next.
    case noInfo(String)
    case failed(String)
}

/// One way of finding a caller's registers from a frame's.
protocol UnwindStrategy {
    var method: UnwindMethod { get }
    func step(_ frame: PhysicalFrame) -> UnwindStep
}

/// What every strategy reads: the kernel's memory, where its code is, and
/// the architecture's table.
struct UnwindContext {
    let kernel: Kernel
    let code: KernelCode
    let arch: any Architecture

    /// The code address a frame's pc stands for (the call, for a return address).
    func lookupAddress(_ frame: PhysicalFrame) -> UInt64? {
        guard let pc = frame.regs.pc else { return nil }
        return frame.pcIsReturnAddress ? pc &- 1 : pc
    }
}

/// Walks a kernel stack from a register state, asking its strategies in
/// turn (ORC, then the vmlinux's DWARF CFI where ORC has no entry, then
/// frame pointers, a guess). Every walk is bounded: at most `maxFrames`
/// frames, the stack pointer must grow except where a `pt_regs` or a
/// saved stack pointer switches stacks (at most `maxStackSwitches` times),
/// and every read must succeed.
final class StackUnwinder {
    static let maxFrames = 128
    /// Physical frames a walk stops after (a caller wanting frame 0 alone sets 1).
    var frameLimit = maxFrames
    static let maxStackSwitches = 8

    let context: UnwindContext
    /// The methods tried, in this order: ORC, DWARF CFI, frame pointers.
    var methods: [UnwindMethod] = UnwindMethod.allCases
    private let strategies: [UnwindMethod: any UnwindStrategy]

    init(kernel: Kernel, code: KernelCode, architecture: any Architecture) {
        context = UnwindContext(kernel: kernel, code: code, arch: architecture)
        let all: [any UnwindStrategy] = [OrcUnwinder(context), CallFrameUnwinder(context), FramePointerUnwinder(context)]
        strategies = Dictionary(uniqueKeysWithValues: all.map { ($0.method, $0) })
    }

    struct Walk {
        var frames: [PhysicalFrame] = []
        var notes: [String] = []
        /// The registers the kernel was entered with from user mode, when the walk got there.
        var userRegisters: RegisterSet?
        /// The walk reached the outermost frame (ORC's end of stack, or user mode).
        var complete = false
    }

    func walk(from start: RegisterSet, pcIsReturnAddress: Bool) -> Walk {
        let arch = context.arch
        var walk = Walk()
        var frame = PhysicalFrame(regs: start, pcIsReturnAddress: pcIsReturnAddress, method: .start, reliable: true)
        var switches = 0
        var sameStackPointer = false
        while true {
            guard let pc = frame.regs.pc, let sp = frame.regs.sp else {
                walk.notes.append("stopped: the frame has no pc or stack pointer")
                return walk
            }
            let userMode = arch.isUserMode(frame.regs)
            if !userMode && !arch.isKernelAddress(pc) {
                walk.notes.append("stopped: pc \(hex(pc)) is not a kernel address")
                return walk
            }
            if userMode {
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
            if walk.frames.count >= frameLimit {
                if frameLimit < Self.maxFrames { return walk }
                walk.notes.append("stopped after \(Self.maxFrames) frames")
                return walk
            }
            // Try each method in turn; remember why the earlier ones gave up.
            var reasons: [String] = []
            var next: (RegisterSet, Bool, Bool, PhysicalFrame.Method, SavedRegisters)?
            for method in methods {
                guard let strategy = strategies[method] else { continue }
                switch strategy.step(frame) {
                case .end:
                    walk.complete = true
                    return walk
                case let .caller(regs, isReturn, switched, how, saved):
                    next = (regs, isReturn, switched, how, saved)
                case let .noInfo(why), let .failed(why):
                    reasons.append(why)
                    // A failed ORC rule with data behind it is still worth a CFI or frame-pointer try.
                    continue
                }
                break
            }
            guard let (regs, isReturn, switched, how, saved) = next else {
                walk.notes.append("stopped at \(hex(pc)): " + reasons.joined(separator: "; "))
                return walk
            }
            walk.frames[walk.frames.count - 1].saved = saved
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
            } else if newSP < sp || (newSP == sp && (sameStackPointer || newPC == pc
                                                      || (how == .framePointer && frame.pcIsReturnAddress))) {
                // (A frame-pointer step from live registers may keep the stack pointer: a leaf's caller, from x30.)
                walk.notes.append("stopped at \(hex(pc)): the caller's stack pointer \(hex(newSP)) is not above \(hex(sp))")
                return walk
            }
            // A function that made no frame (an arm64 leaf, its return address still in x30) leaves
            // its caller the same stack pointer; its caller's caller must be above it.
            sameStackPointer = !switched && newSP == sp
            if newPC == 0 {
                walk.notes.append("stopped at \(hex(pc)): the caller's pc is 0")
                return walk
            }
            let reliable = frame.reliable && (how != .framePointer || arch.frameRecord.chainAlwaysKept)
            frame = PhysicalFrame(regs: regs, pcIsReturnAddress: isReturn, method: how, reliable: reliable)
        }
    }
}
