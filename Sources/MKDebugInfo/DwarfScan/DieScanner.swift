/// The DWARF name index scan without libdw: walks each unit's top-level
/// DIEs over the mapped `.debug_info`, stepping over DIEs by their
/// abbreviation (fixed sizes at once, children by DW_AT_sibling) and
/// reading only names, declarations, locations and origins. It must find
/// exactly what `NameIndexBuilder.scan` finds through libdw (a test holds
/// it to that); anything it does not understand throws, and the index is
/// then built through libdw.
struct DieScanner {
    struct Sections {
        var info: UnsafeRawBufferPointer
        var abbrev: UnsafeRawBufferPointer
        var str: UnsafeRawBufferPointer
        var lineStr: UnsafeRawBufferPointer
        var strOffsets: UnsafeRawBufferPointer
    }

    /// What one DIE says about itself.
    struct Facts {
        var abbrev = AbbrevTable.Abbrev()
        var nameForm: UInt16 = 0
        var nameValue: UInt64 = 0
        var nameStart = 0, nameLength = 0
        var sibling = -1
        /// DW_AT_abstract_origin, else DW_AT_specification: absolute offset, -1 when none.
        var origin = -1
        var specification = -1
        var followable = true
        var strOffsetsBase = -1
    }

    let sections: Sections
    let units: [DwarfUnitHeader]
    private let info: UnsafePointer<UInt8>
    private let str: UnsafePointer<UInt8>
    private var tables: [Int: AbbrevTable] = [:]
    private var unitStrOffsetsBase: [Int: Int] = [:]
    private(set) var names: ScannedNames

    static let maxDepth = 4096
    /// Links of DW_AT_abstract_origin/specification libdw follows at most (its chain of 16, plus the DIE).
    static let maxChain = 17

    init(sections: Sections, units: [DwarfUnitHeader]) {
        self.sections = sections
        self.units = units
        info = DwarfCursor(sections.info, section: "").base
        str = DwarfCursor(sections.str, section: "").base
        names = ScannedNames(strCount: sections.str.count)
    }

    static func kind(ofTag tag: UInt32) -> Int? {
        switch tag {
        case 0x13: return Int(IndexKind.structure.rawValue)
        case 0x17: return Int(IndexKind.union.rawValue)
        case 0x04: return Int(IndexKind.enumeration.rawValue)
        case 0x16: return Int(IndexKind.typedef.rawValue)
        case 0x24: return Int(IndexKind.base.rawValue)
        case 0x34: return Int(IndexKind.variable.rawValue)
        case 0x2e: return Int(IndexKind.function.rawValue)
        default: return nil
        }
    }
    static let tagEnumerator: UInt32 = 0x28

    mutating func table(for unit: DwarfUnitHeader) throws -> AbbrevTable {
        if let t = tables[unit.abbrevOffset] { return t }
        let t = try AbbrevTable(sections.abbrev, offset: unit.abbrevOffset, offsetSize: unit.offsetSize,
                                addressSize: unit.addressSize, version: unit.version)
        tables[unit.abbrevOffset] = t
        return t
    }

    // MARK: the walk

    /// Scans units `range` of `units` into `names`.
    mutating func scan(_ range: Range<Int>) throws {
        for u in range {
            let unit = units[u]
            let table = try self.table(for: unit)
            var c = DwarfCursor(sections.info, section: ".debug_info", at: unit.dieStart)
            guard c.at < unit.end else { continue }
            let root = try readDie(&c, unit, table, values: true)
            guard root.abbrev.tag == 0x11 || root.abbrev.tag == 0x3c else {
                throw c.fail("unit's root DIE has tag 0x\(String(root.abbrev.tag, radix: 16))", at: unit.dieStart)
            }
            if root.strOffsetsBase >= 0 { unitStrOffsetsBase[unit.start] = root.strOffsetsBase }
            guard root.abbrev.hasChildren else { continue }
            while c.at < unit.end {
                let dieOffset = c.at
                let code = try c.uleb()
                if code == 0 { break }
                guard let abbrev = table.abbrev(code) else { throw c.fail("unknown abbreviation code \(code)", at: dieOffset) }
                guard let kind = Self.kind(ofTag: abbrev.tag) else {
                    if !abbrev.hasChildren && abbrev.fixedSize >= 0 {
                        try c.skip(abbrev.fixedSize)
                    } else {
                        let f = try readAttributes(&c, abbrev, table.specs, unit, values: false)
                        if abbrev.hasChildren { try skipChildren(&c, f, unit, table, dieOffset: dieOffset) }
                    }
                    continue
                }
                let f = try readAttributes(&c, abbrev, table.specs, unit, values: true)
                try index(f, kind: kind, at: dieOffset, &c, unit, table)
            }
        }
    }

    /// The index's rules for one top-level DIE (the same as `NameIndexBuilder.scan`).
    private mutating func index(_ f: Facts, kind: Int, at dieOffset: Int, _ c: inout DwarfCursor,
                                _ unit: DwarfUnitHeader, _ table: AbbrevTable) throws {
        let enumeration = Int(IndexKind.enumeration.rawValue)
        if f.abbrev.hasChildren {
            if kind == enumeration, try !has(f, \.hasDeclaration, unit) {
                try indexEnumerators(&c, f, unit, table, enumOffset: dieOffset)
            } else {
                try skipChildren(&c, f, unit, table, dieOffset: dieOffset)
            }
        }
        guard let id = try nameId(f, unit) else { return }
        if names.slot(id, kind) != 0 { return }
        switch kind {
        case Int(IndexKind.structure.rawValue), Int(IndexKind.union.rawValue), enumeration, Int(IndexKind.function.rawValue):
            if try has(f, \.hasDeclaration, unit) { return }
        case Int(IndexKind.variable.rawValue):
            if try has(f, \.hasDeclaration, unit), try !has(f, \.hasLocation, unit) {
                if names.slot(id, 0) == 0 { names.setSlot(id, 0, UInt64(dieOffset)) }
                return
            }
        default:
            break
        }
        names.setSlot(id, kind, UInt64(dieOffset))
    }

    private mutating func indexEnumerators(_ c: inout DwarfCursor, _ parent: Facts, _ unit: DwarfUnitHeader,
                                           _ table: AbbrevTable, enumOffset: Int) throws {
        let enumerator = Int(IndexKind.enumerator.rawValue)
        while c.at < unit.end {
            let childOffset = c.at
            let code = try c.uleb()
            if code == 0 { break }
            guard let abbrev = table.abbrev(code) else { throw c.fail("unknown abbreviation code \(code)", at: childOffset) }
            let f = try readAttributes(&c, abbrev, table.specs, unit, values: true)
            if abbrev.hasChildren { try skipChildren(&c, f, unit, table, dieOffset: childOffset) }
            if abbrev.tag == Self.tagEnumerator, let id = try nameId(f, unit), names.slot(id, enumerator) == 0 {
                names.setSlot(id, enumerator, UInt64(enumOffset))
            }
        }
        // libdw steps to the enum's sibling by DW_AT_sibling; it must agree with the walk.
        if parent.sibling >= 0 && parent.sibling != c.at {
            throw c.fail("DW_AT_sibling 0x\(String(parent.sibling, radix: 16)) disagrees with the children's end", at: enumOffset)
        }
    }

    /// Steps past a DIE's children: to its DW_AT_sibling, else through them.
    private func skipChildren(_ c: inout DwarfCursor, _ f: Facts, _ unit: DwarfUnitHeader, _ table: AbbrevTable,
                              dieOffset: Int) throws {
        if f.sibling >= 0 {
            guard f.sibling > dieOffset, f.sibling <= unit.end else {
                throw c.fail("DW_AT_sibling 0x\(String(f.sibling, radix: 16)) outside its unit", at: dieOffset)
            }
            c.at = f.sibling
            return
        }
        var depth = 1
        while depth > 0 {
            guard c.at < unit.end else { throw c.fail("children run past the unit's end", at: dieOffset) }
            let childOffset = c.at
            let code = try c.uleb()
            if code == 0 {
                depth -= 1
                continue
            }
            guard let abbrev = table.abbrev(code) else { throw c.fail("unknown abbreviation code \(code)", at: childOffset) }
            if !abbrev.hasChildren && abbrev.fixedSize >= 0 {
                try c.skip(abbrev.fixedSize)
                continue
            }
            let child = try readAttributes(&c, abbrev, table.specs, unit, values: false)
            guard abbrev.hasChildren else { continue }
            if child.sibling >= 0 {
                guard child.sibling > childOffset, child.sibling <= unit.end else {
                    throw c.fail("DW_AT_sibling 0x\(String(child.sibling, radix: 16)) outside its unit", at: childOffset)
                }
                c.at = child.sibling
            } else {
                depth += 1
                guard depth <= Self.maxDepth else { throw c.fail("DIEs nested over \(Self.maxDepth) deep", at: childOffset) }
            }
        }
    }

    // MARK: one DIE

    private func readDie(_ c: inout DwarfCursor, _ unit: DwarfUnitHeader, _ table: AbbrevTable, values: Bool) throws -> Facts {
        let at = c.at
        let code = try c.uleb()
        guard let abbrev = table.abbrev(code) else { throw c.fail("unknown abbreviation code \(code)", at: at) }
        return try readAttributes(&c, abbrev, table.specs, unit, values: values)
    }

    /// Reads a DIE's attribute values after its code; `values` false keeps only DW_AT_sibling.
    @inline(__always)
    private func readAttributes(_ c: inout DwarfCursor, _ abbrev: AbbrevTable.Abbrev, _ specs: [AbbrevTable.Spec],
                                _ unit: DwarfUnitHeader, values: Bool) throws -> Facts {
        var f = Facts()
        f.abbrev = abbrev
        for i in abbrev.specs {
            let spec = specs[i]
            var form = spec.form
            if spec.size >= 0 {
                let a = spec.attribute
                if a != AbbrevTable.atSibling && (!values || (a != AbbrevTable.atName && a != AbbrevTable.atAbstractOrigin
                                                              && a != AbbrevTable.atSpecification && a != AbbrevTable.atStrOffsetsBase)) {
                    try c.skip(Int(spec.size))
                    continue
                }
            }
            if form == DwarfForm.indirect {
                let f2 = try c.uleb()
                guard f2 <= UInt64(UInt16.max), DwarfForm.isKnown(UInt16(f2)), UInt16(f2) != DwarfForm.indirect else {
                    throw c.fail("indirect form 0x\(String(f2, radix: 16))")
                }
                form = UInt16(f2)
            }
            switch spec.attribute {
            case AbbrevTable.atSibling:
                f.sibling = try reference(&c, form, unit)
            case AbbrevTable.atName where values:
                f.nameForm = form
                if form == DwarfForm.string {
                    (f.nameStart, f.nameLength) = try c.cString()
                } else {
                    f.nameValue = try value(&c, form, unit)
                }
            case AbbrevTable.atAbstractOrigin where values, AbbrevTable.atSpecification where values:
                let r: Int
                switch form {
                case DwarfForm.ref1, DwarfForm.ref2, DwarfForm.ref4, DwarfForm.ref8, DwarfForm.refUdata, DwarfForm.refAddr:
                    r = try reference(&c, form, unit)
                default:
                    try skipValue(&c, form, unit)
                    f.followable = false
                    r = -1
                }
                if spec.attribute == AbbrevTable.atAbstractOrigin { f.origin = r } else { f.specification = r }
            case AbbrevTable.atStrOffsetsBase where values:
                let v = try value(&c, form, unit)
                guard v < UInt64(Int.max) else { throw c.fail("DW_AT_str_offsets_base out of range") }
                f.strOffsetsBase = Int(v)
            default:
                try skipValue(&c, form, unit)
            }
        }
        return f
    }

    /// An absolute `.debug_info` offset from a reference form.
    @inline(__always)
    private func reference(_ c: inout DwarfCursor, _ form: UInt16, _ unit: DwarfUnitHeader) throws -> Int {
        let at = c.at
        let v = try value(&c, form, unit)
        switch form {
        case DwarfForm.ref1, DwarfForm.ref2, DwarfForm.ref4, DwarfForm.ref8, DwarfForm.refUdata:
            guard v < UInt64(unit.end - unit.start) else { throw c.fail("reference 0x\(String(v, radix: 16)) outside its unit", at: at) }
            return unit.start + Int(v)
        case DwarfForm.refAddr:
            guard v < UInt64(sections.info.count) else { throw c.fail("reference 0x\(String(v, radix: 16)) past the section", at: at) }
            return Int(v)
        default:
            throw c.fail("reference in form 0x\(String(form, radix: 16))", at: at)
        }
    }

    /// The value of a fixed-size or LEB128 form.
    @inline(__always)
    private func value(_ c: inout DwarfCursor, _ form: UInt16, _ unit: DwarfUnitHeader) throws -> UInt64 {
        if let n = DwarfForm.fixedSize(form, offsetSize: unit.offsetSize, addressSize: unit.addressSize, version: unit.version) {
            return try c.fixed(n)
        }
        switch form {
        case DwarfForm.udata, DwarfForm.refUdata, DwarfForm.strx, DwarfForm.addrx, DwarfForm.loclistx,
             DwarfForm.rnglistx, DwarfForm.gnuAddrIndex, DwarfForm.gnuStrIndex:
            return try c.uleb()
        case DwarfForm.sdata:
            return UInt64(bitPattern: try c.sleb())
        default:
            try skipValue(&c, form, unit)
            return 0
        }
    }

    @inline(__always)
    private func skipValue(_ c: inout DwarfCursor, _ form: UInt16, _ unit: DwarfUnitHeader) throws {
        if let n = DwarfForm.fixedSize(form, offsetSize: unit.offsetSize, addressSize: unit.addressSize, version: unit.version) {
            try c.skip(n)
            return
        }
        switch form {
        case DwarfForm.udata, DwarfForm.refUdata, DwarfForm.strx, DwarfForm.addrx, DwarfForm.loclistx,
             DwarfForm.rnglistx, DwarfForm.gnuAddrIndex, DwarfForm.gnuStrIndex:
            _ = try c.uleb()
        case DwarfForm.sdata: _ = try c.sleb()
        case DwarfForm.string: _ = try c.cString()
        case DwarfForm.block1: try c.skip(Int(try c.fixed(1)))
        case DwarfForm.block2: try c.skip(Int(try c.fixed(2)))
        case DwarfForm.block4: try c.skip(Int(try c.fixed(4)))
        case DwarfForm.block, DwarfForm.exprloc:
            let n = try c.uleb()
            guard n <= UInt64(c.remaining) else { throw c.fail("block of \(n) bytes runs past the end") }
            try c.skip(Int(n))
        case DwarfForm.indirect:
            let f2 = try c.uleb()
            guard f2 <= UInt64(UInt16.max), UInt16(f2) != DwarfForm.indirect, DwarfForm.isKnown(UInt16(f2)) else {
                throw c.fail("indirect form 0x\(String(f2, radix: 16))")
            }
            try skipValue(&c, UInt16(f2), unit)
        default:
            throw c.fail("unknown form 0x\(String(form, radix: 16))")
        }
    }

    // MARK: integration (libdw's dwarf_attr_integrate / dwarf_hasattr_integrate)

    /// The DIE at an absolute offset, with its unit.
    private mutating func facts(at offset: Int) throws -> (Facts, DwarfUnitHeader) {
        var lo = 0, hi = units.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if units[mid].end <= offset { lo = mid + 1 } else { hi = mid }
        }
        guard lo < units.count, units[lo].dieStart <= offset else {
            throw DwarfScanError(offset: offset, section: ".debug_info", problem: "reference to no unit's DIE")
        }
        let unit = units[lo]
        let table = try self.table(for: unit)
        var c = DwarfCursor(sections.info, section: ".debug_info", at: offset)
        return (try readDie(&c, unit, table, values: true), unit)
    }

    /// Whether the DIE, or one it integrates, has the attribute.
    private mutating func has(_ f: Facts, _ flag: KeyPath<AbbrevTable.Abbrev, Bool>, _ unit: DwarfUnitHeader) throws -> Bool {
        var current = f
        for _ in 0..<Self.maxChain {
            if current.abbrev[keyPath: flag] { return true }
            guard let next = try follow(current) else { return false }
            current = next.0
        }
        return false
    }

    private mutating func follow(_ f: Facts) throws -> (Facts, DwarfUnitHeader)? {
        let target = f.origin >= 0 ? f.origin : f.specification
        if target < 0 {
            // An origin in a form the scanner cannot follow: libdw might; let it decide.
            if !f.followable { throw DwarfScanError(offset: 0, section: ".debug_info", problem: "origin in an unfollowable form") }
            return nil
        }
        return try facts(at: target)
    }

    /// The id of the DIE's DW_AT_name, integrated; nil when it has none or it is not a string.
    private mutating func nameId(_ f: Facts, _ unit: DwarfUnitHeader) throws -> Int? {
        var current = f, currentUnit = unit
        for _ in 0..<Self.maxChain {
            if current.abbrev.hasName { return try nameId(ofNamed: current, currentUnit) }
            guard let next = try follow(current) else { return nil }
            (current, currentUnit) = next
        }
        return nil
    }

    private mutating func nameId(ofNamed f: Facts, _ unit: DwarfUnitHeader) throws -> Int? {
        switch f.nameForm {
        case DwarfForm.string:
            return try names.intern(ScannedNames.Key(start: info + f.nameStart, length: f.nameLength))
        case DwarfForm.strp:
            guard f.nameValue < UInt64(Int.max) else { return nil }
            return try names.intern(strOffset: Int(f.nameValue), base: str)
        case DwarfForm.lineStrp:
            let line = DwarfCursor(sections.lineStr, section: ".debug_line_str")
            guard f.nameValue < UInt64(line.count), let n = DwarfCursor.stringLength(line.base, line.count, Int(f.nameValue)) else {
                throw DwarfScanError(offset: Int(clamping: f.nameValue), section: ".debug_line_str", problem: "bad string offset")
            }
            return try names.intern(ScannedNames.Key(start: line.base + Int(f.nameValue), length: n))
        case DwarfForm.strx, DwarfForm.strx1, DwarfForm.strx2, DwarfForm.strx3, DwarfForm.strx4, DwarfForm.gnuStrIndex:
            guard let base = unitStrOffsetsBase[unit.start] else {
                throw DwarfScanError(offset: unit.start, section: ".debug_info", problem: "strx without DW_AT_str_offsets_base")
            }
            var o = DwarfCursor(sections.strOffsets, section: ".debug_str_offsets")
            let (at, overflow) = f.nameValue.multipliedReportingOverflow(by: UInt64(unit.offsetSize))
            guard !overflow, at < UInt64(o.count), base <= o.count - Int(at) else {
                throw o.fail("string index \(f.nameValue) past the end", at: base)
            }
            o.at = base + Int(at)
            let off = try o.fixed(unit.offsetSize)
            guard off < UInt64(Int.max) else { return nil }
            return try names.intern(strOffset: Int(off), base: str)
        default:
            return nil
        }
    }
}
