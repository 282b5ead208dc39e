import CElf

/// What a name in the DWARF index stands for.
public enum IndexKind: UInt8, Sendable, CaseIterable {
    case structure = 1, union, enumeration, typedef, base, variable, function, enumerator

    public var label: String {
        switch self {
        case .structure: return "struct"
        case .union: return "union"
        case .enumeration: return "enum"
        case .typedef: return "typedef"
        case .base: return "base type"
        case .variable: return "variable"
        case .function: return "function"
        case .enumerator: return "enumerator"
        }
    }
}

/// The dictionary an index scan fills; `IndexFile` turns it into the
/// compact, sorted `NameIndex` that lookups use.
struct NameIndexBuilder {
    typealias Entry = NameIndex.Entry

    var table: [String: [Entry]] = [:]
    /// Variables seen only as declarations (e.g. `jiffies`, defined by the
    /// linker script); they enter the table when no definition turns up.
    var declaredOnly: [String: UInt64] = [:]

    func lookup(_ name: String, _ kind: IndexKind) -> UInt64? {
        table[name]?.first { $0.kind == kind }?.offset
    }

    mutating func insert(_ name: String, _ kind: IndexKind, _ offset: UInt64) {
        if var list = table[name] {
            if list.contains(where: { $0.kind == kind }) { return }
            list.append(Entry(kind: kind, offset: offset))
            table[name] = list
        } else {
            table[name] = [Entry(kind: kind, offset: offset)]
        }
    }

    mutating func merge(_ other: NameIndexBuilder) {
        for (name, list) in other.table {
            for e in list { insert(name, e.kind, e.offset) }
        }
        for (name, offset) in other.declaredOnly where declaredOnly[name] == nil {
            declaredOnly[name] = offset
        }
    }

    /// Adds declared-only variables that never got a definition.
    mutating func finish() {
        for (name, offset) in declaredOnly where lookup(name, .variable) == nil {
            insert(name, .variable, offset)
        }
        declaredOnly = [:]
    }

    /// Scans compile units `units` of `dwarf`.
    static func scan(_ dwarf: DwarfFile, units: ArraySlice<UInt64>) -> NameIndexBuilder {
        var index = NameIndexBuilder()
        index.table.reserveCapacity(units.count * 16)
        for cuOffset in units {
            guard let cu = dwarf.die(at: cuOffset) else { continue }
            cu.forEachChild { die in
                let tag = die.tag
                let kind: IndexKind
                switch tag {
                case DW_TAG_structure_type: kind = .structure
                case DW_TAG_union_type: kind = .union
                case DW_TAG_enumeration_type: kind = .enumeration
                case DW_TAG_typedef: kind = .typedef
                case DW_TAG_base_type: kind = .base
                case DW_TAG_variable: kind = .variable
                case DW_TAG_subprogram: kind = .function
                default: return
                }
                if kind == .enumeration && !die.has(DW_AT_declaration) {
                    let enumOffset = die.offset
                    die.forEachChild { e in
                        guard e.tag == DW_TAG_enumerator, let n = e.name else { return }
                        index.insert(n, .enumerator, enumOffset)
                    }
                }
                guard let name = die.name else { return }
                if index.table[name]?.contains(where: { $0.kind == kind }) == true { return }
                switch kind {
                case .structure, .union, .enumeration:
                    if die.has(DW_AT_declaration) { return }
                case .variable:
                    // Prefer the definition, which has a location; declarations
                    // elsewhere still carry the type, so take one if nothing better comes.
                    if die.has(DW_AT_declaration) && !die.has(DW_AT_location) {
                        if index.declaredOnly[name] == nil { index.declaredOnly[name] = die.offset }
                        return
                    }
                case .function:
                    if die.has(DW_AT_declaration) { return }
                default:
                    break
                }
                index.insert(name, kind, die.offset)
            }
        }
        return index
    }
}
