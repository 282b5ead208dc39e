/// One DWARF expression operation, as libdw decodes it.
public struct DwarfOp: Equatable, Sendable {
    public var atom: UInt8
    public var number: UInt64
    public var number2: UInt64
    /// Byte offset of the operation in its expression (branch targets).
    public var offset: UInt64 = 0
    /// `DW_OP_implicit_value`'s bytes.
    public var block: [UInt8] = []
    /// `DW_OP_entry_value`'s expression.
    public var nested: [DwarfOp] = []

    public init(atom: UInt8, number: UInt64 = 0, number2: UInt64 = 0) {
        self.atom = atom
        self.number = number
        self.number2 = number2
    }
}

/// How the caller's value of a register is found, by DWARF CFI.
public enum DwarfCFIRule: Equatable, Sendable {
    /// The caller's value is lost (call-clobbered).
    case undefined
    /// This frame did not change it.
    case sameValue
    /// A DWARF expression, evaluated with the CFA pushed first: the
    /// address of the saved value, or (ending in `DW_OP_stack_value`) the
    /// value itself.
    case expression([DwarfOp])
}

/// The CFI row for one code address: how to compute the CFA (a DWARF
/// expression, usually `DW_OP_bregN off`) and the register rules asked for.
public struct DwarfCFIRow: Equatable, Sendable {
    public var cfa: [DwarfOp]
    /// By DWARF register number, in the architecture's numbering
    /// (`Architecture.registers`).
    public var registers: [Int: DwarfCFIRule] = [:]

    public init(cfa: [DwarfOp]) { self.cfa = cfa }
}

extension DebugInfo {
    /// The vmlinux's `.debug_frame` row for a link-time code address, with
    /// the rules of the DWARF registers asked for. Nil when no FDE covers it.
    public func callFrameRow(linkAddress: UInt64, registers: [Int]) -> DwarfCFIRow? {
        let key = CallFrameKey(address: linkAddress, registers: registers)
        if let known = callFrameRowMemo[key] { return known }
        let row = dwarf.callFrameRow(at: linkAddress, registers: registers)
        if callFrameRowMemo.count >= Self.memoLimit { callFrameRowMemo.removeAll(keepingCapacity: true) }
        callFrameRowMemo[key] = row
        return row
    }
}
