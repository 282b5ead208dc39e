import CElf

/// Turns DWARF type DIEs into `CType`s on first use and remembers them by
/// DIE offset. Pointer targets are resolved lazily, so asking for
/// `struct task_struct *` does not parse the kernel's whole type graph.
final class TypeCache {
    unowned let debugInfo: DebugInfo
    private var byOffset: [UInt64: CType] = [:]
    private var depth = 0
    static let maxDepth = 200

    init(debugInfo: DebugInfo) {
        self.debugInfo = debugInfo
    }

    func type(at offset: UInt64) -> CType {
        if let t = byOffset[offset] { return t }
        guard let die = debugInfo.dwarf.die(at: offset) else {
            return CType(kind: .void, name: "<bad type at DIE \(offset)>", size: nil)
        }
        return type(of: die)
    }

    /// The type a DIE's DW_AT_type names; `void` when it has none.
    func typeAttribute(of die: DIE) -> CType {
        guard let t = die.type else { return .void }
        return type(of: t)
    }

    func type(of die: DIE) -> CType {
        let offset = die.offset
        if let t = byOffset[offset] { return t }
        depth += 1
        defer { depth -= 1 }
        guard depth < Self.maxDepth else {
            return CType(kind: .void, name: "<type nesting too deep>", size: nil)
        }
        let t = parse(die, offset)
        byOffset[offset] = t
        return t
    }

    private func lazyTarget(_ die: DIE) -> (() -> CType)? {
        guard let targetOffset = die.type?.offset else { return nil }
        return { [unowned self] in self.type(at: targetOffset) }
    }

    private func parse(_ die: DIE, _ offset: UInt64) -> CType {
        switch die.tag {
        case DW_TAG_base_type:
            let enc = die.unsigned(DW_AT_encoding) ?? 0
            let kind: CType.Kind
            switch Int(enc) {
            case DW_ATE_boolean: kind = .bool
            case DW_ATE_float: kind = .float
            default: kind = .integer
            }
            let t = CType(kind: kind, name: die.name, size: die.byteSize, dieOffset: offset)
            t.isSigned = Int(enc) == DW_ATE_signed || Int(enc) == DW_ATE_signed_char
            return t
        case DW_TAG_pointer_type, DW_TAG_reference_type:
            let t = CType(kind: .pointer, name: nil, size: die.byteSize ?? 8, dieOffset: offset, targetLoader: lazyTarget(die) ?? { .void })
            return t
        case DW_TAG_typedef:
            // Register first: a typedef can be reached again through its own target's pointers.
            let t = CType(kind: .typedef, name: die.name, size: nil, dieOffset: offset, targetLoader: lazyTarget(die) ?? { .void })
            return t
        case DW_TAG_const_type, DW_TAG_volatile_type, DW_TAG_restrict_type, DW_TAG_atomic_type:
            let inner = die.type.map { type(of: $0) } ?? .void
            return inner.qualified(const: die.tag == DW_TAG_const_type, volatile: die.tag == DW_TAG_volatile_type)
        case DW_TAG_structure_type, DW_TAG_union_type, DW_TAG_class_type:
            var d = die
            // A declaration: look the complete definition up by name.
            if die.has(DW_AT_declaration), let name = die.name,
               let def = debugInfo.index.lookup(name, die.tag == DW_TAG_union_type ? .union : .structure),
               def != offset, let defDie = debugInfo.dwarf.die(at: def) {
                return type(of: defDie)
            }
            let t = CType(kind: die.tag == DW_TAG_union_type ? .union : .structure, name: die.name,
                          size: die.has(DW_AT_declaration) ? nil : die.byteSize, dieOffset: offset)
            byOffset[offset] = t
            d = die
            var members: [CType.Member] = []
            d.forEachChild { m in
                guard m.tag == DW_TAG_member else { return }
                let mt = typeAttribute(of: m)
                var byteOffset = m.memberOffset ?? 0
                var bitOffset: UInt64?
                var bitSize: UInt64?
                if let bits = m.bitSize {
                    bitSize = bits
                    if let dataBit = m.unsigned(DW_AT_data_bit_offset) {
                        byteOffset = dataBit / 8
                        bitOffset = dataBit % 8
                    } else if let legacy = m.unsigned(DW_AT_bit_offset), let storage = m.byteSize ?? mt.byteSize {
                        // DWARF 2/3 big-endian-style bit offset within the storage unit.
                        let fromLow = storage * 8 &- legacy &- bits
                        byteOffset &+= fromLow / 8
                        bitOffset = fromLow % 8
                    } else {
                        bitOffset = 0
                    }
                }
                members.append(CType.Member(name: m.name, type: mt, offset: byteOffset, bitOffset: bitOffset, bitSize: bitSize))
            }
            t.members = members
            return t
        case DW_TAG_enumeration_type:
            if die.has(DW_AT_declaration), let name = die.name,
               let def = debugInfo.index.lookup(name, .enumeration), def != offset, let defDie = debugInfo.dwarf.die(at: def) {
                return type(of: defDie)
            }
            let underlying = die.type.map { type(of: $0) }
            let t = CType(kind: .enumeration, name: die.name, size: die.byteSize, dieOffset: offset, target: underlying)
            var signed = underlying?.resolved.isSigned ?? false
            var values: [(String, Int64)] = []
            die.forEachChild { e in
                guard e.tag == DW_TAG_enumerator, let n = e.name else { return }
                let v = e.signed(DW_AT_const_value) ?? Int64(bitPattern: e.unsigned(DW_AT_const_value) ?? 0)
                if v < 0 { signed = true }
                values.append((n, v))
            }
            t.enumerators = values
            t.isSigned = signed
            return t
        case DW_TAG_array_type:
            let element = typeAttribute(of: die)
            var dims: [UInt64?] = []
            die.forEachChild { s in
                guard s.tag == DW_TAG_subrange_type else { return }
                if let c = s.unsigned(DW_AT_count) {
                    dims.append(c)
                } else if let ub = s.unsigned(DW_AT_upper_bound) {
                    // Constant forms are unsigned (data1 255 is 255, not -1);
                    // a bound of -1 (sdata, or all ones) means no elements.
                    dims.append(ub >= 1 << 62 ? 0 : ub + 1)
                } else {
                    dims.append(nil)
                }
            }
            if dims.isEmpty { dims = [nil] }
            // int a[2][3] is an array of 2 arrays of 3.
            var t = element
            for c in dims.reversed() { t = CType.array(of: t, count: c) }
            return t
        case DW_TAG_subroutine_type, DW_TAG_subprogram:
            let t = CType(kind: .function, name: nil, size: nil, dieOffset: offset, target: typeAttribute(of: die))
            var params: [CType] = []
            var variadic = false
            die.forEachChild { p in
                if p.tag == DW_TAG_formal_parameter { params.append(typeAttribute(of: p)) }
                if p.tag == DW_TAG_unspecified_parameters { variadic = true }
            }
            t.parameters = params
            t.isVariadic = variadic
            return t
        case DW_TAG_unspecified_type:
            return CType(kind: .void, name: die.name ?? "void", size: nil, dieOffset: offset)
        default:
            return CType(kind: .void, name: "<unsupported DWARF tag \(die.tag)>", size: nil, dieOffset: offset)
        }
    }
}
