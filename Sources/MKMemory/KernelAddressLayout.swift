import MKFormat

/// Where an architecture's kernel put itself in memory: the KASLR slide,
/// the linear maps (kernel text, direct map) and the page tables behind
/// everything else. One implementation per architecture (`X86_64Layout`),
/// chosen by the image's ELF machine (`forMachine`).
public protocol KernelAddressLayout: Sendable {
    /// The architecture's name, as the arch table spells it (`x86-64`).
    var architecture: String { get }
    /// Where kernel addresses begin and where the image is linked.
    var space: KernelSpace { get }
    /// What `info image` shows of the layout, in order: name and text.
    var facts: [(name: String, value: String)] { get }
    /// The physical load address minus the link address (x86-64 `phys_base`), when the architecture has one.
    var physicalLoadOffset: Int64? { get }
    /// Levels of the kernel's page tables (x86-64: 4 or 5).
    var pageTableLevels: Int { get }
    /// The direct map's base, once known.
    var directMapBase: UInt64? { get }
    var kaslrOffset: UInt64 { get }
    /// End of physical memory the direct map can reach (the image's top).
    var physicalLimit: UInt64 { get set }
    /// The kernel variable holding the direct map's base, read at start-up.
    var directMapBaseVariable: String? { get }
    /// Learns the direct map's base (the variable's value, or nil for the default).
    mutating func setDirectMapBase(_ value: UInt64?)
    /// Physical address behind a kernel-text virtual address, if it is one.
    func textToPhysical(_ va: UInt64) -> UInt64?
    /// Physical address behind a direct-map virtual address, if it is one.
    func directToPhysical(_ va: UInt64) -> UInt64?
    /// The kernel's page-table walk, reading 8-byte entries with `readEntry`.
    func makePageTableWalker(readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker
    /// A walker from another top-level table (a process's `mm->pgd`, at physical `root`).
    func makePageTableWalker(root: UInt64, readEntry: @escaping (UInt64) throws -> UInt64) -> any PageTableWalker
    /// The direct map's virtual address of a physical one, if the direct map reaches it.
    func physicalToDirect(_ pa: UInt64) -> UInt64?
    /// The kernel variable holding the `struct page` array's base (`vmemmap_base`).
    var memoryMapBaseVariable: String? { get }
    /// The `struct page` array's base when the variable is not there.
    var defaultMemoryMapBase: UInt64 { get }
    /// Page frame size (the unit of a PFN).
    var basePageSize: UInt64 { get }
    /// Learns the kernel image's run-time end (`_end`), for a layout whose image map is only
    /// as long as the image (arm64's lies inside the vmalloc range).
    mutating func setKernelImageEnd(_ end: UInt64)
}

extension KernelAddressLayout {
    public mutating func setKernelImageEnd(_ end: UInt64) {}
}

/// The address layouts mkdbg knows, by ELF machine.
public enum KernelAddressLayouts {
    /// The layout of a kernel of `machine` (nil: x86-64) from VMCOREINFO.
    public static func make(machine: UInt16?, vmcoreInfo: VmcoreInfo, imagePath: String) throws -> any KernelAddressLayout {
        switch machine {
        case nil, ElfHeader.emX86_64?: return try X86_64Layout(vmcoreInfo: vmcoreInfo, imagePath: imagePath)
        case ElfHeader.emAarch64?: return try Arm64Layout(vmcoreInfo: vmcoreInfo, imagePath: imagePath)
        case let m?: throw LayoutError.unsupportedMachine(m, image: imagePath)
        }
    }

    /// The VMCOREINFO keys the layout of a kernel of `machine` is built from (none for an unknown machine).
    public static func vmcoreInfoKeys(machine: UInt16?) -> [String] {
        switch machine {
        case nil, ElfHeader.emX86_64?: return X86_64Layout.vmcoreInfoKeys
        case ElfHeader.emAarch64?: return Arm64Layout.vmcoreInfoKeys
        default: return []
        }
    }
}
