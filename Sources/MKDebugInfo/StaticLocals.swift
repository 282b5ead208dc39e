import CElf

extension DebugInfo {
    /// A `static` variable declared inside a function (`static char
    /// buf[1024]` in `panic()`): searched among the function DIE's
    /// descendants (lexical blocks included) and those of its abstract
    /// origin, for a variable with a static address. The address is
    /// link-time: relocate it as the symbol table does.
    public func staticLocal(_ name: String, inFunction function: String) -> VariableInfo? {
        guard let off = index.lookup(function, .function), let die = dwarf.die(at: off) else { return nil }
        var roots = [die]
        if let origin = die.reference(DW_AT_abstract_origin) { roots.append(origin) }
        if let spec = die.reference(DW_AT_specification) { roots.append(spec) }
        for root in roots {
            if let v = findStatic(name, under: root, depth: 0) { return v }
        }
        return nil
    }

    private func findStatic(_ name: String, under die: DIE, depth: Int) -> VariableInfo? {
        guard depth < 16 else { return nil }
        var found: VariableInfo?
        die.forEachChild { child in
            guard found == nil else { return }
            let tag = child.tag
            if tag == DW_TAG_variable, child.name == name, let address = child.locationAddress {
                found = VariableInfo(name: name, type: types.typeAttribute(of: child), linkAddress: address,
                                     declFile: child.declFile, declLine: child.declLine)
            } else if tag == DW_TAG_lexical_block {
                found = findStatic(name, under: child, depth: depth + 1)
            }
        }
        return found
    }
}
