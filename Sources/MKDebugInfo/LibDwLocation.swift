import CElf

// The raw libdw calls for location descriptions (DW_AT_location,
// DW_AT_frame_base, call-site values, DW_AT_const_value): a sibling of
// LibDw.swift, kept apart so each file stays one concept.

/// What a location attribute says at one code address.
public enum LocationDescription: Equatable, Sendable {
    /// A DWARF expression (decoded; implicit values and entry values carry
    /// their operands).
    case expression([DwarfOp])
    /// `DW_AT_const_value`: the bytes themselves.
    case constant([UInt8])
    /// No location at that address (the variable is optimized out there).
    case none
    /// libdw could not decode it.
    case unreadable(String)
}

extension DIE {
    /// Operations an expression may have before mkdbg gives up on it.
    static let maxLocationOps = 256
    /// Bytes a `DW_OP_implicit_value` or `DW_AT_const_value` block may hold.
    static let maxBlock = 4096

    /// The location attribute `attribute` of this DIE itself (never its
    /// abstract origin's) at the unrelocated code address `address`: one
    /// expression, or an entry of its location list (`.debug_loclists` or
    /// `.debug_loc`, both decoded by libdw).
    func location(_ attribute: Int, at address: UInt64) -> LocationDescription? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr(&d, UInt32(attribute), &a) != nil else { return nil }
        var exprs: UnsafeMutablePointer<Dwarf_Op>?
        var length = 0
        let n = dwarf_getlocation_addr(&a, address, &exprs, &length, 1)
        if n < 0 { return .unreadable(String(cString: dwarf_errmsg(-1))) }
        guard n > 0, let exprs else { return LocationDescription.none }
        if length == 0 { return LocationDescription.none }
        return Self.decode(&a, exprs, length, depth: 0)
    }

    /// An attribute holding one expression (`DW_AT_call_value`, an
    /// exprloc); nil when the DIE has no such attribute.
    func expression(_ attribute: Int) -> LocationDescription? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr(&d, UInt32(attribute), &a) != nil else { return nil }
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var n = 0
        guard dwarf_getlocation(&a, &ops, &n) == 0, let ops else {
            return .unreadable(String(cString: dwarf_errmsg(-1)))
        }
        return Self.decode(&a, ops, n, depth: 0)
    }

    /// Copies libdw's operations, reading the operands that live in the
    /// attribute (implicit values, entry-value expressions, indexed addresses).
    private static func decode(_ attr: inout Dwarf_Attribute, _ ops: UnsafeMutablePointer<Dwarf_Op>, _ count: Int,
                               depth: Int) -> LocationDescription {
        guard count <= maxLocationOps else { return .unreadable("expression of \(count) operations (at most \(maxLocationOps))") }
        var result: [DwarfOp] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let raw = ops.advanced(by: i)
            var op = DwarfOp(raw.pointee)
            switch Int(op.atom) {
            case DW_OP_implicit_value:
                var block = Dwarf_Block()
                guard dwarf_getlocation_implicit_value(&attr, raw, &block) == 0 else {
                    return .unreadable("DW_OP_implicit_value: \(String(cString: dwarf_errmsg(-1)))")
                }
                guard block.length <= UInt64(maxBlock) else { return .unreadable("DW_OP_implicit_value of \(block.length) bytes") }
                op.block = block.data.map { Array(UnsafeBufferPointer(start: $0, count: Int(block.length))) } ?? []
                op.number2 = 0 // libdw's pointer to the block: meaningless once copied
            case DW_OP_entry_value, DW_OP_GNU_entry_value:
                guard depth < 4 else { return .unreadable("DW_OP_entry_value nested too deep") }
                var inner = Dwarf_Attribute()
                var innerOps: UnsafeMutablePointer<Dwarf_Op>?
                var n = 0
                guard dwarf_getlocation_attr(&attr, raw, &inner) == 0,
                      dwarf_getlocation(&inner, &innerOps, &n) == 0, let innerOps else {
                    return .unreadable("DW_OP_entry_value: \(String(cString: dwarf_errmsg(-1)))")
                }
                guard case let .expression(nested) = decode(&inner, innerOps, n, depth: depth + 1) else {
                    return .unreadable("DW_OP_entry_value's expression")
                }
                op.nested = nested
                op.number2 = 0 // libdw's pointer to the expression
            case DW_OP_addrx, DW_OP_GNU_addr_index, DW_OP_constx, DW_OP_GNU_const_index:
                var inner = Dwarf_Attribute()
                var address: Dwarf_Addr = 0
                guard dwarf_getlocation_attr(&attr, raw, &inner) == 0, dwarf_formaddr(&inner, &address) == 0 else {
                    return .unreadable("indexed address: \(String(cString: dwarf_errmsg(-1)))")
                }
                let isAddress = Int(op.atom) == DW_OP_addrx || Int(op.atom) == DW_OP_GNU_addr_index
                op.atom = UInt8(isAddress ? DW_OP_addr : DW_OP_constu)
                op.number = address
            default:
                break
            }
            result.append(op)
        }
        return .expression(result)
    }

    /// `DW_AT_const_value` as little-endian bytes `size` long (a block as it is).
    func constantValue(size: UInt64?) -> [UInt8]? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr(&d, UInt32(DW_AT_const_value), &a) != nil else { return nil }
        let form = Int(dwarf_whatform(&a))
        switch form {
        case DW_FORM_block, DW_FORM_block1, DW_FORM_block2, DW_FORM_block4, DW_FORM_exprloc:
            var block = Dwarf_Block()
            guard dwarf_formblock(&a, &block) == 0, block.length <= UInt64(Self.maxBlock) else { return nil }
            return block.data.map { Array(UnsafeBufferPointer(start: $0, count: Int(block.length))) } ?? []
        case DW_FORM_string, DW_FORM_strp, DW_FORM_line_strp, DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2,
             DW_FORM_strx3, DW_FORM_strx4:
            guard let p = dwarf_formstring(&a) else { return nil }
            return Array(String(cString: p).utf8.prefix(Self.maxBlock)) + [0]
        default:
            var bits: UInt64 = 0
            if form == DW_FORM_sdata || form == DW_FORM_implicit_const {
                var v: Dwarf_Sword = 0
                guard dwarf_formsdata(&a, &v) == 0 else { return nil }
                bits = UInt64(bitPattern: v)
            } else {
                var v: Dwarf_Word = 0
                guard dwarf_formudata(&a, &v) == 0 else { return nil }
                bits = v
            }
            let n = Int(min(size ?? 8, 8))
            return (0..<n).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
        }
    }

    /// An address attribute (`DW_AT_call_return_pc`, `DW_AT_low_pc`).
    func address(_ attribute: Int) -> UInt64? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr(&d, UInt32(attribute), &a) != nil else { return nil }
        var v: Dwarf_Addr = 0
        return dwarf_formaddr(&a, &v) == 0 ? v : nil
    }

    /// Whether the DIE's ranges hold the unrelocated address.
    func contains(_ address: UInt64) -> Bool {
        var d = raw
        return dwarf_haspc(&d, address) == 1
    }
}
