import MKFormat
import MKMemory
import MKDebugInfo

/// The kernel's `struct page` array (SPARSEMEM_VMEMMAP): its virtual base
/// and the size of one entry, so a PFN's `struct page` is base + pfn × size.
public struct MemoryMap: Sendable, Equatable {
    public var base: UInt64
    public var pageStructSize: UInt64
    public var pageSize: UInt64
    /// Where `base` came from: the variable's name, or "default".
    public var baseSource: String

    /// Base from the layout's variable (`vmemmap_base`) read from memory, or
    /// the paging mode's default; the entry size from VMCOREINFO's
    /// SIZE(page), else DWARF (`sizeOfPage`).
    public init(target: Target, sizeOfPage: () -> UInt64? = { nil }) throws {
        let layout = try target.memory.requireLayout()
        pageSize = layout.basePageSize
        if let name = layout.memoryMapBaseVariable,
           let at = target.image.vmcoreInfo?.symbol(name) ?? target.symbols?.lookup(name)?.address,
           let value = try? target.memory.readVirtualU64(at), value != 0 {
            base = value
            baseSource = name
        } else {
            base = layout.defaultMemoryMapBase
            baseSource = "default"
        }
        if let text = target.image.vmcoreInfo?["SIZE(page)"], let n = UInt64(text), n > 0 {
            pageStructSize = n
        } else if let n = sizeOfPage(), n > 0 {
            pageStructSize = n
        } else {
            throw KernelError.unsupportedLayout(what: "struct page", message: "neither VMCOREINFO SIZE(page) nor debug info gives sizeof(struct page)")
        }
    }

    /// The `struct page` of the frame holding physical address `pa`; nil when it would wrap.
    public func page(ofPhysical pa: UInt64) -> UInt64? {
        let pfn = pa / pageSize
        let (offset, o1) = pfn.multipliedReportingOverflow(by: pageStructSize)
        guard !o1 else { return nil }
        return checkedAdd(base, offset)
    }
}
