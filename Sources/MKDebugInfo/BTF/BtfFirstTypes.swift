/// Types on a first start against a vmlinux whose DWARF index is not built
/// yet: the kernel's BTF answers at once, and what BTF lacks (most globals'
/// types, a type it dropped) goes to DWARF, whose index is then awaited
/// from the background build. Once the index is in memory, DWARF answers
/// everything, as on any later start.
public final class BtfFirstTypes: TypeSource {
    public let btf: BtfTypes
    public let dwarf: DebugInfo
    /// A global or function with no symbol is not worth waiting for the index
    /// (a helper probing `pcpu_hot` on a kernel older than 6.2).
    let symbols: SymbolTable

    public init(btf: BtfTypes, dwarf: DebugInfo, symbols: SymbolTable) {
        self.btf = btf
        self.dwarf = dwarf
        self.symbols = symbols
    }

    public var dwarfInfo: DebugInfo? { dwarf }
    public var typeSourceName: String {
        dwarf.hasIndex ? dwarf.typeSourceName
            : "BTF in the kernel's memory (\(btf.file.typeCount) types) while DWARF from \(dwarf.vmlinux.path) is indexed"
    }

    public func findType(_ spelled: String) -> CType? {
        if dwarf.hasIndex { return dwarf.findType(spelled) }
        return btf.findType(spelled) ?? dwarf.findType(spelled)
    }

    /// BTF has every typedef and base type the kernel's types use: asking
    /// DWARF for each identifier the parser meets would wait for its index.
    public func isTypeName(_ name: String) -> Bool {
        dwarf.hasIndex ? dwarf.isTypeName(name) : btf.isTypeName(name)
    }

    public func variable(_ name: String) -> VariableInfo? {
        if dwarf.hasIndex { return dwarf.variable(name) }
        if let v = btf.variable(name) { return v }
        return symbols.lookup(name) == nil ? nil : dwarf.variable(name)
    }

    public func function(_ name: String) -> FunctionInfo? {
        if dwarf.hasIndex { return dwarf.function(name) }
        if let f = btf.function(name) { return f }
        return symbols.lookup(name) == nil ? nil : dwarf.function(name)
    }

    public func enumerator(_ name: String) -> (type: CType, value: Int64)? {
        if dwarf.hasIndex { return dwarf.enumerator(name) }
        return btf.enumerator(name) ?? dwarf.enumerator(name)
    }

    public func suggestions(for name: String, kinds: Set<IndexKind>, limit: Int) -> [String] {
        dwarf.hasIndex ? dwarf.suggestions(for: name, kinds: kinds, limit: limit) : btf.suggestions(for: name, kinds: kinds, limit: limit)
    }

    public func names(withPrefix prefix: String, kinds: Set<IndexKind>, limit: Int) -> [String] {
        dwarf.hasIndex ? dwarf.names(withPrefix: prefix, kinds: kinds, limit: limit) : btf.names(withPrefix: prefix, kinds: kinds, limit: limit)
    }

    public func typeNames(kind: IndexKind) -> [String] { dwarf.typeNames(kind: kind) }
}
