import MKFormat

/// Walks arm64 translation tables (VMSAv8-64 stage 1) held in physical
/// memory: 4, 16 or 64 KiB granules, as many levels as the address size
/// needs (4 KiB with 39 bits: 3, with 48: 4), block mappings at the
/// levels the granule allows. One walker serves `swapper_pg_dir` (TTBR1,
/// kernel addresses) and a process's `mm->pgd` (TTBR0, user addresses).
public struct Arm64PageTableWalker: PageTableWalker {
    public let root: UInt64
    public let vaBits: Int
    public let granule: UInt64
    /// Whether the root is TTBR1's (`swapper_pg_dir`): it then translates kernel addresses only.
    /// A user address's top index can name a live kernel entry (with 52-bit VA the linear map's
    /// start, 0xfff0…, shares index 0 with address 0), so it must not be walked there.
    public let kernelOnly: Bool
    let readEntry: (UInt64) throws -> UInt64

    public init(root: UInt64, vaBits: Int, granule: UInt64, kernelOnly: Bool = false, readEntry: @escaping (UInt64) throws -> UInt64) {
        self.kernelOnly = kernelOnly
        self.granule = granule
        self.vaBits = vaBits
        self.root = root & 0x000f_ffff_ffff_fff8
        self.readEntry = readEntry
    }

    /// Levels a walk takes: each resolves granule − 3 bits above the page offset.
    public static func levels(vaBits: Int, granule: UInt64) -> Int {
        let pageShift = granule.trailingZeroBitCount
        let perLevel = pageShift - 3
        return max(1, (vaBits - pageShift + perLevel - 1) / perLevel)
    }

    public var levels: Int { Self.levels(vaBits: vaBits, granule: granule) }

    /// Kernel (TTBR1) addresses have every bit above `vaBits` set, user (TTBR0) ones none.
    public func isCanonical(_ va: UInt64) -> Bool {
        let top = va >> UInt64(vaBits)
        return (top == 0 && !kernelOnly) || top == UInt64.max >> UInt64(vaBits)
    }

    /// The level names of a walk of `levels` levels, top first, as the kernel folds them.
    public static func levelNames(levels: Int) -> [String] {
        switch levels {
        case 4: return ["pgd", "pud", "pmd", "pte"]
        case 3: return ["pgd", "pmd", "pte"]
        case 2: return ["pgd", "pte"]
        default: return ["pte"]
        }
    }

    /// The architecture's level number (0–3, the last is 3) of a step's level name.
    func hardwareLevel(_ name: String) -> Int {
        let names = Self.levelNames(levels: levels)
        return 4 - names.count + (names.firstIndex(of: name) ?? names.count - 1)
    }

    public func decode(_ entry: UInt64, level: String) -> PageTableEntryInfo {
        let hw = hardwareLevel(level)
        let shift = UInt64(granule.trailingZeroBitCount + (granule.trailingZeroBitCount - 3) * (3 - hw))
        return Arm64PageTableEntry.decode(entry, hardwareLevel: hw, granule: granule, span: 1 << shift)
    }

    public func walk(_ va: UInt64) throws -> PageTableWalk {
        guard isCanonical(va) else {
            return PageTableWalk(virtual: va, root: root, steps: [], outcome: .nonCanonical(bits: vaBits))
        }
        let names = Self.levelNames(levels: levels)
        let pageShift = granule.trailingZeroBitCount
        let perLevel = pageShift - 3
        var table = root
        var steps: [PageTableStep] = []
        for (i, name) in names.enumerated() {
            let shift = UInt64(pageShift + perLevel * (names.count - 1 - i))
            // The top level resolves what is left of the address size.
            let bits = i == 0 ? UInt64(vaBits) - shift : UInt64(perLevel)
            let index = (va >> shift) & ((1 << bits) - 1)
            let entryAddress = table | (index * 8)
            let entry = try readEntry(entryAddress)
            steps.append(PageTableStep(level: name, entryAddress: entryAddress, entry: entry))
            let hw = 4 - names.count + i
            let kind = Arm64PageTableEntry.kind(entry, hardwareLevel: hw, granule: granule)
            switch kind {
            case .invalid:
                return PageTableWalk(virtual: va, root: root, steps: steps, outcome: .notPresent(level: name))
            case .table:
                table = Arm64PageTableEntry.outputAddress(entry, granule: granule)
            case .block, .page:
                let size: UInt64 = 1 << shift
                let frame = Arm64PageTableEntry.outputAddress(entry, granule: granule) & ~(size - 1)
                return PageTableWalk(virtual: va, root: root, steps: steps,
                                     outcome: .mapped(physical: frame | (va & (size - 1)), pageSize: size))
            }
        }
        return PageTableWalk(virtual: va, root: root, steps: steps, outcome: .notPresent(level: names.last ?? "pte"))
    }
}
