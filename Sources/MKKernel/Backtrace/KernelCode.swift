import MKFormat
import MKMemory
import MKDebugInfo
import MKValues

/// A symbol of a module, from the module's own kallsyms in memory.
public struct ModuleSymbol: Equatable, Sendable {
    public var name: String
    public var address: UInt64
    public var size: UInt64
}

/// A loaded module as a backtrace needs it: where its code is, its
/// symbols (`struct module` → `kallsyms`) and its ORC table
/// (`struct module` → `arch`), all read from memory through DWARF members.
public final class LoadedModule {
    public let name: String
    /// The `struct module`.
    public let address: UInt64
    /// Code ranges (core text; init text while it is still loaded).
    public let textRanges: [Range<UInt64>]
    let kernel: Kernel
    let module: KObject

    init(kernel: Kernel, module: KObject, name: String, textRanges: [Range<UInt64>]) {
        self.kernel = kernel
        self.module = module
        self.name = name
        self.address = module.address ?? 0
        self.textRanges = textRanges
    }

    public func contains(_ pc: UInt64) -> Bool { textRanges.contains { $0.contains(pc) } }

    /// The run-time address and size of the symbol `name` (from the module's kallsyms).
    public func symbol(named name: String) -> ModuleSymbol? {
        guard let syms = rawSymbols else { return nil }
        for s in syms {
            if let n = try? kernel.memory.readCString(strtab &+ UInt64(s.nameOffset), limit: 512), n == name {
                return ModuleSymbol(name: n, address: s.address, size: s.size)
            }
        }
        return nil
    }

    /// The function levels (inlined ones first, each with its file:line) of a
    /// run-time pc in this module, through its debug file: the pc's kallsyms
    /// symbol, found by name in the debug file (at dwfl's address for it),
    /// plus the offset into it. Empty when the file cannot say.
    public func frameFunctions(_ pc: UInt64, debugFile: ModuleDebugFile) -> [FrameFunction] {
        guard let dwarf = try? debugFile.dwarf.get(), let (s, offset) = symbolize(pc),
              let at = dwarf.fileAddress(ofSymbol: s.name), at.size == 0 || offset < at.size else { return [] }
        return dwarf.frameFunctions(at: at.address &+ offset)
    }

    /// Raw symbols (name offsets not yet read), sorted by address.
    private lazy var rawSymbols: [(address: UInt64, size: UInt64, nameOffset: UInt32)]? = readSymbols()
    private var strtab: UInt64 = 0
    /// Why the symbols could not be read.
    public private(set) var symbolProblem: String?

    /// The symbol holding `pc`, and the offset into it.
    public func symbolize(_ pc: UInt64) -> (symbol: ModuleSymbol, offset: UInt64)? {
        guard let syms = rawSymbols, !syms.isEmpty else { return nil }
        var lo = 0, hi = syms.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if syms[mid].address <= pc { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = syms[lo - 1]
        let offset = pc - s.address
        if s.size > 0 && offset >= s.size { return nil }
        guard let name = try? kernel.memory.readCString(strtab &+ UInt64(s.nameOffset), limit: 512), !name.isEmpty else { return nil }
        return (ModuleSymbol(name: name, address: s.address, size: s.size), offset)
    }

    private func readSymbols() -> [(address: UInt64, size: UInt64, nameOffset: UInt32)]? {
        do {
            let ks = try module["kallsyms"]
            guard try ks.unsigned() != 0 else { symbolProblem = "the module has no kallsyms"; return nil }
            let table = try ks.deref()
            let symtab = try table["symtab"].unsigned()
            let count = Int(min(try table["num_symtab"].unsigned(), 1 << 18))
            strtab = try table["strtab"].unsigned()
            let entry = Int(kernel.types.findType("Elf64_Sym")?.byteSize ?? 24)
            guard entry == 24 else { symbolProblem = "Elf64_Sym is \(entry) bytes, expected 24"; return nil }
            let bytes = try kernel.memory.readVirtual(symtab, count: count * entry)
            var result: [(address: UInt64, size: UInt64, nameOffset: UInt32)] = []
            for i in 0..<count {
                let b = i * entry
                let nameOffset = UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8 | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24
                let shndx = UInt16(bytes[b + 6]) | UInt16(bytes[b + 7]) << 8
                let value = bytes.loadLE64(at: b + 8) ?? 0
                let size = bytes.loadLE64(at: b + 16) ?? 0
                let type = bytes[b + 4] & 0xf
                // Defined functions and labels in the module's code.
                guard nameOffset != 0, shndx != 0, type == 0 || type == 2, contains(value) else { continue }
                result.append((value, size, nameOffset))
            }
            result.sort { $0.address != $1.address ? $0.address < $1.address : $0.size > $1.size }
            return result
        } catch {
            symbolProblem = "cannot read the module's kallsyms: \(error)"
            return nil
        }
    }

    /// The module's ORC table (run-time addresses), or why there is none.
    public private(set) lazy var orc: Result<OrcTable, Error> = Result { try readOrc() }

    private func readOrc() throws -> OrcTable {
        let arch = try module["arch"]
        let n = try arch["num_orcs"].unsigned()
        guard n > 0 else { throw OrcError.missing("module \(name) has no ORC entries") }
        guard n <= 1 << 20 else { throw OrcError.malformed("module \(name) claims \(n) ORC entries") }
        let ipTable = try arch["orc_unwind_ip"].unsigned()
        let entryTable = try arch["orc_unwind"].unsigned()
        let format = kernel.orcFormat
        let ips = try kernel.memory.readVirtual(ipTable, count: Int(n) * 4)
        let entries = try kernel.memory.readVirtual(entryTable, count: Int(n) * format.entrySize)
        return try OrcTable(ipTableAddress: ipTable, ipBytes: ips, entryBytes: entries, format: format)
    }
}

/// Where code lives: the vmlinux (symbols, DWARF, ORC at link addresses)
/// or a module (kallsyms and ORC from memory).
final class KernelCode {
    let kernel: Kernel
    let symbols: SymbolTable?
    let kaslr: UInt64
    /// The kernel image's span [_text, _end), run-time addresses.
    let imageRange: Range<UInt64>?

    init(kernel: Kernel) {
        self.kernel = kernel
        symbols = kernel.target.symbols
        kaslr = symbols?.kaslrOffset ?? 0
        if let s = symbols?.lookup("_text")?.address, let e = symbols?.lookup("_end")?.address, s < e {
            imageRange = s..<e
        } else {
            imageRange = nil
        }
    }

    /// The vmlinux's ORC table: from the vmlinux file (link-time addresses),
    /// or without one from the kernel's memory (run-time addresses).
    lazy var vmlinuxOrc: Result<OrcTable, Error> = Result {
        if let dwarf = kernel.dwarf { return try dwarf.vmlinuxOrcTable(format: kernel.orcFormat) }
        return try kernel.memoryOrcTable()
    }

    /// What to subtract from a run-time pc to look it up in `vmlinuxOrc`.
    var vmlinuxOrcShift: UInt64 { kernel.dwarf == nil ? 0 : kaslr }

    func isVmlinux(_ pc: UInt64) -> Bool {
        if let imageRange { return imageRange.contains(pc) }
        return symbols?.symbolize(pc) != nil
    }

    /// Loaded modules (read once); problems reading the list go to `moduleProblem`.
    private(set) lazy var modules: [LoadedModule] = readModules()
    private(set) var moduleProblem: String?

    func module(containing pc: UInt64) -> LoadedModule? {
        modules.first { $0.contains(pc) }
    }

    private func readModules() -> [LoadedModule] {
        do {
            let head = try kernel.address(of: "modules")
            let type = try kernel.type("struct module")
            let listOffset = try kernel.offset(of: "list", in: type)
            let walk = ListWalker(memory: kernel.memory, limit: 4096).walk(head: head)
            if let w = walk.warnings.first { moduleProblem = "module list: \(w)" }
            var result: [LoadedModule] = []
            for node in walk.nodes {
                let m = kernel.object(type, at: node &- listOffset)
                guard let name = try? m["name"].string(limit: 64) else { continue }
                result.append(LoadedModule(kernel: kernel, module: m, name: name, textRanges: Self.textRanges(of: m)))
            }
            return result
        } catch {
            moduleProblem = "cannot read the module list: \(error)"
            return []
        }
    }

    /// Code ranges of a module: `core_layout`/`init_layout` (up to 6.3) or
    /// `mem[MOD_TEXT]`/`mem[MOD_INIT_TEXT]` (6.4 on).
    static func textRanges(of m: KObject) -> [Range<UInt64>] {
        var ranges: [Range<UInt64>] = []
        func add(_ base: UInt64, _ size: UInt64) {
            guard base != 0, size > 0, size < 1 << 30, base &+ size > base else { return }
            ranges.append(base..<(base + size))
        }
        if let core = try? m["core_layout"] {
            for layout in [core, try? m["init_layout"]].compactMap({ $0 }) {
                if let base = try? layout["base"].unsigned(), let size = try? layout["text_size"].unsigned() {
                    add(base, size)
                }
            }
        } else if let mem = try? m["mem"] {
            // enum mod_mem_type: MOD_TEXT = 0, MOD_INIT_TEXT = 4.
            for i in [0, 4] {
                if let region = try? mem.index(i), let base = try? region["base"].unsigned(), let size = try? region["size"].unsigned() {
                    add(base, size)
                }
            }
        }
        return ranges
    }
}
