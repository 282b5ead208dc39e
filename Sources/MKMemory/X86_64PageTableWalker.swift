import MKFormat

/// Walks x86-64 4- and 5-level page tables held in physical memory.
public struct X86_64PageTableWalker: PageTableWalker {
    static let addressMask: UInt64 = 0x000f_ffff_ffff_f000
    static let present: UInt64 = 1 << 0
    static let pageSizeBit: UInt64 = 1 << 7

    public let root: UInt64
    public let levels: Int
    let readEntry: (UInt64) throws -> UInt64

    public init(root: UInt64, levels: Int, readEntry: @escaping (UInt64) throws -> UInt64) {
        self.root = root & Self.addressMask
        self.levels = levels
        self.readEntry = readEntry
    }

    /// Canonical form check: bits above the top level's reach copy the sign bit.
    public func isCanonical(_ va: UInt64) -> Bool {
        let bits: UInt64 = levels == 5 ? 57 : 48
        let top = va >> (bits - 1)
        return top == 0 || top == (UInt64.max >> (bits - 1))
    }

    public func translate(_ va: UInt64) throws -> Translation {
        guard isCanonical(va) else {
            throw MemoryError.notCanonical(address: va, bits: levels == 5 ? 57 : 48)
        }
        let names = levels == 5 ? ["pml5", "pgd", "pud", "pmd", "pte"] : ["pgd", "pud", "pmd", "pte"]
        var table = root
        var steps: [PageTableStep] = []
        for (i, name) in names.enumerated() {
            let shift = UInt64(12 + 9 * (names.count - 1 - i))
            let index = (va >> shift) & 0x1ff
            let entryAddress = table + index * 8
            let entry = try readEntry(entryAddress)
            steps.append(PageTableStep(level: name, entryAddress: entryAddress, entry: entry))
            guard entry & Self.present != 0 else {
                throw MemoryError.pageNotPresent(address: va, level: name, entry: entry, entryAddress: entryAddress)
            }
            let isLeaf = name == "pte" || ((name == "pud" || name == "pmd") && entry & Self.pageSizeBit != 0)
            if isLeaf {
                let pageSize: UInt64 = 1 << shift
                let frame = entry & Self.addressMask & ~(pageSize - 1)
                return Translation(virtual: va, physical: frame | (va & (pageSize - 1)), pageSize: pageSize,
                                   method: .pageTables, steps: steps)
            }
            table = entry & Self.addressMask
        }
        throw MemoryError.virtualNotMapped(address: va, reason: "page-table walk did not reach a page")
    }
}
