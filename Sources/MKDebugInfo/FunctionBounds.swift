import CElf

extension DebugInfo {
    /// The link-time range [low_pc, high_pc) of the out-of-line function
    /// whose code holds `linkAddress`; nil when DWARF has no subprogram
    /// there or its code is not one contiguous range.
    public func functionBounds(linkAddress: UInt64) -> Range<UInt64>? {
        guard let cu = dwarf.unit(containing: linkAddress) else { return nil }
        let scopes = DwarfFile.concreteScopes(in: cu, address: linkAddress)
        guard let function = scopes.first(where: { $0.tag == DW_TAG_subprogram }),
              let low = function.lowPC, let high = function.highPC, low < high, high - low <= 1 << 24 else { return nil }
        return low..<high
    }
}
