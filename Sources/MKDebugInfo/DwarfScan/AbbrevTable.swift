/// One unit's abbreviations from `.debug_abbrev`, indexed by code, with
/// what the index scan asks of a DIE worked out once per abbreviation.
struct AbbrevTable {
    struct Spec {
        var attribute: UInt32
        var form: UInt16
        /// Fixed byte size of the value, -1 when it is in the data.
        var size: Int16
    }

    struct Abbrev {
        var tag: UInt32 = 0
        var hasChildren = false
        var specs: Range<Int> = 0..<0
        /// Byte size of all values when every form is fixed, else -1.
        var fixedSize = -1
        var hasName = false, hasDeclaration = false, hasLocation = false
        /// DW_AT_abstract_origin or DW_AT_specification (integrated as libdw does).
        var hasOrigin = false
        var hasSibling = false
    }

    static let atSibling: UInt32 = 0x01, atLocation: UInt32 = 0x02, atName: UInt32 = 0x03
    static let atDeclaration: UInt32 = 0x3c, atSpecification: UInt32 = 0x47, atAbstractOrigin: UInt32 = 0x31
    static let atStrOffsetsBase: UInt32 = 0x72

    /// Codes above this are not stored densely; the scanner then falls back to libdw.
    static let maxCode = 1 << 16

    private(set) var abbrevs: [Abbrev] = []
    private(set) var specs: [Spec] = []

    /// Parses the table at `offset` for a unit of the given sizes.
    init(_ section: UnsafeRawBufferPointer, offset: Int, offsetSize: Int, addressSize: Int, version: Int) throws {
        var c = DwarfCursor(section, section: ".debug_abbrev", at: offset)
        guard offset >= 0, offset <= section.count else { throw c.fail("abbreviation table offset past the end") }
        while true {
            let codeAt = c.at
            let code = try c.uleb()
            if code == 0 { break }
            guard code < UInt64(Self.maxCode) else { throw c.fail("abbreviation code \(code) too large", at: codeAt) }
            var a = Abbrev()
            let tag = try c.uleb()
            guard tag <= UInt64(UInt32.max) else { throw c.fail("tag \(tag) out of range", at: codeAt) }
            a.tag = UInt32(tag)
            a.hasChildren = try c.u8() != 0
            let first = specs.count
            var fixed = 0
            while true {
                let at = try c.uleb(), form = try c.uleb()
                if at == 0 && form == 0 { break }
                guard at <= UInt64(UInt32.max), form <= UInt64(UInt16.max), DwarfForm.isKnown(UInt16(form)) else {
                    throw c.fail("attribute 0x\(String(at, radix: 16)) has unknown form 0x\(String(form, radix: 16))", at: codeAt)
                }
                if form == UInt64(DwarfForm.implicitConst) { _ = try c.sleb() }
                let f = UInt16(form)
                let size = DwarfForm.fixedSize(f, offsetSize: offsetSize, addressSize: addressSize, version: version)
                if let size, fixed >= 0 { fixed += size } else { fixed = -1 }
                specs.append(Spec(attribute: UInt32(at), form: f, size: Int16(size ?? -1)))
                switch UInt32(at) {
                case Self.atName: a.hasName = true
                case Self.atDeclaration: a.hasDeclaration = true
                case Self.atLocation: a.hasLocation = true
                case Self.atSpecification, Self.atAbstractOrigin: a.hasOrigin = true
                case Self.atSibling: a.hasSibling = true
                default: break
                }
                guard specs.count - first <= 4096 else { throw c.fail("abbreviation with over 4096 attributes", at: codeAt) }
            }
            a.specs = first..<specs.count
            a.fixedSize = fixed
            let index = Int(code)
            if index >= abbrevs.count { abbrevs.append(contentsOf: repeatElement(Abbrev(), count: index + 1 - abbrevs.count)) }
            abbrevs[index] = a
            guard abbrevs.count <= Self.maxCode else { throw c.fail("too many abbreviations") }
        }
    }

    @inline(__always)
    func abbrev(_ code: UInt64) -> Abbrev? {
        guard code < UInt64(abbrevs.count) else { return nil }
        let a = abbrevs[Int(code)]
        return a.tag == 0 ? nil : a
    }
}
