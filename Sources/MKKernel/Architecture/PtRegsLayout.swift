import MKFormat
import MKMemory
import MKDebugInfo

/// Where `struct pt_regs` keeps each register, from the kernel's DWARF and
/// the architecture's member names (`RegisterInfo.ptRegsMember`).
public struct PtRegsLayout: Sendable {
    public var size: UInt64
    /// DWARF register number → member offset.
    public var offsets: [Int: UInt64] = [:]
    /// Special registers `pt_regs` keeps too (x86-64 flags, cs, ss).
    public var specialOffsets: [Int: UInt64] = [:]
    /// Offset of the privilege state (x86-64 `cs`).
    public var mode: UInt64
    let file: RegisterFile

    init(kernel: Kernel, architecture arch: some Architecture) throws {
        let t = try kernel.type("struct pt_regs")
        size = t.byteSize ?? 0
        file = arch.registerFile
        for r in arch.registers {
            guard let member = r.ptRegsMember else { continue }
            offsets[r.dwarfNumber] = try Self.offset(of: member, in: t, kernel: kernel)
        }
        for r in arch.specialRegisters {
            guard let member = r.ptRegsMember, let off = try? kernel.offset(of: member, in: t), off < size, size - off >= 8 else { continue }
            specialOffsets[r.dwarfNumber] = off
        }
        mode = try kernel.offset(of: arch.modeRegister.ptRegsMember, in: t)
        guard size > 0, size <= 4096 else { throw KernelError.unsupportedLayout(what: "struct pt_regs", message: "struct pt_regs has an odd size \(size)") }
        for (regno, off) in offsets where off >= size || size - off < 8 {
            throw KernelError.unsupportedLayout(what: "struct pt_regs", message: "struct pt_regs keeps DWARF register \(regno) at \(off), past its \(size) bytes")
        }
        guard mode < size, size - mode >= 8 else { throw KernelError.unsupportedLayout(what: "struct pt_regs", message: "struct pt_regs's mode register at \(mode) is past its \(size) bytes") }
    }

    /// A member's offset; `regs[3]` is element 3 of the array `regs` (arm64's x0–x30).
    static func offset(of member: String, in t: CType, kernel: Kernel) throws -> UInt64 {
        guard member.hasSuffix("]"), let open = member.firstIndex(of: "["),
              let index = UInt64(member[member.index(after: open)..<member.index(before: member.endIndex)]) else {
            return try kernel.offset(of: member, in: t)
        }
        let array = try kernel.offset(of: String(member[..<open]), in: t)
        return array &+ index &* 8
    }

    /// The whole saved register set at `address`.
    public func read(at address: UInt64, memory: KernelMemory) throws -> RegisterSet {
        let bytes = try memory.readVirtual(address, count: Int(size))
        var regs = RegisterSet(file: file)
        for (regno, off) in offsets { regs[regno] = bytes.loadLE64(at: Int(off)) }
        for (regno, off) in specialOffsets { regs[regno] = bytes.loadLE64(at: Int(off)) }
        regs.mode = bytes.loadLE64(at: Int(mode))
        return regs
    }

    /// Only the hardware's part (x86-64's iret frame: ip, cs, flags, sp,
    /// ss), whose pc member is at `address`.
    public func readHardwareFrame(at address: UInt64, memory: KernelMemory) throws -> (pc: UInt64, mode: UInt64, sp: UInt64) {
        guard let ip = offsets[file.pc], let sp = offsets[file.sp] else {
            throw KernelError.unsupportedLayout(what: "struct pt_regs", message: "struct pt_regs has no pc or stack pointer member")
        }
        let base = address &- ip
        let pcv = try memory.readVirtualU64(base &+ ip)
        let modev = try memory.readVirtualU64(base &+ mode)
        let spv = try memory.readVirtualU64(base &+ sp)
        return (pcv, modev, spv)
    }
}

extension PtRegsLayout {
    /// Where each register of a `pt_regs` at `address` is kept (for `info frame`).
    public func slots(at address: UInt64) -> [Int: UInt64] {
        var slots: [Int: UInt64] = [:]
        for (regno, off) in offsets { slots[regno] = address &+ off }
        for (regno, off) in specialOffsets { slots[regno] = address &+ off }
        return slots
    }
}
