import CElf
#if canImport(Glibc)
import Glibc
#endif

// Every raw libdw call of the project goes through this file.

/// A DWARF debugging-information entry; a small value wrapping libdw's
/// `Dwarf_Die` (which points into the mapped file).
struct DIE {
    var raw: Dwarf_Die

    var offset: UInt64 {
        var d = raw
        return dwarf_dieoffset(&d)
    }

    var tag: Int {
        var d = raw
        return Int(dwarf_tag(&d))
    }

    var name: String? {
        var d = raw
        guard let p = dwarf_diename(&d) else { return nil }
        return String(cString: p)
    }

    /// The name as raw bytes without building a String (index scans).
    func withName<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        var d = raw
        return body(dwarf_diename(&d))
    }

    func has(_ attribute: Int) -> Bool {
        var d = raw
        return dwarf_hasattr_integrate(&d, UInt32(attribute)) != 0
    }

    func unsigned(_ attribute: Int) -> UInt64? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr_integrate(&d, UInt32(attribute), &a) != nil else { return nil }
        var v: Dwarf_Word = 0
        guard dwarf_formudata(&a, &v) == 0 else { return nil }
        return v
    }

    func signed(_ attribute: Int) -> Int64? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr_integrate(&d, UInt32(attribute), &a) != nil else { return nil }
        var v: Dwarf_Sword = 0
        guard dwarf_formsdata(&a, &v) == 0 else { return nil }
        return v
    }

    func flag(_ attribute: Int) -> Bool {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr_integrate(&d, UInt32(attribute), &a) != nil else { return false }
        var v = false
        guard dwarf_formflag(&a, &v) == 0 else { return false }
        return v
    }

    /// The DIE a reference attribute (DW_AT_type, DW_AT_specification...) points to.
    func reference(_ attribute: Int) -> DIE? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr_integrate(&d, UInt32(attribute), &a) != nil else { return nil }
        var out = Dwarf_Die()
        guard dwarf_formref_die(&a, &out) != nil else { return nil }
        return DIE(raw: out)
    }

    var type: DIE? { reference(DW_AT_type) }

    var byteSize: UInt64? {
        var d = raw
        let n = dwarf_bytesize(&d)
        return n >= 0 ? UInt64(n) : nil
    }

    var bitSize: UInt64? {
        var d = raw
        let n = dwarf_bitsize(&d)
        return n >= 0 ? UInt64(n) : nil
    }

    /// `DW_AT_data_member_location` as a constant byte offset.
    var memberOffset: UInt64? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr_integrate(&d, UInt32(DW_AT_data_member_location), &a) != nil else { return nil }
        var v: Dwarf_Word = 0
        if dwarf_formudata(&a, &v) == 0 { return v }
        // An expression (DW_OP_plus_uconst N), as older compilers write.
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var n = 0
        guard dwarf_getlocation(&a, &ops, &n) == 0, let ops, n == 1, ops[0].atom == UInt8(DW_OP_plus_uconst) else { return nil }
        return ops[0].number
    }

    /// A variable's static address (`DW_OP_addr`), when it has one.
    var locationAddress: UInt64? {
        var d = raw
        var a = Dwarf_Attribute()
        guard dwarf_attr(&d, UInt32(DW_AT_location), &a) != nil else { return nil }
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var n = 0
        guard dwarf_getlocation(&a, &ops, &n) == 0, let ops, n >= 1, ops[0].atom == UInt8(DW_OP_addr) else { return nil }
        return ops[0].number
    }

    var lowPC: UInt64? {
        var d = raw
        var v: Dwarf_Addr = 0
        return dwarf_lowpc(&d, &v) == 0 ? v : nil
    }

    /// The end of a DIE's one contiguous range (`DW_AT_high_pc`, address or length).
    var highPC: UInt64? {
        var d = raw
        var v: Dwarf_Addr = 0
        return dwarf_highpc(&d, &v) == 0 ? v : nil
    }

    var declFile: String? {
        var d = raw
        return dwarf_decl_file(&d).map { String(cString: $0) }
    }

    var declLine: Int? {
        var d = raw
        var line: Int32 = 0
        return dwarf_decl_line(&d, &line) == 0 ? Int(line) : nil
    }

    var firstChild: DIE? {
        var d = raw
        var out = Dwarf_Die()
        return dwarf_child(&d, &out) == 0 ? DIE(raw: out) : nil
    }

    var nextSibling: DIE? {
        var d = raw
        var out = Dwarf_Die()
        return dwarf_siblingof(&d, &out) == 0 ? DIE(raw: out) : nil
    }

    /// Direct children, in order.
    func forEachChild(_ body: (DIE) throws -> Void) rethrows {
        var child = firstChild
        var guardCount = 0
        while let c = child, guardCount < 1 << 22 {
            try body(c)
            child = c.nextSibling
            guardCount += 1
        }
    }
}

/// The DWARF of one ELF file, opened through libdw.
final class DwarfFile {
    let elf: LibElfFile
    let dwarf: OpaquePointer

    init(elf: LibElfFile) throws {
        guard let d = dwarf_begin_elf(elf.elf, DWARF_C_READ, nil) else {
            throw DebugInfoError.noDebugInfo(path: elf.path, reason: String(cString: dwarf_errmsg(-1)))
        }
        self.elf = elf
        self.dwarf = d
    }

    deinit { dwarf_end(dwarf) }

    /// DIE at a `.debug_info` offset.
    func die(at offset: UInt64) -> DIE? {
        var out = Dwarf_Die()
        guard dwarf_offdie(dwarf, offset, &out) != nil else { return nil }
        return DIE(raw: out)
    }

    /// Offsets of every compile unit's DIE, in file order.
    func unitOffsets() -> [UInt64] {
        var result: [UInt64] = []
        var off: Dwarf_Off = 0
        var next: Dwarf_Off = 0
        var headerSize = 0
        while dwarf_nextcu(dwarf, off, &next, &headerSize, nil, nil, nil) == 0 {
            result.append(off + UInt64(headerSize))
            off = next
        }
        return result
    }

    /// The compile unit DIE that holds code at `address` (unrelocated).
    func unit(containing address: UInt64) -> DIE? {
        var out = Dwarf_Die()
        guard dwarf_addrdie(dwarf, address, &out) != nil else { return nil }
        return DIE(raw: out)
    }

    /// Source line for `address` in a compile unit.
    func line(in unit: DIE, address: UInt64) -> (file: String, line: Int)? { Self.line(in: unit, address: address) }

    static func line(in unit: DIE, address: UInt64) -> (file: String, line: Int)? {
        var cu = unit.raw
        guard let l = dwarf_getsrc_die(&cu, address) else { return nil }
        var n: Int32 = 0
        guard dwarf_lineno(l, &n) == 0, let f = dwarf_linesrc(l, nil, nil) else { return nil }
        return (String(cString: f), Int(n))
    }

    /// Scopes (innermost first) at `address` in a compile unit: the inline
    /// chain and the enclosing function.
    func scopes(in unit: DIE, address: UInt64) -> [DIE] {
        var cu = unit.raw
        var scopes: UnsafeMutablePointer<Dwarf_Die>?
        let n = dwarf_getscopes(&cu, address, &scopes)
        guard n > 0, let scopes else { return [] }
        defer { free(scopes) }
        return (0..<Int(n)).map { DIE(raw: scopes[$0]) }
    }
}

// MARK: source files and call frame information (for backtraces)

extension DwarfFile {
    /// Entry `index` of a compile unit's source-file list: what
    /// `DW_AT_call_file` and `DW_AT_decl_file` values name.
    func sourceFile(in unit: DIE, index: UInt64) -> String? { Self.sourceFile(in: unit, index: index) }

    static func sourceFile(in unit: DIE, index: UInt64) -> String? {
        var cu = unit.raw
        var files: OpaquePointer?
        var count = 0
        guard dwarf_getsrcfiles(&cu, &files, &count) == 0, let files, index < UInt64(count),
              let name = dwarf_filesrc(files, Int(index), nil, nil) else { return nil }
        return String(cString: name)
    }

    /// The `.debug_frame` call frame information (owned by libdw; lives
    /// as long as this file). Nil when the file has none.
    var callFrameInfo: OpaquePointer? { dwarf_getcfi(dwarf) }

    /// The CFI row for `address` (unrelocated): the CFA's DWARF expression
    /// and, for each DWARF register number asked, its rule. Nil when no
    /// FDE covers the address.
    func callFrameRow(at address: UInt64, registers: [Int]) -> DwarfCFIRow? {
        guard let cfi = callFrameInfo else { return nil }
        var frame: OpaquePointer?
        guard dwarf_cfi_addrframe(cfi, address, &frame) == 0, let frame else { return nil }
        defer { free(UnsafeMutableRawPointer(frame)) }
        var ops: UnsafeMutablePointer<Dwarf_Op>?
        var n = 0
        guard dwarf_frame_cfa(frame, &ops, &n) == 0, let ops, n > 0 else { return nil }
        var row = DwarfCFIRow(cfa: (0..<n).map { DwarfOp(ops[$0]) })
        var mem = [Dwarf_Op](repeating: Dwarf_Op(), count: 3)
        for reg in registers {
            // The ops may live in `mem`: copy them before it goes out of scope.
            let rule: DwarfCFIRule? = mem.withUnsafeMutableBufferPointer { m in
                var out: UnsafeMutablePointer<Dwarf_Op>?
                var count = 0
                guard dwarf_frame_register(frame, Int32(reg), m.baseAddress!, &out, &count) == 0 else { return nil }
                if count == 0 { return out == nil ? .sameValue : .undefined }
                guard let out else { return nil }
                return .expression((0..<count).map { DwarfOp(out[$0]) })
            }
            if let rule { row.registers[reg] = rule }
        }
        return row
    }
}

extension DwarfOp {
    init(_ op: Dwarf_Op) {
        self.init(atom: op.atom, number: op.number, number2: op.number2)
        offset = op.offset
    }
}

extension DwarfFile {
    /// The concrete scopes at `address` (unrelocated), innermost first:
    /// blocks, every inlined instance and the out-of-line subprogram, found
    /// by descending from the compile unit through the DIEs whose ranges
    /// hold the address. (`dwarf_getscopes` stops at the innermost inlined
    /// instance and continues with its abstract definition's parents.)
    func concreteScopes(in unit: DIE, address: UInt64) -> [DIE] { Self.concreteScopes(in: unit, address: address) }

    static func concreteScopes(in unit: DIE, address: UInt64) -> [DIE] {
        var chain: [DIE] = []
        var parent = unit
        var depth = 0
        descend: while depth < 256 {
            depth += 1
            var child = parent.firstChild
            var visited = 0
            while let c = child, visited < 1 << 20 {
                visited += 1
                var raw = c.raw
                if dwarf_haspc(&raw, address) == 1 {
                    chain.append(c)
                    parent = c
                    continue descend
                }
                child = c.nextSibling
            }
            break
        }
        return chain.reversed()
    }
}
