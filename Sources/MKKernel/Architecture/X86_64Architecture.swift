import MKFormat
import MKMemory
import MKDebugInfo

extension RegisterFile {
    /// x86-64: DWARF 0–16 (rax rdx rcx rbx rsi rdi rbp rsp r8–r15 rip), and
    /// up to 59 for rflags (49), the segment registers (50–55) and the fs/gs bases (58, 59).
    public static let x86_64 = RegisterFile(count: 60, pc: 16, sp: 7, fp: 6)
}

/// The x86-64 table: System V ABI DWARF numbering, `user_regs_struct`,
/// `struct pt_regs`, ORC's register numbers, 4-/5-level paging and
/// `__switch_to_asm`'s `inactive_task_frame`.
public struct X86_64Architecture: Architecture {
    public static let rax = 0, rdx = 1, rcx = 2, rbx = 3, rsi = 4, rdi = 5, rbp = 6, rsp = 7
    public static let r8 = 8, r9 = 9, r10 = 10, r11 = 11, r12 = 12, r13 = 13, r14 = 14, r15 = 15, rip = 16
    static let kernelHalf: UInt64 = 0xffff_8000_0000_0000

    public init() {}

    public var name: String { "x86-64" }
    public var elfMachine: UInt16 { ElfHeader.emX86_64 }
    public var registerFile: RegisterFile { .x86_64 }
    public var prStatusLayout: PrStatusLayout { .x86_64 }
    public var modeRegister: (prStatusName: String, ptRegsMember: String) { ("cs", "cs") }

    public var registers: [RegisterInfo] {
        // (gdb name, pt_regs member, callee-saved), in DWARF order.
        let table: [(String, String, Bool)] = [
            ("rax", "ax", false), ("rdx", "dx", false), ("rcx", "cx", false), ("rbx", "bx", true),
            ("rsi", "si", false), ("rdi", "di", false), ("rbp", "bp", true), ("rsp", "sp", false),
            ("r8", "r8", false), ("r9", "r9", false), ("r10", "r10", false), ("r11", "r11", false),
            ("r12", "r12", true), ("r13", "r13", true), ("r14", "r14", true), ("r15", "r15", true),
            ("rip", "ip", false),
        ]
        return table.enumerated().map { i, r in
            RegisterInfo(name: r.0, dwarfNumber: i, prStatusName: r.0, ptRegsMember: r.1, calleeSaved: r.2)
        }
    }

    /// By the System V ABI's DWARF numbers; `pt_regs` has flags, cs and ss only.
    public var specialRegisters: [RegisterInfo] {
        let table: [(String, Int, String?)] = [
            ("eflags", 49, "flags"), ("es", 50, nil), ("cs", 51, "cs"), ("ss", 52, "ss"), ("ds", 53, nil),
            ("fs", 54, nil), ("gs", 55, nil), ("fs_base", 58, nil), ("gs_base", 59, nil),
        ]
        return table.map { RegisterInfo(name: $0.0, dwarfNumber: $0.1, prStatusName: $0.0, ptRegsMember: $0.2, calleeSaved: false) }
    }

    /// gdb's order for `info registers`.
    public var displayOrder: [String] {
        ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
         "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base"]
    }

    public func flagBits(of register: String) -> [(bit: Int, name: String)] {
        guard register == "eflags" else { return [] }
        return [(0, "CF"), (2, "PF"), (4, "AF"), (6, "ZF"), (7, "SF"), (8, "TF"), (9, "IF"), (10, "DF"), (11, "OF"),
                (14, "NT"), (16, "RF"), (17, "VM"), (18, "AC"), (19, "VIF"), (20, "VIP"), (21, "ID")]
    }

    /// ORC's dx, di, bp, sp, r10, r13 (the indirect and special ones are ORC's own).
    public var orcRegisterMap: [UInt8: Int]? {
        [2: Self.rdx, 3: Self.rdi, 4: Self.rbp, 5: Self.rsp, 6: Self.r10, 7: Self.r13]
    }

    public var frameRecord: FrameRecord { FrameRecord(savedFramePointer: 0, returnAddress: 8, callerStackPointer: 16) }

    public func isKernelAddress(_ address: UInt64) -> Bool { address >= Self.kernelHalf }

    /// CPL 3 in cs; without cs, a pc in the lower half.
    public func isUserMode(_ regs: RegisterSet) -> Bool {
        if let cs = regs.mode { return cs & 3 == 3 }
        if let pc = regs.pc { return !isKernelAddress(pc) }
        return false
    }

    public func makeAddressLayout(vmcoreInfo: VmcoreInfo, imagePath: String) throws -> any KernelAddressLayout {
        try X86_64Layout(vmcoreInfo: vmcoreInfo, imagePath: imagePath)
    }

    /// `thread.sp` points at the `struct inactive_task_frame` that
    /// `__switch_to_asm` pushed; its `ret_addr` returns into `__schedule`.
    public func sleepingTaskRegisters(_ task: KObject, kernel: Kernel) throws -> (RegisterSet, pcIsReturnAddress: Bool) {
        let sp = try task["thread"]["sp"].unsigned()
        guard isKernelAddress(sp), sp & 7 == 0 else {
            throw KernelError.unsupported("thread.sp \(hex(sp)) is not a kernel stack address")
        }
        let frameType = try kernel.type("struct inactive_task_frame")
        let f = kernel.object(frameType, at: sp)
        var regs = RegisterSet(file: registerFile)
        regs.pc = try f["ret_addr"].unsigned()
        regs.bp = try f["bp"].unsigned()
        for (member, regno) in [("bx", Self.rbx), ("r12", Self.r12), ("r13", Self.r13), ("r14", Self.r14), ("r15", Self.r15)] {
            regs[regno] = try? f[member].unsigned()
        }
        // The stack pointer after __switch_to_asm returns: past the frame and its return address.
        let retOffset = try kernel.offset(of: "ret_addr", in: frameType)
        regs.sp = sp &+ retOffset &+ 8
        regs.mode = 0x10 // __KERNEL_CS
        return (regs, true)
    }
}
