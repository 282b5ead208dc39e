/// x86-64 page-table entry bits (Intel SDM vol. 3, 4.5), named as the
/// kernel's pgtable_types.h and crash name them.
public enum X86_64PageTableEntry {
    public static let addressMask: UInt64 = 0x000f_ffff_ffff_f000
    public static let present: UInt64 = 1 << 0
    /// PSE in a PUD/PMD entry (a 1 GiB / 2 MiB page); PAT in a PTE.
    public static let pageSizeBit: UInt64 = 1 << 7

    /// Bit, name; bit 7 and 12 depend on the level.
    static let commonBits: [(Int, String)] = [
        (0, "PRESENT"), (1, "RW"), (2, "USER"), (3, "PWT"), (4, "PCD"), (5, "ACCESSED"), (6, "DIRTY"),
    ]
    static let highBits: [(Int, String)] = [
        (8, "GLOBAL"), (9, "SOFTW1"), (10, "SOFTW2"), (11, "SOFTW3"), (58, "SOFTW4"),
    ]

    /// Levels from the top: `pml5` (5-level only), `pgd`, `pud`, `pmd`, `pte`.
    public static func levelNames(levels: Int) -> [String] {
        levels == 5 ? ["pml5", "pgd", "pud", "pmd", "pte"] : ["pgd", "pud", "pmd", "pte"]
    }

    /// Size one entry at `level` covers.
    public static func span(of level: String) -> UInt64 {
        switch level {
        case "pte": return 1 << 12
        case "pmd": return 1 << 21
        case "pud": return 1 << 30
        case "pgd": return 1 << 39
        default: return 1 << 48
        }
    }

    /// Whether an entry at `level` maps a page: every PTE, and a PUD/PMD with PSE.
    public static func isLeaf(_ entry: UInt64, level: String) -> Bool {
        level == "pte" || ((level == "pud" || level == "pmd") && entry & pageSizeBit != 0)
    }

    public static func decode(_ entry: UInt64, level: String) -> PageTableEntryInfo {
        let leaf = isLeaf(entry, level: level)
        let huge = leaf && level != "pte"
        var flags: [String] = []
        func bit(_ b: Int) -> Bool { entry >> UInt64(b) & 1 != 0 }
        for (b, name) in commonBits where bit(b) { flags.append(name) }
        if bit(7) { flags.append(level == "pte" ? "PAT" : (huge ? "PSE" : "PS")) }
        for (b, name) in highBits where bit(b) { flags.append(name) }
        // Bit 12 is PAT in a huge page's entry; part of the address otherwise.
        if huge && bit(12) { flags.append("PAT_LARGE") }
        let key = (entry >> 59) & 0xf
        if key != 0 { flags.append("PKEY=\(key)") }
        if bit(63) { flags.append("NX") }
        let size = leaf ? span(of: level) : nil
        let address = entry & addressMask & ~((size ?? 4096) - 1)
        return PageTableEntryInfo(flags: flags, address: address, isLeaf: leaf, pageSize: size)
    }
}
