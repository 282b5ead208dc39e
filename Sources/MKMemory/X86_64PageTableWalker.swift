import MKFormat

/// Walks x86-64 4- and 5-level page tables held in physical memory.
public struct X86_64PageTableWalker: PageTableWalker {
    public let root: UInt64
    public let levels: Int
    let readEntry: (UInt64) throws -> UInt64

    public init(root: UInt64, levels: Int, readEntry: @escaping (UInt64) throws -> UInt64) {
        self.root = root & X86_64PageTableEntry.addressMask
        self.levels = levels
        self.readEntry = readEntry
    }

    var addressBits: Int { levels == 5 ? 57 : 48 }

    /// Canonical form check: bits above the top level's reach copy the sign bit.
    public func isCanonical(_ va: UInt64) -> Bool {
        let bits = UInt64(addressBits)
        let top = va >> (bits - 1)
        return top == 0 || top == (UInt64.max >> (bits - 1))
    }

    public func decode(_ entry: UInt64, level: String) -> PageTableEntryInfo {
        X86_64PageTableEntry.decode(entry, level: level)
    }

    public func walk(_ va: UInt64) throws -> PageTableWalk {
        guard isCanonical(va) else {
            return PageTableWalk(virtual: va, root: root, steps: [], outcome: .nonCanonical(bits: addressBits))
        }
        let names = X86_64PageTableEntry.levelNames(levels: levels)
        var table = root
        var steps: [PageTableStep] = []
        for (i, name) in names.enumerated() {
            let shift = UInt64(12 + 9 * (names.count - 1 - i))
            let index = (va >> shift) & 0x1ff
            let entryAddress = table | (index * 8)
            let entry = try readEntry(entryAddress)
            steps.append(PageTableStep(level: name, entryAddress: entryAddress, entry: entry))
            guard entry & X86_64PageTableEntry.present != 0 else {
                return PageTableWalk(virtual: va, root: root, steps: steps, outcome: .notPresent(level: name))
            }
            if X86_64PageTableEntry.isLeaf(entry, level: name) {
                let pageSize: UInt64 = 1 << shift
                let frame = entry & X86_64PageTableEntry.addressMask & ~(pageSize - 1)
                return PageTableWalk(virtual: va, root: root, steps: steps,
                                     outcome: .mapped(physical: frame | (va & (pageSize - 1)), pageSize: pageSize))
            }
            table = entry & X86_64PageTableEntry.addressMask
        }
        // Unreachable: the last level's entry is always a leaf.
        return PageTableWalk(virtual: va, root: root, steps: steps, outcome: .notPresent(level: names.last ?? "pte"))
    }
}
