import CElf
#if canImport(Glibc)
import Glibc
#endif

// Every raw libdwfl call of the project goes through this file.

/// A kernel module's DWARF (an ET_REL `NAME.ko`) opened through libdwfl,
/// which lays its sections out at addresses of its own and applies the
/// relocations the DWARF needs. Addresses here are dwfl's ("file
/// addresses"); callers map a run-time pc through a symbol both sides
/// know (`fileAddress(ofSymbol:)` plus the offset into it).
public final class ModuleDwarf {
    private let dwfl: OpaquePointer
    private let module: OpaquePointer
    private let callbacks: UnsafeMutablePointer<Dwfl_Callbacks>
    /// Function and object symbols by name, dwfl addresses (first one wins).
    private var symbolAddresses: [String: (address: UInt64, size: UInt64)] = [:]

    public init(path: String, name: String) throws {
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: Dwfl_Callbacks(find_elf: dwfl_build_id_find_elf,
                                                find_debuginfo: dwfl_standard_find_debuginfo,
                                                section_address: dwfl_offline_section_address,
                                                debuginfo_path: nil))
        guard let d = dwfl_begin(callbacks) else {
            callbacks.deallocate()
            throw DebugInfoError.cannotOpen(path: path, reason: Self.lastError())
        }
        dwfl_report_begin(d)
        guard let m = dwfl_report_offline(d, name, path, -1) else {
            let reason = Self.lastError()
            dwfl_end(d)
            callbacks.deallocate()
            throw DebugInfoError.cannotOpen(path: path, reason: reason)
        }
        dwfl_report_end(d, nil, nil)
        dwfl = d
        module = m
        var bias: Dwarf_Addr = 0
        // Forces the relocation of the DWARF now, so a broken file fails here.
        guard dwfl_module_getdwarf(m, &bias) != nil else {
            let reason = Self.lastError()
            dwfl_end(d)
            callbacks.deallocate()
            throw DebugInfoError.cannotOpen(path: path, reason: "no usable DWARF: \(reason)")
        }
        let n = dwfl_module_getsymtab(m)
        if n > 0 {
            for i in 0..<n {
                var sym = GElf_Sym()
                var addr: GElf_Addr = 0
                var shndx: GElf_Word = 0
                guard let p = dwfl_module_getsym_info(m, i, &sym, &addr, &shndx, nil, nil), p.pointee != 0 else { continue }
                let type = Int32(sym.st_info & 0xf)
                guard sym.st_shndx != 0, type == STT_FUNC || type == STT_OBJECT else { continue }
                let s = String(cString: p)
                if symbolAddresses[s] == nil { symbolAddresses[s] = (addr, sym.st_size) }
            }
        }
    }

    deinit {
        dwfl_end(dwfl)
        callbacks.deallocate()
    }

    /// A function's (or object's) dwfl address and size.
    public func fileAddress(ofSymbol name: String) -> (address: UInt64, size: UInt64)? { symbolAddresses[name] }

    /// The source line holding a dwfl address.
    public func sourceLine(at address: UInt64) -> (file: String, line: Int)? {
        guard let l = dwfl_module_getsrc(module, address) else { return nil }
        var line: Int32 = 0
        guard let f = dwfl_lineinfo(l, nil, &line, nil, nil, nil), line > 0 else { return nil }
        return (String(cString: f), Int(line))
    }

    /// The function levels at a dwfl address, innermost (inlined) first, the
    /// out-of-line function last; empty when no compile unit covers it.
    public func frameFunctions(at address: UInt64) -> [FrameFunction] {
        var bias: Dwarf_Addr = 0
        guard let cu = dwfl_module_addrdie(module, address, &bias) else { return [] }
        return DebugInfo.frameFunctions(in: DIE(raw: cu.pointee), dwarf: DwarfFile.self, address: address &- bias)
    }

    /// The symbol holding a dwfl address.
    public func symbolName(at address: UInt64) -> String? {
        dwfl_module_addrname(module, address).map { String(cString: $0) }
    }

    static func lastError() -> String {
        dwfl_errmsg(-1).map { String(cString: $0) } ?? "unknown libdwfl error"
    }
}
