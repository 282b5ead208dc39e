import CElf

/// Lookups by name over the index, returning parsed types.
extension DebugInfo: TypeSource {
    public var dwarfInfo: DebugInfo? { self }
    public var typeSourceName: String { "DWARF from \(vmlinux.path)" }

    public func isTypeName(_ name: String) -> Bool {
        index.lookup(name, .typedef) != nil || index.lookup(name, .base) != nil
    }

    public func names(withPrefix prefix: String, kinds: Set<IndexKind>, limit: Int) -> [String] {
        index.names(withPrefix: prefix, kinds: kinds, limit: limit)
    }

    /// `struct X`, `union X`, `enum X`, or a typedef or base type name.
    public func findType(_ spelled: String) -> CType? {
        let words = spelled.split(separator: " ").map(String.init)
        if words.count == 2 {
            let kind: IndexKind?
            switch words[0] {
            case "struct": kind = .structure
            case "union": kind = .union
            case "enum": kind = .enumeration
            default: kind = nil
            }
            if let kind {
                return index.lookup(words[1], kind).map { types.type(at: $0) }
            }
        }
        if let off = index.lookup(spelled, .typedef) ?? index.lookup(spelled, .base) {
            return types.type(at: off)
        }
        return nil
    }

    /// Names of types, for "did you mean" and completion.
    public func typeNames(kind: IndexKind) -> [String] {
        var names: [String] = []
        index.forEachName { name, kinds in if kinds.contains(kind) { names.append(name) } }
        return names
    }

    public func variable(_ name: String) -> VariableInfo? {
        guard let off = index.lookup(name, .variable), let die = dwarf.die(at: off) else { return nil }
        return VariableInfo(name: name, type: types.typeAttribute(of: die), linkAddress: die.locationAddress,
                            declFile: die.declFile, declLine: die.declLine)
    }

    public func function(_ name: String) -> FunctionInfo? {
        guard let off = index.lookup(name, .function), let die = dwarf.die(at: off) else { return nil }
        return FunctionInfo(name: name, type: types.type(of: die), linkAddress: die.lowPC,
                            declFile: die.declFile, declLine: die.declLine)
    }

    /// An enumerator's value and its enum type.
    public func enumerator(_ name: String) -> (type: CType, value: Int64)? {
        guard let off = index.lookup(name, .enumerator) else { return nil }
        let t = types.type(at: off)
        guard let e = t.enumerators.first(where: { $0.name == name }) else { return nil }
        return (t, e.value)
    }

    public struct SourceLocation: Equatable {
        public var file: String
        public var line: Int
        /// Functions inlined at this address, innermost first, with their call sites.
        public var inlineChain: [String]
        public var function: String?
    }

    /// File and line for a link-time (unrelocated) code address, from the
    /// same function levels `bt` shows.
    public func sourceLocation(linkAddress: UInt64) -> SourceLocation? {
        let levels = frameFunctions(linkAddress: linkAddress)
        guard let innermost = levels.first, let file = innermost.file, let line = innermost.line else { return nil }
        return SourceLocation(file: file, line: line,
                              inlineChain: levels.filter(\.isInline).map { $0.name ?? "?" },
                              function: levels.last { !$0.isInline }?.name)
    }

    /// Every name of the given kinds that is close to `name`.
    public func suggestions(for name: String, kinds: Set<IndexKind>, limit: Int = 3) -> [String] {
        guard !name.isEmpty, name.count <= 64 else { return [] }
        let target = Array(name.utf8)
        var scored: [(Int, String)] = []
        index.forEachName(lengthFilter: { abs($0 - target.count) <= 2 }) { key, found in
            guard found.contains(where: { kinds.contains($0) }) else { return }
            let d = editDistance(Array(key.utf8), target, limit: 2)
            if d <= 2 { scored.append((d, key)) }
        }
        scored.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return scored.prefix(limit).map { $0.1 }
    }
}
