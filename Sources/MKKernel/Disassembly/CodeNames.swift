import MKFormat
import MKMemory
import MKDebugInfo
import MKDisassembly

/// A function's code as a disassembly lists it: its name, run-time start
/// and size, and the module it is in (nil for the vmlinux).
public struct CodeFunction: Equatable, Sendable {
    public var name: String
    public var start: UInt64
    public var size: UInt64
    public var module: String?

    /// [start, start + size), cut at the top of the address space.
    public var range: Range<UInt64> {
        let (end, overflow) = start.addingReportingOverflow(size)
        return start..<(overflow ? .max : end)
    }
}

/// Names for code addresses, the vmlinux's and the loaded modules': a
/// function's bounds by name or by an address in it, `name+off` for an
/// address, and the source levels (inlined ones first) at a pc. The
/// vmlinux answers from its ELF symbols (DWARF low_pc/high_pc for a
/// sizeless one); a module from its kallsyms in memory, as `bt` and `sym`
/// name them. The module list is read only when the vmlinux cannot answer.
public final class CodeNames {
    let symbols: SymbolTable?
    let debugInfo: DebugInfo?
    let kaslr: UInt64
    /// The kernel image's span [_text, _end), run-time addresses.
    let imageRange: Range<UInt64>?
    private let makeKernel: () throws -> Kernel
    /// Module debug files (`mod -s`), by module name, for their source lines.
    public var moduleDebugFiles: [String: ModuleDebugFile] = [:]

    public init(target: Target, kernel: @escaping () throws -> Kernel) {
        symbols = target.symbols
        debugInfo = try? target.requireDebugInfo()
        kaslr = target.symbols?.kaslrOffset ?? 0
        makeKernel = kernel
        if let s = symbols?.lookup("_text")?.address, let e = symbols?.lookup("_end")?.address, s < e {
            imageRange = s..<e
        } else {
            imageRange = nil
        }
    }

    private lazy var code: KernelCode? = (try? makeKernel()).map { KernelCode(kernel: $0) }

    /// Loaded modules, read on first use.
    public var modules: [LoadedModule] { code?.modules ?? [] }

    /// Why the module list could not be read, if it could not.
    public var moduleProblem: String? { code == nil ? "no kernel debug info to read the module list with" : code?.moduleProblem }

    func isVmlinux(_ address: UInt64) -> Bool {
        if let imageRange { return imageRange.contains(address) }
        return symbols?.symbolize(address) != nil
    }

    private func module(containing address: UInt64) -> LoadedModule? {
        isVmlinux(address) ? nil : code?.module(containing: address)
    }

    // MARK: functions

    /// The function called `name`: a vmlinux function symbol, else a module's.
    public func function(named name: String) -> CodeFunction? {
        if let s = symbols?.lookup(name), s.kind == .function || s.size > 0 {
            if s.size > 0 { return CodeFunction(name: s.name, start: s.address, size: s.size, module: nil) }
            if let r = dwarfBounds(s.address) { return CodeFunction(name: s.name, start: r.lowerBound, size: r.count64, module: nil) }
            return CodeFunction(name: s.name, start: s.address, size: 0, module: nil)
        }
        for m in modules {
            if let s = m.symbol(named: name) { return CodeFunction(name: s.name, start: s.address, size: s.size, module: m.name) }
        }
        return nil
    }

    /// The function whose code holds `address`: the nearest sized symbol
    /// (looking past sizeless labels inside it), else DWARF's subprogram.
    public func function(containing address: UInt64) -> CodeFunction? {
        if isVmlinux(address) {
            if let s = sizedSymbol(containing: address) { return CodeFunction(name: s.name, start: s.address, size: s.size, module: nil) }
            if let r = dwarfBounds(address) {
                let name = symbols?.symbolize(r.lowerBound)?.symbol.name ?? debugInfo?.frameFunctions(linkAddress: address &- kaslr).last?.name
                return name.map { CodeFunction(name: $0, start: r.lowerBound, size: r.count64, module: nil) }
            }
            return nil
        }
        guard let m = module(containing: address), let (s, _) = m.symbolize(address) else { return nil }
        return CodeFunction(name: s.name, start: s.address, size: s.size, module: m.name)
    }

    private func sizedSymbol(containing address: UInt64) -> Symbol? {
        guard let symbols else { return nil }
        var current = symbols.symbolize(address)
        for _ in 0..<8 {
            guard let c = current else { return nil }
            if c.symbol.size > 0 { return c.symbol }
            guard c.symbol.address > 0, let prev = symbols.symbolize(c.symbol.address - 1) else { return nil }
            if prev.symbol.size > 0 { return address - prev.symbol.address < prev.symbol.size ? prev.symbol : nil }
            current = prev
        }
        return nil
    }

    /// DWARF's bounds of the function at a run-time vmlinux address.
    private func dwarfBounds(_ address: UInt64) -> Range<UInt64>? {
        guard let r = debugInfo?.functionBounds(linkAddress: address &- kaslr) else { return nil }
        return (r.lowerBound &+ kaslr)..<(r.upperBound &+ kaslr)
    }

    // MARK: names

    /// The symbol holding `address` and the offset into it (vmlinux or module).
    public func symbol(at address: UInt64) -> (name: String, offset: UInt64, module: String?)? {
        if isVmlinux(address) || code == nil {
            return symbols?.symbolize(address).map { ($0.symbol.name, $0.offset, nil) }
        }
        guard let m = module(containing: address), let (s, off) = m.symbolize(address) else { return nil }
        return (s.name, off, m.name)
    }

    /// `name` or `name+off` (decimal, as gdb writes `<panic+4>`).
    public func describe(_ address: UInt64) -> String? {
        guard let (name, off, _) = symbol(at: address) else { return nil }
        return off == 0 ? name : "\(name)+\(off)"
    }

    /// The function levels at a pc, innermost (inlined) first, with
    /// file:line; a module's only when `mod -s` loaded its debug file.
    public func sourceLevels(at address: UInt64) -> [FrameFunction] {
        if isVmlinux(address) { return debugInfo?.frameFunctions(linkAddress: address &- kaslr) ?? [] }
        guard let m = module(containing: address), let file = moduleDebugFiles[m.name] else { return [] }
        return m.frameFunctions(address, debugFile: file)
    }
}

extension Range where Bound == UInt64 {
    var count64: UInt64 { upperBound - lowerBound }
}
