import MKFormat

/// Where an arm64 kernel put itself (the layout since 5.4, "flipped"):
/// the linear map of all RAM in the lower half of the kernel's addresses,
/// `[PAGE_OFFSET, PAGE_END)`, and the kernel image map above it, where
/// physical = virtual − `kimage_voffset`. The rest (vmalloc, modules,
/// vmemmap, fixmap) goes through `swapper_pg_dir`. All from VMCOREINFO.
public struct Arm64Layout: KernelAddressLayout, Equatable {
    /// The VMCOREINFO keys the layout is built from.
    public static let vmcoreInfoKeys = ["NUMBER(VA_BITS)", "NUMBER(kimage_voffset)", "NUMBER(PHYS_OFFSET)",
                                        "KERNELOFFSET", "SYMBOL(swapper_pg_dir)"]
    /// Without VMCOREINFO: kernel addresses are at least 52-bit ones' (`VA_BITS` ≤ 52), and the
    /// image is linked at or above `PAGE_END` of a 48-bit kernel (`_text` = 0xffff800008000000).
    public static let space = KernelSpace(kernelStart: 0xfff0_0000_0000_0000, imageBase: 0xffff_8000_0000_0000)

    /// `VA_BITS`: the kernel's configured virtual address size (the linear map's size is half of it).
    public var vaBits: Int
    /// The size the hardware translates for TTBR1 (64 − `TCR_EL1.T1SZ`), ≤ `vaBits`.
    public var activeVaBits: Int
    public var kaslrOffset: UInt64
    /// `kimage_voffset`: image virtual − physical.
    public var kimageVoffset: UInt64
    /// `PHYS_OFFSET` (`memstart_addr`): the physical address at `PAGE_OFFSET`; may be negative
    /// when the linear map is randomized, so kept as its bit pattern and used modulo 2⁶⁴.
    public var physOffset: UInt64
    /// Physical address of `swapper_pg_dir`.
    public var topLevelTable: UInt64
    /// The translation granule (PAGESIZE): 4, 16 or 64 KiB.
    public var granule: UInt64
    /// Start of the kernel image map (`_text` at run time) and its end (`_end`) once known;
    /// before that the map ends at the page tables' own page (`swapper_pg_dir`).
    public var imageStart: UInt64
    public var imageEnd: UInt64
    /// `VMEMMAP_START` and `sizeof(struct page)`, for the `struct page` array.
    public var vmemmapStart: UInt64
    public var pageStructSize: UInt64
    /// `KERNELPACMASK`: the pointer-authentication bits of a return address (0: none).
    public var pacMask: UInt64
    public var physicalLimit: UInt64 = UInt64.max

    public var architecture: String { "arm64" }
    /// `PAGE_OFFSET` = −2^VA_BITS.
    public var pageOffset: UInt64 { 0 &- (1 << UInt64(vaBits)) }
    /// `PAGE_END` = −2^(VA_BITS_MIN − 1): the linear map's end (VA_BITS_MIN is 48 for 52-bit kernels).
    public var pageEnd: UInt64 { 0 &- (1 << UInt64(min(vaBits, 48) - 1)) }
    public var space: KernelSpace { KernelSpace(kernelStart: pageOffset, imageBase: pageEnd) }
    public var physicalLoadOffset: Int64? { nil }
    public var pageTableLevels: Int { Arm64PageTableWalker.levels(vaBits: activeVaBits, granule: granule) }
    /// Virtual address of physical 0 in the linear map (`PAGE_OFFSET − PHYS_OFFSET`).
    public var directMapBase: UInt64? { pageOffset &- physOffset }
    public var directMapBaseVariable: String? { nil }
    public mutating func setDirectMapBase(_ value: UInt64?) {}
    public var memoryMapBaseVariable: String? { nil }
    /// `vmemmap` = `(struct page *)VMEMMAP_START − (memstart_addr >> PAGE_SHIFT)`.
    public var defaultMemoryMapBase: UInt64 {
        let firstPfn = UInt64(bitPattern: Int64(bitPattern: physOffset) >> Int64(granule.trailingZeroBitCount))
        return vmemmapStart &- firstPfn &* pageStructSize
    }
    public var basePageSize: UInt64 { granule }

    public var facts: [(name: String, value: String)] {
        [("KASLR offset", hex(kaslrOffset)),
         ("kimage_voffset", hex(kimageVoffset)),
         ("PHYS_OFFSET", hex(physOffset)),
         ("VA_BITS", activeVaBits == vaBits ? "\(vaBits)" : "\(vaBits) (TCR_EL1.T1SZ: \(activeVaBits) in use)"),
         ("page tables", "\(pageTableLevels)-level, \(granule >> 10) KiB granule, swapper_pg_dir at physical \(hex(topLevelTable))"),
         ("linear map", "\(hex(pageOffset))-\(hex(pageEnd)) (physical 0 at \(hex(pageOffset &- physOffset)))"),
         ("PAC", pacMask == 0 ? "off (KERNELPACMASK 0)" : "KERNELPACMASK \(hex(pacMask))")]
    }

    public init(vmcoreInfo info: VmcoreInfo, imagePath: String) throws {
        func absent(_ key: String, _ expected: String) -> LayoutError {
            guard let text = info[key] else { return .missingKey(key, image: imagePath) }
            return .inconsistent("VMCOREINFO \(key)=\"\(text)\" does not parse as \(expected); cannot locate the kernel in memory", image: imagePath)
        }
        guard let vaBits = info.number("VA_BITS") else { throw absent("NUMBER(VA_BITS)", "a decimal number") }
        guard (36...52).contains(vaBits) else {
            throw LayoutError.inconsistent("VMCOREINFO NUMBER(VA_BITS)=\(vaBits) is outside arm64's 36 to 52", image: imagePath)
        }
        guard let voffset = info.bits("kimage_voffset") else { throw absent("NUMBER(kimage_voffset)", "a hex number") }
        guard let physOffset = info.bits("PHYS_OFFSET") else { throw absent("NUMBER(PHYS_OFFSET)", "a hex number") }
        guard let kaslr = info.kernelOffset else { throw absent("KERNELOFFSET", "a hex number") }
        guard let pgd = info.symbol("swapper_pg_dir") else { throw absent("SYMBOL(swapper_pg_dir)", "a hex address") }
        var active = Int(vaBits)
        if let t1sz = info.bits("TCR_EL1_T1SZ") {
            guard (12...28).contains(t1sz) else {
                throw LayoutError.inconsistent("VMCOREINFO NUMBER(TCR_EL1_T1SZ)=\(t1sz) gives no arm64 address size", image: imagePath)
            }
            active = 64 - Int(t1sz)
        }
        let granule = UInt64(info.pageSize ?? 4096)
        guard [4096, 16384, 65536].contains(granule) else {
            throw LayoutError.inconsistent("VMCOREINFO PAGESIZE=\(granule) is not an arm64 granule (4, 16 or 64 KiB)", image: imagePath)
        }
        self.vaBits = Int(vaBits)
        self.activeVaBits = min(active, Int(vaBits))
        self.kaslrOffset = kaslr
        self.kimageVoffset = voffset
        self.physOffset = physOffset
        self.granule = granule
        self.vmemmapStart = info.bits("VMEMMAP_START") ?? 0
        self.pageStructSize = info.size("page").map { UInt64(max($0, 0)) } ?? 64
        self.pacMask = info.bits("KERNELPACMASK") ?? 0
        // The image is linked at the modules' end (KIMAGE_VADDR) and slid by KASLR.
        let linked = info.bits("MODULES_END") ?? 0xffff_8000_0800_0000
        guard let start = checkedAdd(linked, kaslr), pgd >= start, let pgdEnd = checkedAdd(pgd, granule) else {
            throw LayoutError.inconsistent("SYMBOL(swapper_pg_dir)=\(hex(pgd)) is not in the kernel image (linked at \(hex(linked)), KASLR \(hex(kaslr)))", image: imagePath)
        }
        self.imageStart = start
        self.imageEnd = pgdEnd
        self.topLevelTable = pgd &- voffset
    }

    /// Learns `_end` (the symbol table's): the image map reaches it.
    public mutating func setKernelImageEnd(_ end: UInt64) {
        if end > imageStart, end - imageStart < 1 << 32 { imageEnd = end }
    }

    public func textToPhysical(_ va: UInt64) -> UInt64? {
        guard va >= imageStart, va < imageEnd else { return nil }
        return va &- kimageVoffset
    }

    /// A linear-map address: in `[PAGE_OFFSET, PAGE_END)`.
    public func directToPhysical(_ va: UInt64) -> UInt64? {
        guard va >= pageOffset, va < pageEnd else { return nil }
        let pa = (va - pageOffset) &+ physOffset
        return pa < physicalLimit ? pa : nil
    }

    public func physicalToDirect(_ pa: UInt64) -> UInt64? {
        guard pa < physicalLimit else { return nil }
        let offset = pa &- physOffset
        guard offset < pageEnd &- pageOffset else { return nil }
        return pageOffset + offset
    }

    public func makePageTableWalker(readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker {
        Arm64PageTableWalker(root: topLevelTable, vaBits: activeVaBits, granule: granule, kernelOnly: true, readEntry: readEntry)
    }

    public func makePageTableWalker(root: UInt64, readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker {
        Arm64PageTableWalker(root: root, vaBits: activeVaBits, granule: granule, readEntry: readEntry)
    }
}
