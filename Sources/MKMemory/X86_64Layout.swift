import MKFormat

/// Where an x86-64 kernel put itself: the KASLR slide, the physical base of
/// the kernel text, the direct map's base and the top-level page table.
/// Everything comes from VMCOREINFO plus, where it is silent, values read
/// from memory through the kernel text map.
public struct X86_64Layout: KernelAddressLayout, Equatable {
    /// Link-time virtual address of the kernel text map.
    public static let startKernelMap: UInt64 = 0xffff_ffff_8000_0000
    /// Size of the kernel text map (KERNEL_IMAGE_SIZE with KASLR).
    public static let kernelImageSize: UInt64 = 1 << 30
    /// The VMCOREINFO keys the layout is built from.
    public static let vmcoreInfoKeys = ["KERNELOFFSET", "NUMBER(phys_base)", "SYMBOL(init_top_pgt)"]
    /// The upper half is the kernel's; the image is linked at the text map.
    public static let space = KernelSpace(kernelStart: 0xffff_8000_0000_0000, imageBase: startKernelMap)
    public static let defaultPageOffset4: UInt64 = 0xffff_8880_0000_0000
    public static let defaultPageOffset5: UInt64 = 0xff11_0000_0000_0000

    public var kaslrOffset: UInt64
    /// `phys_base`, signed: physical load address minus the link address.
    public var physBase: Int64
    /// Physical address of the kernel's top-level page table (`init_top_pgt`).
    public var topLevelTable: UInt64
    public var levels: Int
    /// Base of the direct map of all physical memory, when known.
    public var pageOffsetBase: UInt64?
    /// End of physical memory the direct map can reach (the image's top).
    public var physicalLimit: UInt64 = UInt64.max

    public init(kaslrOffset: UInt64, physBase: Int64, topLevelTable: UInt64, levels: Int, pageOffsetBase: UInt64?) {
        self.kaslrOffset = kaslrOffset
        self.physBase = physBase
        self.topLevelTable = topLevelTable
        self.levels = levels
        self.pageOffsetBase = pageOffsetBase
    }

    public var architecture: String { "x86-64" }
    public var space: KernelSpace { Self.space }
    public var physicalLoadOffset: Int64? { physBase }
    public var pageTableLevels: Int { levels }
    public var directMapBase: UInt64? { pageOffsetBase }

    public var facts: [(name: String, value: String)] {
        [("KASLR offset", hex(kaslrOffset)),
         ("phys_base", physBase < 0 ? "-" + hex(physBase.magnitude) : hex(UInt64(physBase))),
         ("page tables", "\(levels)-level, top table at physical \(hex(topLevelTable))"),
         ("direct map", pageOffsetBase.map { "page_offset_base \(hex($0))" } ?? "unknown")]
    }
    public var directMapBaseVariable: String? { "page_offset_base" }

    /// `page_offset_base`'s value; the paging mode's default when it is unknown or 0.
    public mutating func setDirectMapBase(_ value: UInt64?) {
        if let value, value != 0 {
            pageOffsetBase = value
        } else {
            pageOffsetBase = levels == 5 ? Self.defaultPageOffset5 : Self.defaultPageOffset4
        }
    }

    public func makePageTableWalker(readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker {
        X86_64PageTableWalker(root: topLevelTable, levels: levels, readEntry: readEntry)
    }

    public func makePageTableWalker(root: UInt64, readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker {
        X86_64PageTableWalker(root: root, levels: levels, readEntry: readEntry)
    }

    /// Size of the direct map window: 64 TiB with 4 levels, 32 PiB with 5.
    public var directMapSize: UInt64 { levels == 5 ? 1 << 55 : 1 << 46 }

    public func isKernelText(_ va: UInt64) -> Bool {
        va >= Self.startKernelMap && va - Self.startKernelMap < Self.kernelImageSize
    }

    /// Physical address behind a kernel-text virtual address.
    public func textToPhysical(_ va: UInt64) -> UInt64? {
        guard isKernelText(va) else { return nil }
        let offset = va - Self.startKernelMap
        let (r, o) = Int64(bitPattern: offset).addingReportingOverflow(physBase)
        return o || r < 0 ? nil : UInt64(r)
    }

    public func physicalToDirect(_ pa: UInt64) -> UInt64? {
        guard let base = pageOffsetBase, pa < min(directMapSize, physicalLimit) else { return nil }
        return checkedAdd(base, pa)
    }

    public static let defaultVmemmap4: UInt64 = 0xffff_ea00_0000_0000
    public static let defaultVmemmap5: UInt64 = 0xffd4_0000_0000_0000
    public var memoryMapBaseVariable: String? { "vmemmap_base" }
    public var defaultMemoryMapBase: UInt64 { levels == 5 ? Self.defaultVmemmap5 : Self.defaultVmemmap4 }
    public var basePageSize: UInt64 { 4096 }

    public func directToPhysical(_ va: UInt64) -> UInt64? {
        guard let base = pageOffsetBase, va >= base, va - base < min(directMapSize, physicalLimit) else { return nil }
        return va - base
    }

    /// Builds the layout from VMCOREINFO; names the missing key otherwise.
    public init(vmcoreInfo info: VmcoreInfo, imagePath: String) throws {
        // A key that is there but does not parse is named as such, quoted.
        func absent(_ key: String, _ expected: String) -> LayoutError {
            guard let text = info[key] else { return .missingKey(key, image: imagePath) }
            return .inconsistent("VMCOREINFO \(key)=\"\(text)\" does not parse as \(expected); cannot locate the kernel in memory", image: imagePath)
        }
        guard let kaslr = info.kernelOffset else { throw absent("KERNELOFFSET", "a hex number") }
        guard let physBase = info.physBase else { throw absent("NUMBER(phys_base)", "a decimal number") }
        guard let pgt = info.symbol("init_top_pgt") ?? info.symbol("swapper_pg_dir") else {
            throw absent("SYMBOL(init_top_pgt)", "a hex address")
        }
        self.kaslrOffset = kaslr
        self.physBase = physBase
        self.levels = (info.number("pgtable_l5_enabled") ?? 0) != 0 ? 5 : 4
        self.pageOffsetBase = nil
        self.topLevelTable = 0
        guard let table = textToPhysical(pgt) else {
            throw LayoutError.inconsistent("SYMBOL(init_top_pgt)=\(hex(pgt)) is outside the kernel text map", image: imagePath)
        }
        self.topLevelTable = table
    }
}

public enum LayoutError: Error, CustomStringConvertible, Equatable {
    case missingKey(String, image: String)
    case inconsistent(String, image: String)
    case noVmcoreInfo(image: String)
    /// The image is of an architecture without an address layout: its ELF machine.
    case unsupportedMachine(UInt16, image: String)

    public var description: String {
        switch self {
        case let .missingKey(key, image):
            return "\(image): VMCOREINFO has no \(key); cannot locate the kernel in memory"
        case let .inconsistent(what, image):
            return "\(image): \(what)"
        case let .unsupportedMachine(machine, image):
            return "\(image): \(ElfMachine.name(machine) ?? "ELF machine \(machine)") is not supported yet: "
                + "mkdbg reads x86-64 and arm64 kernels (this image is \(ElfMachine.describe(machine)))"
        case let .noVmcoreInfo(image):
            return "\(image): no VMCOREINFO note; cannot translate kernel virtual addresses (was qemu_fw_cfg loaded in the guest, or is this a user-space core?)"
        }
    }
}
