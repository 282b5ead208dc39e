import MKFormat
import MKMemory
import MKDebugInfo

/// A `struct page`: where it is, the frame it describes and what it says of it.
public struct PageDescriptor {
    public var address: UInt64
    public var pfn: UInt64
    public var flags: UInt64
    /// The `enum pageflags` names of the set bits below NR_PAGEFLAGS (`PG_` dropped).
    public var flagNames: [String]
    public var refcount: Int64
    public var mapcount: Int64
    public var mapping: UInt64
    public var index: UInt64
}

extension Kernel {
    /// The `struct page` of frame `pfn`, read whole and decoded from DWARF's layout and `enum pageflags`.
    public func pageDescriptor(pfn: UInt64) throws -> PageDescriptor {
        let map = try MemoryMap(target: target) { try? self.type("struct page").byteSize ?? 0 }
        guard let address = map.page(ofPhysical: pfn &* map.pageSize), pfn < (1 << 52) / map.pageSize else {
            throw KernelError.outOfRange(value: pfn, maximum: nil, message: "PFN \(hex(pfn)) is past any physical address")
        }
        let page = try type("struct page")
        let fields = [try field("flags", in: page), try field("_refcount", in: page), try field("mapping", in: page),
                      try field("index", in: page)]
        let mapcount = optionalField("_mapcount", in: page)
        let b = try readObject(at: address, covering: fields + [mapcount].compactMap { $0 })
        let flags = b.unsigned(fields[0]) ?? 0
        var names: [String] = []
        if let e = try? type("enum pageflags") {
            let limit = e.resolved.enumerators.first { $0.name == "__NR_PAGEFLAGS" }?.value ?? 64
            var seen = Set<Int64>()
            for (name, value) in e.resolved.enumerators where value >= 0 && value < min(limit, 64) && name.hasPrefix("PG_") {
                // Aliases (PG_checked = PG_owner_priv_1, …) name the same bit: the first name is the bit's own.
                if flags & (1 << UInt64(value)) != 0, seen.insert(value).inserted { names.append(String(name.dropFirst(3))) }
            }
        }
        return PageDescriptor(address: address, pfn: pfn, flags: flags, flagNames: names,
                              refcount: b.signed(fields[1]).map { Int64(Int32(truncatingIfNeeded: $0)) } ?? 0,
                              mapcount: mapcount.flatMap { b.signed($0) }.map { Int64(Int32(truncatingIfNeeded: $0)) } ?? 0,
                              mapping: b.unsigned(fields[2]) ?? 0, index: b.unsigned(fields[3]) ?? 0)
    }
}
