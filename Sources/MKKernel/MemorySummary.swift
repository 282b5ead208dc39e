import MKFormat
import MKDebugInfo

/// What `kmem -i` shows: the kernel's page counters, in pages, as /proc/meminfo reads them.
public struct MemorySummary {
    public var pageSize: UInt64
    /// `totalram_pages`.
    public var total: UInt64
    /// `vm_zone_stat[NR_FREE_PAGES]`.
    public var free: UInt64
    /// Pages of block devices' page caches (`nr_blockdev_pages()`: the bdev inodes' nrpages).
    public var buffers: UInt64
    /// File pages less swap cache and buffers (`vm_node_stat[NR_FILE_PAGES] - NR_SWAPCACHE - buffers`).
    public var cached: UInt64
    /// `vm_node_stat[NR_SHMEM]`.
    public var shared: UInt64
    /// `vm_node_stat[NR_SLAB_RECLAIMABLE_B] + [NR_SLAB_UNRECLAIMABLE_B]`.
    public var slab: UInt64
    /// `total_swap_pages`, and free swap (`nr_swap_pages`).
    public var totalSwap: UInt64
    public var freeSwap: UInt64
    public var warnings: [WalkWarning]
}

extension Kernel {
    /// A counter of `vm_zone_stat` or `vm_node_stat`, by its enumerator's name.
    func pageStat(_ array: String, _ item: String, enumType: String) throws -> UInt64 {
        let e = try type("enum " + enumType)
        guard let index = e.resolved.enumerators.first(where: { $0.name == item })?.value, index >= 0 else {
            throw KernelError.missingSymbol(item)
        }
        let a = try object(array)
        guard let n = a.type.resolved.count, UInt64(index) < n else {
            throw KernelError.unsupportedLayout(what: array, message: "\(array) has no element \(item) (\(index))")
        }
        let v = try a.index(Int(index))
        return UInt64(bitPattern: v.type.isInteger ? try v.signed() : try v["counter"].signed())
    }

    private func counter(_ name: String) throws -> UInt64 {
        let v = try object(name)
        return UInt64(bitPattern: v.type.isInteger ? try v.signed() : try v["counter"].signed())
    }

    /// The memory summary: each counter as the kernel keeps it (negative per-CPU drift clamps to 0).
    public func memorySummary(budget: WalkBudget = WalkBudget()) throws -> MemorySummary {
        func clamp(_ v: UInt64) -> UInt64 { Int64(bitPattern: v) < 0 ? 0 : v }
        let total = has(variable: "_totalram_pages") ? try counter("_totalram_pages") : try counter("totalram_pages")
        let free = clamp(try pageStat("vm_zone_stat", "NR_FREE_PAGES", enumType: "zone_stat_item"))
        let file = clamp(try pageStat("vm_node_stat", "NR_FILE_PAGES", enumType: "node_stat_item"))
        let swapCache = clamp((try? pageStat("vm_node_stat", "NR_SWAPCACHE", enumType: "node_stat_item")) ?? 0)
        let shmem = clamp(try pageStat("vm_node_stat", "NR_SHMEM", enumType: "node_stat_item"))
        let slab = clamp(try pageStat("vm_node_stat", "NR_SLAB_RECLAIMABLE_B", enumType: "node_stat_item"))
            &+ clamp(try pageStat("vm_node_stat", "NR_SLAB_UNRECLAIMABLE_B", enumType: "node_stat_item"))
        // Buffers: the page caches of the block devices' inodes on blockdev_superblock.
        var warnings: [WalkWarning] = []
        var buffers: UInt64 = 0
        let sb = try object("blockdev_superblock").unsigned()
        if sb != 0 {
            let inode = try type("struct inode")
            let link = try offset(of: "i_sb_list", in: inode)
            let nrpages = try offset(of: "i_data.nrpages", in: inode)
            let head = sb &+ (try offset(of: "s_inodes", in: try type("struct super_block")))
            let walk = ListWalker(memory: memory, budget: budget).walk(head: head)
            warnings += walk.warnings
            for node in walk.nodes {
                if let n = try? memory.readVirtualU64(node &- link &+ nrpages) { buffers &+= clamp(n) }
            }
        }
        let cached = file > swapCache &+ buffers ? file - swapCache - buffers : 0
        let totalSwap = clamp(try counter("total_swap_pages")), freeSwap = clamp(try counter("nr_swap_pages"))
        return MemorySummary(pageSize: target.image.vmcoreInfo?.pageSize ?? 4096, total: total, free: free, buffers: buffers,
                             cached: cached, shared: shmem, slab: slab, totalSwap: totalSwap, freeSwap: freeSwap, warnings: warnings)
    }
}
