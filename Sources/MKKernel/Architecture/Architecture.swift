import MKFormat
import MKMemory
import MKDebugInfo
import MKDisassembly

/// One register of an architecture: its gdb name, DWARF number, and where
/// `NT_PRSTATUS` and `struct pt_regs` keep it.
public struct RegisterInfo: Equatable, Sendable {
    public var name: String
    public var dwarfNumber: Int
    /// Its name in the core's `pr_reg` (`PrStatusLayout.registerNames`).
    public var prStatusName: String?
    /// The `struct pt_regs` member holding it.
    public var ptRegsMember: String?
    /// Kept across calls by the ABI (so an unwound caller still has it).
    public var calleeSaved: Bool

    public init(name: String, dwarfNumber: Int, prStatusName: String?, ptRegsMember: String?, calleeSaved: Bool) {
        self.name = name
        self.dwarfNumber = dwarfNumber
        self.prStatusName = prStatusName
        self.ptRegsMember = ptRegsMember
        self.calleeSaved = calleeSaved
    }
}

/// A frame record the frame-pointer chain links (x86-64 `push rbp; mov
/// rsp, rbp`; arm64 `stp x29, x30`): offsets from the frame pointer.
public struct FrameRecord: Equatable, Sendable {
    public var savedFramePointer: UInt64
    public var returnAddress: UInt64
    /// The caller's stack pointer is the frame pointer plus this.
    public var callerStackPointer: UInt64
    /// A record of a zero frame pointer and return address is the stack's last (arm64).
    public var zeroRecordEndsStack = false
    /// The kernel always keeps the chain (arm64 builds with frame pointers and unwinds by them
    /// itself), so a frame found by it is as reliable as one found by CFI.
    public var chainAlwaysKept = false
}

/// Everything mkdbg knows about one architecture, in one table (as drgn's
/// `arch_info`): its registers, how cores and `struct pt_regs` keep them,
/// ORC's register numbers, the kernel's address layout and page tables,
/// and where a sleeping task's registers are. The unwinder and the
/// backtracer ask this table; `Architectures.forMachine` picks it by the
/// image's ELF machine.
public protocol Architecture: Sendable {
    /// `x86-64`.
    var name: String { get }
    var elfMachine: UInt16 { get }
    /// The general registers, by DWARF number, in gdb's order.
    var registers: [RegisterInfo] { get }
    var registerFile: RegisterFile { get }
    /// Registers the unwinder does not follow but cores and `pt_regs` keep
    /// (x86-64 eflags, segment registers, fs/gs bases), by DWARF number.
    var specialRegisters: [RegisterInfo] { get }
    /// Every register name in the order `info registers` lists them.
    var displayOrder: [String] { get }
    /// The named bits of a flags register (x86-64 eflags), lowest first; empty for other registers.
    func flagBits(of register: String) -> [(bit: Int, name: String)]
    var prStatusLayout: PrStatusLayout { get }
    /// The register that holds the privilege state (`RegisterSet.mode`):
    /// its `pr_reg` name and `pt_regs` member.
    var modeRegister: (prStatusName: String, ptRegsMember: String) { get }
    /// ORC register number → DWARF number for the plain (not indirect)
    /// base registers; nil when the kernel has no ORC for this architecture.
    var orcRegisterMap: [UInt8: Int]? { get }
    var frameRecord: FrameRecord { get }
    /// What its code is decoded as (`dis`, `disassemble`, `x/i`).
    var instructionSet: InstructionSet { get }
    /// The `struct pt_regs` an exception entry saved, when the frame at `pc` (a lookup address)
    /// with frame pointer `framePointer` is that entry's (arm64: code in `.entry.text`, whose
    /// frame record is the `pt_regs`'s `stackframe`); nil elsewhere.
    func exceptionFrame(pc: UInt64, framePointer: UInt64, kernel: Kernel) -> UInt64?
    /// Whether the function holding `pc` (a lookup address) moved to another stack after saving
    /// its frame record on the old one (arm64 `call_on_irq_stack`): that record is followed
    /// wherever it is.
    func switchesStacks(at pc: UInt64, kernel: Kernel) -> Bool
    /// Bytes of patchable entry (ftrace's `-fpatchable-function-entry`) a function starts with
    /// before its CFI does (arm64: `mov x9, x30; nop`, 8): a pc there has done nothing yet.
    var patchableEntryBytes: UInt64 { get }
    /// Other names of its registers (arm64 `lr` for x30), by DWARF number.
    var registerAliases: [String: Int] { get }
    /// The DWARF register a CFI row's return address is in (x86-64: the pc's own, arm64: x30).
    var cfiReturnAddressRegister: Int { get }
    /// A code address as read from a stack or register, without what the hardware adds
    /// (arm64 pointer authentication); the address itself elsewhere.
    func codeAddress(_ address: UInt64, kernel: Kernel) -> UInt64

    /// Whether `address` is in the kernel's half of the address space.
    func isKernelAddress(_ address: UInt64) -> Bool
    /// Whether the registers were saved in user mode.
    func isUserMode(_ regs: RegisterSet) -> Bool
    /// The kernel's address layout from VMCOREINFO.
    func makeAddressLayout(vmcoreInfo: VmcoreInfo, imagePath: String) throws -> any KernelAddressLayout
    /// A sleeping task's registers, from what its last context switch
    /// saved; and whether the pc is a return address.
    func sleepingTaskRegisters(_ task: KObject, kernel: Kernel) throws -> (RegisterSet, pcIsReturnAddress: Bool)
}

extension Architecture {
    public var cfiReturnAddressRegister: Int { registerFile.pc }
    public var registerAliases: [String: Int] { [:] }
    public func exceptionFrame(pc: UInt64, framePointer: UInt64, kernel: Kernel) -> UInt64? { nil }
    public func switchesStacks(at pc: UInt64, kernel: Kernel) -> Bool { false }
    public var patchableEntryBytes: UInt64 { 0 }
    public func codeAddress(_ address: UInt64, kernel: Kernel) -> UInt64 { address }

    public func register(named name: String) -> RegisterInfo? { registers.first { $0.name == name } }

    /// A general or special register by its gdb name.
    public func anyRegister(named name: String) -> RegisterInfo? {
        register(named: name) ?? specialRegisters.first { $0.name == name }
    }

    /// DWARF numbers of the callee-saved registers.
    public var calleeSaved: Set<Int> { Set(registers.filter(\.calleeSaved).map(\.dwarfNumber)) }

    /// The registers of an `NT_PRSTATUS` note read with `prStatusLayout`.
    public func registers(from prStatus: PrStatus) -> RegisterSet {
        var regs = RegisterSet(file: registerFile)
        for r in registers {
            if let n = r.prStatusName { regs[r.dwarfNumber] = prStatus.registers[n] }
        }
        for r in specialRegisters {
            if let n = r.prStatusName { regs[r.dwarfNumber] = prStatus.registers[n] }
        }
        regs.mode = prStatus.registers[modeRegister.prStatusName]
        return regs
    }

    /// Where this kernel's `struct pt_regs` keeps each register (from DWARF).
    public func ptRegsLayout(kernel: Kernel) throws -> PtRegsLayout {
        try PtRegsLayout(kernel: kernel, architecture: self)
    }
}

/// The architectures mkdbg has a table for.
public enum Architectures {
    public static let all: [any Architecture] = [X86_64Architecture(), Arm64Architecture()]

    /// The table for an ELF machine; nil means the image did not say (x86-64).
    public static func forMachine(_ machine: UInt16?) throws -> any Architecture {
        guard let machine else { return X86_64Architecture() }
        guard let arch = all.first(where: { $0.elfMachine == machine }) else {
            let known = all.map { "\($0.name) (\($0.elfMachine))" }.joined(separator: ", ")
            let name = ElfMachine.name(machine)
            throw KernelError.unsupportedArchitecture(machine: machine, name: name,
                message: "\(name ?? "ELF machine \(machine)") is not supported yet: no architecture table for \(ElfMachine.describe(machine)); known: \(known)")
        }
        return arch
    }
}

extension Kernel {
    /// The architecture table of the dumped kernel, by the image's ELF machine.
    public func architecture() throws -> any Architecture {
        try Architectures.forMachine(target.image.elfMachine)
    }
}
