import MKFormat

/// A kernel's memory as a debugger sees it: physical reads from the image and
/// virtual reads through the text map, the direct map or the page tables.
public final class KernelMemory {
    public let image: CoreImage
    /// The architecture's address layout, from VMCOREINFO (nil without it).
    public private(set) var addressLayout: (any KernelAddressLayout)?
    /// The layout when the kernel is x86-64 (for its own facts: paging levels, `phys_base`).
    public var layout: X86_64Layout? { addressLayout as? X86_64Layout }
    private let cache = PageCache()
    /// Reads bigger than this skip the page cache.
    static let cachedReadLimit = 256

    public init(image: CoreImage) throws {
        self.image = image
        if let info = image.vmcoreInfo {
            var layout = try KernelAddressLayouts.make(machine: image.elfMachine, vmcoreInfo: info, imagePath: image.path)
            if let last = image.physicalRanges.last { layout.physicalLimit = last.end }
            self.addressLayout = layout
        }
    }

    /// Whether reads may be cached: true for post-mortem images and frozen
    /// live targets, false for running ones.
    public var cachingEnabled: Bool {
        get { cache.enabled }
        set { cache.enabled = newValue; cache.clear() }
    }

    public func requireLayout() throws -> any KernelAddressLayout {
        guard let addressLayout else { throw LayoutError.noVmcoreInfo(image: image.path) }
        return addressLayout
    }

    /// Learns the direct map's base from the layout's variable
    /// (`page_offset_base`, at its run-time address), or falls back to the
    /// layout's default.
    public func setPageOffsetBase(fromVariableAt address: UInt64?) throws {
        guard var layout = addressLayout else { return }
        layout.setDirectMapBase(address.flatMap { try? readVirtualU64($0) })
        self.addressLayout = layout
    }

    /// Tells the layout where the kernel image ends (`_end` at run time).
    public func setKernelImageEnd(_ end: UInt64?) {
        guard let end, var layout = addressLayout else { return }
        layout.setKernelImageEnd(end)
        self.addressLayout = layout
    }

    // MARK: physical

    public func readPhysical(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        if buffer.count <= Self.cachedReadLimit && cache.enabled {
            let pageSize = UInt64(PageCache.pageSize)
            var done = 0
            while done < buffer.count {
                guard let at = checkedAdd(address, UInt64(done)) else {
                    throw MemoryError.physicalNotPresent(address: address, image: image.path)
                }
                let pfn = at / pageSize
                let within = Int(at % pageSize)
                let page = try cache.page(pfn) { try image.readPhysical(pfn * pageSize, count: PageCache.pageSize) }
                let n = min(buffer.count - done, PageCache.pageSize - within)
                page.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: src[within..<(within + n)]))
                }
                done += n
            }
            return
        }
        try image.readPhysical(address, into: buffer)
    }

    public func readPhysical(_ address: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        try bytes.withUnsafeMutableBytes { try readPhysical(address, into: $0) }
        return bytes
    }

    // MARK: virtual

    /// Translates by the cheapest method that applies.
    public func translate(_ va: UInt64) throws -> Translation {
        let layout = try requireLayout()
        if let pa = layout.textToPhysical(va) {
            return Translation(virtual: va, physical: pa, pageSize: 4096, method: .kernelText, steps: [])
        }
        if let pa = layout.directToPhysical(va) {
            return Translation(virtual: va, physical: pa, pageSize: 4096, method: .directMap, steps: [])
        }
        return try walk(va)
    }

    /// Translates through the page tables only, whatever range `va` is in.
    public func walk(_ va: UInt64) throws -> Translation {
        try pageTableWalker().translate(va)
    }

    /// The kernel's page-table walker, reading entries from physical memory.
    public func pageTableWalker() throws -> any PageTableWalker {
        try requireLayout().makePageTableWalker(readEntry: readEntry)
    }

    /// A walker of the page tables whose top-level table is at physical `root` (a process's).
    public func pageTableWalker(root: UInt64) throws -> any PageTableWalker {
        try requireLayout().makePageTableWalker(root: root, readEntry: readEntry)
    }

    private func readEntry(_ entryAddress: UInt64) throws -> UInt64 {
        var entry: UInt64 = 0
        try withUnsafeMutableBytes(of: &entry) { try readPhysical(entryAddress, into: $0) }
        return UInt64(littleEndian: entry)
    }

    public func readVirtual(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws {
        if !image.virtualRanges.isEmpty, (try? image.readVirtualDirect(address, into: buffer)) != nil {
            return
        }
        var done = 0
        while done < buffer.count {
            try Cancellation.check()
            guard let va = checkedAdd(address, UInt64(done)) else {
                throw MemoryError.virtualNotMapped(address: address, reason: "range wraps past the top of the address space")
            }
            let t = try translate(va)
            // Text and direct map are linear: one read covers the whole rest.
            // A page-table mapping holds until the end of its page.
            let linear = t.method != .pageTables
            let remainingInPage = t.pageSize - (va & (t.pageSize - 1))
            let n = linear ? buffer.count - done : Int(min(UInt64(buffer.count - done), remainingInPage))
            do {
                try readPhysical(t.physical, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<(done + n)]))
            } catch let e as MemoryError {
                // Name the virtual address the user asked for, and what it mapped to.
                switch e {
                case let .physicalNotPresent(pa, _), let .pageExcluded(pa, _):
                    let delta = pa >= t.physical ? pa - t.physical : 0
                    throw MemoryError.mappedUnreadable(address: va &+ delta, method: t.method.rawValue, physical: e)
                default:
                    throw e
                }
            }
            done += n
        }
    }

    /// For scans across a range with holes (an image's freed init sections):
    /// what can be read, page by page when the whole cannot, the rest zero.
    /// False when not one page could be read.
    public func readVirtualSkippingHoles(_ address: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        if (try? readVirtual(address, into: buffer)) != nil { return true }
        guard let base = buffer.baseAddress else { return false }
        var any = false
        var done = 0
        while done < buffer.count {
            let va = address &+ UInt64(done)
            let n = min(buffer.count - done, 4096 - Int(va & 4095))
            let piece = UnsafeMutableRawBufferPointer(start: base + done, count: n)
            if (try? readVirtual(va, into: piece)) != nil { any = true } else { piece.initializeMemory(as: UInt8.self, repeating: 0) }
            done += n
        }
        return any
    }

    public func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        try bytes.withUnsafeMutableBytes { try readVirtual(address, into: $0) }
        return bytes
    }

    /// One pointer-sized word; read in place (this is under every list and pointer walk).
    public func readVirtualU64(_ address: UInt64) throws -> UInt64 {
        var word: UInt64 = 0
        try withUnsafeMutableBytes(of: &word) { try readVirtual(address, into: $0) }
        return UInt64(littleEndian: word)
    }

    /// A NUL-terminated string, at most `limit` bytes.
    public func readCString(_ address: UInt64, limit: Int = 4096) throws -> String {
        var result: [UInt8] = []
        var at = address
        while result.count < limit {
            try Cancellation.check()
            let chunk = Int(min(UInt64(limit - result.count), 256 - (at & 255)))
            let bytes = try readVirtual(at, count: chunk)
            if let nul = bytes.firstIndex(of: 0) {
                result += bytes[..<nul]
                break
            }
            result += bytes
            guard let next = checkedAdd(at, UInt64(chunk)) else { break }
            at = next
        }
        return String(decoding: result, as: UTF8.self)
    }
}
