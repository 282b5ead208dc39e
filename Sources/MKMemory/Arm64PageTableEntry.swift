/// arm64 stage-1 descriptor bits (Arm ARM D8.3), named as the kernel's
/// pgtable-hwdef.h and crash name them.
public enum Arm64PageTableEntry {
    public enum Kind: Equatable { case invalid, table, block, page }

    /// What a descriptor at hardware level `level` (0–3) is: bits [1:0] are 0b11 for a table
    /// (a page at level 3), 0b01 for a block where the granule allows one.
    public static func kind(_ entry: UInt64, hardwareLevel level: Int, granule: UInt64) -> Kind {
        switch entry & 3 {
        case 3: return level == 3 ? .page : .table
        case 1: return blockLevels(granule: granule).contains(level) ? .block : .invalid
        default: return .invalid
        }
    }

    /// Levels a block may sit at without 52-bit output addresses: 4 KiB 1 and 2 (1 GiB, 2 MiB),
    /// 16 KiB 2 (32 MiB), 64 KiB 2 (512 MiB).
    public static func blockLevels(granule: UInt64) -> Set<Int> { granule == 4096 ? [1, 2] : [2] }

    /// The next table's or the page's physical address: bits [47:12]; with a 64 KiB granule
    /// bits [15:12] hold PA[51:48].
    public static func outputAddress(_ entry: UInt64, granule: UInt64) -> UInt64 {
        let low = entry & 0x0000_ffff_ffff_f000 & ~(granule - 1)
        guard granule == 65536 else { return low }
        return low | ((entry >> 12) & 0xf) << 48
    }

    static let leafBits: [(Int, String)] = [
        (0, "VALID"), (5, "NS"), (6, "USER"), (7, "RDONLY"), (10, "AF"), (11, "NG"),
        (51, "DBM"), (52, "CONT"), (53, "PXN"), (54, "UXN"), (55, "DIRTY"), (56, "SPECIAL"), (58, "PROT_NONE"),
    ]
    static let tableBits: [(Int, String)] = [(0, "VALID"), (1, "TABLE"), (59, "PXNTABLE"), (60, "UXNTABLE"), (63, "NSTABLE")]

    public static func decode(_ entry: UInt64, hardwareLevel level: Int, granule: UInt64, span: UInt64) -> PageTableEntryInfo {
        let k = kind(entry, hardwareLevel: level, granule: granule)
        func bit(_ b: Int) -> Bool { entry >> UInt64(b) & 1 != 0 }
        var flags: [String] = []
        switch k {
        case .table:
            flags = tableBits.filter { bit($0.0) }.map(\.1)
            let ap = (entry >> 61) & 3
            if ap != 0 { flags.append("APTABLE=\(ap)") }
        case .block, .page, .invalid:
            flags = leafBits.filter { bit($0.0) }.map(\.1)
            if k == .page { flags.insert("PAGE", at: min(1, flags.count)) }
            if k == .block { flags.insert("BLOCK", at: min(1, flags.count)) }
            flags.append("ATTRINDX=\((entry >> 2) & 7)")
            let sh = (entry >> 8) & 3
            if sh != 0 { flags.append(sh == 3 ? "SHARED" : sh == 2 ? "OUTER_SHARED" : "SH=1") }
        }
        let leaf = k == .block || k == .page
        let size = leaf ? span : nil
        let address = outputAddress(entry, granule: granule) & ~((size ?? granule) - 1)
        return PageTableEntryInfo(flags: flags, address: address, isLeaf: leaf, pageSize: size)
    }
}
