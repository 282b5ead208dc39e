import MKFormat
import MKMemory
import MKDebugInfo
import MKDisassembly

extension RegisterFile {
    /// arm64 by the AAPCS64 DWARF numbers: x0–x30 (0–30), sp (31), pc (32); pstate, which DWARF
    /// does not number, gets 33.
    public static let arm64 = RegisterFile(count: 34, pc: 32, sp: 31, fp: 29)
}

/// The arm64 table: AAPCS64 DWARF numbering, `user_pt_regs` in cores and
/// `struct pt_regs`, no ORC, frame records (x29, x30), pointer
/// authentication stripped by `KERNELPACMASK`, and `thread.cpu_context`
/// for a sleeping task.
public struct Arm64Architecture: Architecture {
    public static let x19 = 19, fp = 29, lr = 30, sp = 31, pc = 32, pstate = 33

    public init() {}

    public var name: String { "arm64" }
    public var elfMachine: UInt16 { ElfHeader.emAarch64 }
    public var registerFile: RegisterFile { .arm64 }
    public var prStatusLayout: PrStatusLayout { .arm64 }
    public var modeRegister: (prStatusName: String, ptRegsMember: String) { ("pstate", "pstate") }

    /// x19–x29 are callee-saved (x29 the frame pointer); x30 holds the return address.
    public var registers: [RegisterInfo] {
        (0...30).map { i in
            RegisterInfo(name: "x\(i)", dwarfNumber: i, prStatusName: "x\(i)", ptRegsMember: "regs[\(i)]",
                         calleeSaved: (19...29).contains(i))
        } + [RegisterInfo(name: "sp", dwarfNumber: Self.sp, prStatusName: "sp", ptRegsMember: "sp", calleeSaved: false),
             RegisterInfo(name: "pc", dwarfNumber: Self.pc, prStatusName: "pc", ptRegsMember: "pc", calleeSaved: false)]
    }

    public var specialRegisters: [RegisterInfo] {
        [RegisterInfo(name: "pstate", dwarfNumber: Self.pstate, prStatusName: "pstate", ptRegsMember: "pstate", calleeSaved: false)]
    }

    public var displayOrder: [String] { (0...30).map { "x\($0)" } + ["sp", "pc", "pstate"] }

    /// PSTATE's condition flags, masks and modes as `info registers` names them.
    public func flagBits(of register: String) -> [(bit: Int, name: String)] {
        guard register == "pstate" else { return [] }
        return [(6, "F"), (7, "I"), (8, "A"), (9, "D"), (20, "IL"), (21, "SS"), (22, "PAN"), (23, "UAO"),
                (28, "V"), (29, "C"), (30, "Z"), (31, "N")]
    }

    public var orcRegisterMap: [UInt8: Int]? { nil }

    /// `stp x29, x30, [sp, #-N]!; mov x29, sp`: the record holds the caller's x29 and the return
    /// address; the caller's sp is at least 16 above it. A record of zeros (the one kernel entry
    /// leaves in `pt_regs.stackframe`) ends the stack.
    public var frameRecord: FrameRecord {
        FrameRecord(savedFramePointer: 0, returnAddress: 8, callerStackPointer: 16, zeroRecordEndsStack: true, chainAlwaysKept: true)
    }

    public var cfiReturnAddressRegister: Int { Self.lr }
    public var registerAliases: [String: Int] { ["lr": Self.lr] }
    public var patchableEntryBytes: UInt64 { 8 }

    public var instructionSet: InstructionSet { .arm64 }

    public func isKernelAddress(_ address: UInt64) -> Bool { Arm64Layout.space.isKernelAddress(address) }

    /// PSTATE.M[3:2] is the exception level: 0 is EL0 (user); without pstate, a pc outside the kernel.
    public func isUserMode(_ regs: RegisterSet) -> Bool {
        if let pstate = regs.mode { return pstate & 0xc == 0 }
        if let pc = regs.pc { return !isKernelAddress(pc) }
        return false
    }

    public func makeAddressLayout(vmcoreInfo: VmcoreInfo, imagePath: String) throws -> any KernelAddressLayout {
        try Arm64Layout(vmcoreInfo: vmcoreInfo, imagePath: imagePath)
    }

    /// A signed return address (`paciasp`) has its pointer-authentication code in the bits
    /// `KERNELPACMASK` names; a kernel address gets them back as ones, a user one as zeros.
    public func codeAddress(_ address: UInt64, kernel: Kernel) -> UInt64 {
        Self.strippingPointerAuthentication(address, mask: kernel.target.image.vmcoreInfo?.bits("KERNELPACMASK") ?? 0)
    }

    /// Bit 55 tells a kernel (TTBR1) address from a user one, whatever the PAC bits hold.
    public static func strippingPointerAuthentication(_ address: UInt64, mask: UInt64) -> UInt64 {
        address & (1 << 55) != 0 ? address | mask : address & ~mask
    }

    /// The exception vectors' entry code (`.entry.text`) points x29 at `pt_regs.stackframe`
    /// (`kernel_entry`), so the `pt_regs` is that far below it.
    public func exceptionFrame(pc: UInt64, framePointer: UInt64, kernel: Kernel) -> UInt64? {
        guard let symbols = kernel.target.symbols,
              let start = symbols.lookup("__entry_text_start")?.address, let end = symbols.lookup("__entry_text_end")?.address,
              pc >= start, pc < end,
              let t = try? kernel.type("struct pt_regs"), let off = try? kernel.offset(of: "stackframe", in: t),
              framePointer >= off else { return nil }
        return framePointer - off
    }

    /// `call_on_irq_stack` pushes its frame record on the task's stack, then runs the handler on
    /// the CPU's IRQ stack.
    public func switchesStacks(at pc: UInt64, kernel: Kernel) -> Bool {
        kernel.target.symbols?.symbolize(pc)?.symbol.name == "call_on_irq_stack"
    }

    /// `cpu_switch_to` saved x19–x28, x29, sp and its return address (`pc`, into `__switch_to`)
    /// in `thread.cpu_context`.
    public func sleepingTaskRegisters(_ task: KObject, kernel: Kernel) throws -> (RegisterSet, pcIsReturnAddress: Bool) {
        let context = try task["thread"]["cpu_context"]
        let sp = try context["sp"].unsigned()
        guard isKernelAddress(sp), sp & 15 == 0 else {
            throw KernelError.implausible(what: "thread.cpu_context.sp", value: sp, address: task.address,
                                          message: "thread.cpu_context.sp \(hex(sp)) is not a kernel stack address")
        }
        var regs = RegisterSet(file: registerFile)
        for (i, member) in ["x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28"].enumerated() {
            regs[Self.x19 + i] = try? context[member].unsigned()
        }
        regs.bp = try context["fp"].unsigned()
        regs.sp = sp
        let pc = codeAddress(try context["pc"].unsigned(), kernel: kernel)
        regs.pc = pc
        regs[Self.lr] = pc
        regs.mode = 0x5 // EL1h
        return (regs, true)
    }
}
