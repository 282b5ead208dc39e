import CElf

/// One function level at a code address: the innermost inlined function
/// first, the real (out-of-line) function last. Outer levels carry the
/// line of the call site of the level inside them, as gdb and drgn show.
public struct FrameFunction: Equatable, Sendable {
    public var name: String?
    public var file: String?
    public var line: Int?
    public var isInline: Bool
}

extension DebugInfo {
    /// The function levels at a link-time (unrelocated) code address,
    /// innermost first, the last never inline; empty when no compile unit
    /// covers it.
    public func frameFunctions(linkAddress: UInt64) -> [FrameFunction] {
        if let known = frameFunctionsMemo[linkAddress] { return known }
        let levels = dwarf.unit(containing: linkAddress).map { Self.frameFunctions(in: $0, dwarf: DwarfFile.self, address: linkAddress) } ?? []
        if frameFunctionsMemo.count >= Self.memoLimit { frameFunctionsMemo.removeAll(keepingCapacity: true) }
        frameFunctionsMemo[linkAddress] = levels
        return levels
    }

    /// The function levels at `linkAddress` in a compile unit (also a
    /// module's, whose DWARF libdwfl opened: `ModuleDwarf`).
    static func frameFunctions(in cu: DIE, dwarf: DwarfFile.Type, address linkAddress: UInt64) -> [FrameFunction] {
        let here = dwarf.line(in: cu, address: linkAddress)
        var file = here?.file
        var line = here?.line
        var levels: [FrameFunction] = []
        for scope in dwarf.concreteScopes(in: cu, address: linkAddress) {
            switch scope.tag {
            case DW_TAG_inlined_subroutine:
                let origin = scope.reference(DW_AT_abstract_origin)
                levels.append(FrameFunction(name: origin?.name ?? scope.name, file: file, line: line, isInline: true))
                file = scope.unsigned(DW_AT_call_file).flatMap { dwarf.sourceFile(in: cu, index: $0) } ?? file
                line = scope.unsigned(DW_AT_call_line).map { Int($0) }
            case DW_TAG_subprogram:
                let name = scope.name ?? scope.reference(DW_AT_abstract_origin)?.name
                    ?? scope.reference(DW_AT_specification)?.name
                levels.append(FrameFunction(name: name, file: file, line: line, isInline: false))
                return levels
            default:
                continue
            }
        }
        // No subprogram (assembly has lines but no function DIEs): a nameless real level.
        if here != nil || !levels.isEmpty {
            levels.append(FrameFunction(name: nil, file: file, line: line, isInline: false))
        }
        return levels
    }
}
