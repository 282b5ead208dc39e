import MKFormat
import MKMemory
import MKDebugInfo

/// How this kernel marks a page as a slab's, and where a slab's page and
/// memory are: the direct map (`page_offset_base` up to `max_pfn`) and the
/// `struct page` array. PageSlab is a page type from 6.10 (VMCOREINFO's
/// `NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)`, compared with `_mapcount`), a page
/// flag (`PG_slab`) before.
struct SlabPageLayout {
    enum SlabTest {
        case flag(UInt64)
        case pageType(UInt32)
    }

    let map: MemoryMap
    let directBase: UInt64
    let maxPFN: UInt64
    let flags: Field
    let compoundHead: Field
    let mapcount: Field
    let slabCache: Field
    let test: SlabTest
    let pageFields: [Field]

    init(_ kernel: Kernel, slab: SlabLayout) throws {
        let page = try kernel.type("struct page")
        map = try MemoryMap(target: kernel.target) { page.byteSize ?? 0 }
        guard map.pageStructSize <= 4096 else {
            throw KernelError.implausible(what: "sizeof(struct page)", value: map.pageStructSize, address: nil,
                                          message: "struct page is \(map.pageStructSize) bytes, not a page descriptor's size")
        }
        guard let base = kernel.memory.addressLayout?.directMapBase, base != 0 else {
            throw KernelError.unsupportedLayout(what: "direct map", message: "the kernel's direct-map base (page_offset_base) is unknown")
        }
        directBase = base
        let pfns = try kernel.object("max_pfn").unsigned()
        guard pfns > 0, pfns < (1 << 40) else {
            throw KernelError.implausible(what: "max_pfn", value: pfns, address: try? kernel.address(of: "max_pfn"),
                                          message: "max_pfn is \(hex(pfns)), not a frame count")
        }
        maxPFN = pfns
        flags = try kernel.field("flags", in: page)
        compoundHead = try kernel.field("compound_head", in: page)
        mapcount = try kernel.optionalField("_mapcount.counter", in: page) ?? kernel.field("_mapcount", in: page)
        slabCache = try kernel.field("slab_cache", in: slab.slabType)
        if let text = kernel.target.image.vmcoreInfo?["NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)"], let v = Int64(text) {
            test = .pageType(UInt32(truncatingIfNeeded: v))
        } else if let t = kernel.types.enumerator("PGTY_slab")?.value, t >= 0, t < 256 {
            test = .pageType(UInt32(t) << 24)
        } else if let bit = kernel.types.enumerator("PG_slab")?.value, bit >= 0, bit < 64 {
            test = .flag(UInt64(1) << UInt64(bit))
        } else {
            throw KernelError.unsupportedLayout(what: "PageSlab", message: "neither VMCOREINFO's PAGE_SLAB_MAPCOUNT_VALUE, PGTY_slab nor PG_slab says which pages are slabs")
        }
        pageFields = [flags, compoundHead, mapcount]
    }

    var directEnd: UInt64 { directBase &+ maxPFN &* map.pageSize }

    func inDirectMap(_ address: UInt64) -> Bool { address >= directBase && address < directEnd }

    /// The `struct page` of a direct-map address.
    func page(ofDirect address: UInt64) -> UInt64? {
        guard inDirectMap(address) else { return nil }
        return map.page(ofPhysical: address - directBase)
    }

    /// The PFN of a `struct page` address, when it is one of the array's entries.
    func pfn(ofPage page: UInt64) -> UInt64? {
        guard page >= map.base else { return nil }
        let off = page - map.base
        guard off % map.pageStructSize == 0, off / map.pageStructSize < maxPFN else { return nil }
        return off / map.pageStructSize
    }

    /// The direct-map address of the memory a slab (its head `struct page`) describes.
    func memory(ofSlab slab: UInt64) -> UInt64? {
        pfn(ofPage: slab).map { directBase &+ $0 &* map.pageSize }
    }

    func isSlab(_ b: ObjectBytes) -> Bool {
        switch test {
        case let .flag(mask): return (b.unsigned(flags) ?? 0) & mask != 0
        case let .pageType(v): return b.unsigned(mapcount).map { UInt32(truncatingIfNeeded: $0) == v } ?? false
        }
    }
}

extension Kernel {
    /// The slab holding a direct-map address: its head page (a `struct
    /// slab`) and its cache; nil when the address's page is no slab's.
    func slab(containing address: UInt64, pages: SlabPageLayout) throws -> (slab: UInt64, cache: UInt64)? {
        guard let page = pages.page(ofDirect: address) else { return nil }
        var b = try readObject(at: page, covering: pages.pageFields)
        var head = page
        if let ch = b.unsigned(pages.compoundHead), ch & 1 == 1 {
            head = ch &- 1
            guard pages.pfn(ofPage: head) != nil else {
                throw KernelError.implausible(what: "page.compound_head", value: ch, address: page,
                                              message: "struct page \(hex(page))'s compound_head \(hex(ch)) is no struct page")
            }
            b = try readObject(at: head, covering: pages.pageFields)
        }
        guard pages.isSlab(b) else { return nil }
        return (head, try memory.readVirtualU64(head &+ UInt64(pages.slabCache.offset)))
    }

    /// The slabs of `cache` found by reading every `struct page` up to
    /// `max_pfn` (64 a step of `budget`): the only way to find full slabs,
    /// which SLUB keeps on no list. Unreadable stretches (memory-map holes) are skipped.
    func slabsInMemoryMap(of cache: UInt64, pages: SlabPageLayout, budget: WalkBudget,
                          warnings: inout [WalkWarning]) -> [UInt64] {
        let chunk: UInt64 = 64
        let size = Int(pages.map.pageStructSize)
        var found: [UInt64] = []
        var pfn: UInt64 = 0
        while pfn < pages.maxPFN {
            if Cancellation.isRequested {
                warnings.append(WalkWarning(address: pages.map.base, message: "memory map scan interrupted at PFN \(hex(pfn))"))
                break
            }
            guard budget.take() else {
                warnings.append(WalkWarning(address: pages.map.base &+ pfn &* UInt64(size),
                                            message: "memory map scan stopped at PFN \(hex(pfn)): " + budget.spentMessage(entries: found.count, reserve: 0)))
                break
            }
            let n = Int(min(chunk, pages.maxPFN - pfn))
            let at = pages.map.base &+ pfn &* UInt64(size)
            pfn += UInt64(n)
            guard let bytes = try? memory.readVirtual(at, count: n * size) else { continue }
            for i in 0..<n {
                let b = ObjectBytes(address: at &+ UInt64(i * size), start: -i * size, bytes: bytes)
                if let ch = b.unsigned(pages.compoundHead), ch & 1 == 1 { continue }
                guard pages.isSlab(b), b.unsigned(pages.slabCache) == cache else { continue }
                found.append(b.address)
            }
        }
        return found
    }
}
