import MKFormat

/// Which DWARF register numbers an architecture's register file has, and
/// which of them are the pc, the stack pointer and the frame pointer.
public struct RegisterFile: Equatable, Sendable {
    /// DWARF numbers run from 0 to `count - 1`.
    public var count: Int
    public var pc: Int
    public var sp: Int
    public var fp: Int

    public init(count: Int, pc: Int, sp: Int, fp: Int) {
        self.count = count
        self.pc = pc
        self.sp = sp
        self.fp = fp
    }
}

/// Registers by DWARF number, as far as they are known (nil: not known
/// here, `<not saved>` to gdb); the numbering is the architecture's
/// (`Architecture.registers`).
public struct RegisterSet: Equatable, Sendable {
    public let file: RegisterFile
    var values: [UInt64?]
    /// The privilege state that says user or kernel mode, when known:
    /// x86-64's code segment selector (its low two bits are the CPL).
    public var mode: UInt64?

    /// An x86-64 register set with nothing known.
    public init() { self.init(file: .x86_64) }

    public init(file: RegisterFile) {
        self.file = file
        values = [UInt64?](repeating: nil, count: file.count)
    }

    public subscript(_ regno: Int) -> UInt64? {
        get { regno >= 0 && regno < values.count ? values[regno] : nil }
        set { if regno >= 0 && regno < values.count { values[regno] = newValue } }
    }

    public var pc: UInt64? {
        get { self[file.pc] }
        set { self[file.pc] = newValue }
    }
    public var sp: UInt64? {
        get { self[file.sp] }
        set { self[file.sp] = newValue }
    }
    /// The frame pointer (x86-64 rbp).
    public var bp: UInt64? {
        get { self[file.fp] }
        set { self[file.fp] = newValue }
    }
    /// x86-64's name for `mode`.
    public var cs: UInt64? {
        get { mode }
        set { mode = newValue }
    }

    /// Forgets every register but `kept` and the pc, stack and frame
    /// pointers: what is left after unwinding through a call, when `kept`
    /// are the ABI's callee-saved registers.
    mutating func keepOnly(_ kept: Set<Int>) {
        for r in values.indices where !kept.contains(r) && r != file.pc && r != file.sp && r != file.fp {
            values[r] = nil
        }
    }
}
