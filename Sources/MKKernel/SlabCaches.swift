import MKFormat
import MKDebugInfo

/// One SLUB cache (`struct kmem_cache` on `slab_caches`) with its object
/// counts, as crash's `kmem -s` prints them.
public struct SlabCache {
    public var address: UInt64
    public var name: String
    /// `object_size`: the object as the caller asked for it.
    public var objectSize: UInt64
    /// `size`: the object with its metadata, the stride in a slab.
    public var size: UInt64
    /// Objects per slab and the slab's page order (`oo`).
    public var objectsPerSlab: UInt64
    public var order: UInt64
    /// Bytes of one slab (page size << order).
    public var slabSize: UInt64
    /// Slabs and objects of all nodes (`nr_slabs`, `total_objects`).
    public var slabs: UInt64
    public var total: UInt64
    /// Objects not on any freelist (a slab's nor a CPU's).
    public var allocated: UInt64
    public var warnings: [WalkWarning]
    /// Where a free object keeps its free pointer (`offset`), and the key
    /// that obfuscates it (`random`; nil without CONFIG_SLAB_FREELIST_HARDENED).
    public var freePointerOffset: UInt64
    public var freelistKey: UInt64?
    /// `red_left_pad`: bytes before each object (SLUB's left red zone; 0 without debugging).
    public var redLeftPad: UInt64 = 0
}

/// Where SLUB's structures keep what `kmem -s` counts, from DWARF.
struct SlabLayout {
    let cache: CType
    let cpuSlab: Field
    let size: Field
    let objectSize: Field
    let offset: Field
    let oo: Field
    let name: Field
    let list: UInt64
    /// `random`: present when CONFIG_SLAB_FREELIST_HARDENED obfuscates freelist pointers.
    let random: Field?
    let redLeftPad: Field?
    let node: UInt64
    let nodeSlots: Int
    let nodePartial: UInt64
    let nodeSlabs: Field
    let nodeTotal: Field
    /// `kmem_cache_cpu.freelist`, `.slab` (6.1+; `.page` before), `.partial`.
    let cpuFreelist: Field
    let cpuSlabSlab: Field
    let cpuPartial: Field?
    let slabType: CType
    let slabList: UInt64
    let slabNext: Field?
    let slabFreelist: Field
    let slabInuse: Field
    let slabObjects: Field
    let pageSize: UInt64

    init(_ kernel: Kernel) throws {
        cache = try kernel.type("struct kmem_cache")
        cpuSlab = try kernel.field("cpu_slab", in: cache)
        size = try kernel.field("size", in: cache)
        objectSize = try kernel.field("object_size", in: cache)
        offset = try kernel.field("offset", in: cache)
        oo = try kernel.field("oo", in: cache)
        name = try kernel.field("name", in: cache)
        list = try kernel.offset(of: "list", in: cache)
        random = kernel.optionalField("random", in: cache)
        redLeftPad = kernel.optionalField("red_left_pad", in: cache)
        let nodes = try kernel.field("node", in: cache)
        guard let n = nodes.type.resolved.count, n > 0, n <= 1 << 16 else {
            throw KernelError.unsupportedLayout(what: "struct kmem_cache.node", message: "kmem_cache.node is not an array of node pointers")
        }
        node = UInt64(nodes.offset)
        nodeSlots = Int(n)
        let kcn = try kernel.type("struct kmem_cache_node")
        nodePartial = try kernel.offset(of: "partial", in: kcn)
        guard let slabs = kernel.optionalField("nr_slabs.counter", in: kcn) ?? kernel.optionalField("nr_slabs", in: kcn),
              let total = kernel.optionalField("total_objects.counter", in: kcn) ?? kernel.optionalField("total_objects", in: kcn) else {
            throw KernelError.unsupportedLayout(what: "struct kmem_cache_node",
                                                message: "kmem_cache_node has no nr_slabs/total_objects (a kernel without CONFIG_SLUB_DEBUG, or not SLUB)")
        }
        nodeSlabs = slabs
        nodeTotal = total
        let kcc = try kernel.type("struct kmem_cache_cpu")
        cpuFreelist = try kernel.field("freelist", in: kcc)
        guard let s = kernel.optionalField("slab", in: kcc) ?? kernel.optionalField("page", in: kcc) else {
            throw KernelError.unsupportedLayout(what: "struct kmem_cache_cpu", message: "kmem_cache_cpu has neither slab (6.1+) nor page")
        }
        cpuSlabSlab = s
        cpuPartial = kernel.optionalField("partial", in: kcc)
        slabType = try (try? kernel.type("struct slab")) ?? kernel.type("struct page")
        slabList = try kernel.offset(of: "slab_list", in: slabType)
        slabNext = kernel.optionalField("next", in: slabType)
        slabFreelist = try kernel.field("freelist", in: slabType)
        slabInuse = try kernel.field("inuse", in: slabType)
        slabObjects = try kernel.field("objects", in: slabType)
        pageSize = try kernel.memory.requireLayout().basePageSize
    }
}

extension Kernel {
    /// The caches on `slab_caches`, in list order; with `name`, only that one.
    public func slabCaches(named name: String? = nil, counting: Bool = true, budget: WalkBudget = WalkBudget()) throws -> [SlabCache] {
        let layout = try SlabLayout(self)
        let head = try address(of: "slab_caches")
        let walk = ListWalker(memory: memory, budget: budget).walk(head: head)
        let nodes = try slabNodeCount()
        let cpus = (try? self.cpus(.online)) ?? Array(0..<((try? nrCPUIds()) ?? 1))
        let offsets = try perCPUOffsets()
        var result: [SlabCache] = []
        var listWarnings = walk.warnings
        for link in walk.nodes {
            let at = link &- layout.list
            do {
                let b = try readObject(at: at, covering: [layout.size, layout.objectSize, layout.oo, layout.name, layout.offset]
                                       + (layout.random.map { [$0] } ?? []))
                let cacheName = try memory.readCString(b.unsigned(layout.name) ?? 0, limit: 256)
                if let name, cacheName != name { continue }
                var cache = try slabCache(at: at, name: cacheName, bytes: b, layout: layout)
                if counting {
                    try count(&cache, layout: layout, nodes: nodes, cpus: cpus, offsets: offsets, budget: budget)
                }
                result.append(cache)
            } catch let e as KernelError {
                throw e
            } catch {
                listWarnings.append(WalkWarning(address: at, message: "cannot read the kmem_cache: \(error)"))
            }
        }
        if let first = result.first, !listWarnings.isEmpty {
            result[0].warnings = listWarnings + first.warnings
        } else if !listWarnings.isEmpty, let w = listWarnings.first {
            throw KernelError.notInMemory(what: "slab_caches", message: w.description)
        }
        return result
    }

    /// `nr_node_ids`, or 1 on a kernel built without NUMA.
    func slabNodeCount() throws -> Int {
        guard has(variable: "nr_node_ids") else { return 1 }
        let n = try object("nr_node_ids").unsigned()
        guard n >= 1, n <= 1 << 16 else {
            throw KernelError.implausible(what: "nr_node_ids", value: n, address: try? address(of: "nr_node_ids"),
                                          message: "nr_node_ids is \(n), not a node count")
        }
        return Int(n)
    }

    func slabCache(at at: UInt64, name: String, bytes b: ObjectBytes, layout: SlabLayout) throws -> SlabCache {
        let oo = b.unsigned(layout.oo) ?? 0
        let order = oo >> 16
        guard order < 20 else {
            throw KernelError.implausible(what: "kmem_cache.oo", value: oo, address: at, message: "kmem_cache \(hex(at)) (\(name)): oo \(hex(oo)) has order \(order)")
        }
        return SlabCache(address: at, name: name, objectSize: b.unsigned(layout.objectSize) ?? 0, size: b.unsigned(layout.size) ?? 0,
                         objectsPerSlab: oo & 0xffff, order: order, slabSize: layout.pageSize << order,
                         slabs: 0, total: 0, allocated: 0, warnings: [],
                         freePointerOffset: b.unsigned(layout.offset) ?? 0, freelistKey: layout.random.flatMap { b.unsigned($0) })
    }

    /// Fills in slabs, total and allocated: the nodes' counters, less the
    /// free objects of the nodes' partial slabs and of each online CPU's
    /// freelist and partial slabs.
    private func count(_ cache: inout SlabCache, layout: SlabLayout, nodes: Int, cpus: [Int], offsets: [UInt64],
                       budget: WalkBudget) throws {
        let visits = WalkVisits()
        var free: UInt64 = 0
        let lists = ListWalker(memory: memory, budget: budget, visits: visits)
        for n in 0..<min(nodes, layout.nodeSlots) {
            let kcn = try memory.readVirtualU64(cache.address &+ layout.node &+ UInt64(n) &* 8)
            if kcn == 0 { continue }
            let b = try readObject(at: kcn, covering: [layout.nodeSlabs, layout.nodeTotal])
            cache.slabs = cache.slabs &+ (b.unsigned(layout.nodeSlabs) ?? 0)
            cache.total = cache.total &+ (b.unsigned(layout.nodeTotal) ?? 0)
            let walk = lists.walk(head: kcn &+ layout.nodePartial)
            cache.warnings += walk.warnings
            for link in walk.nodes {
                free = free &+ slabFree(link &- layout.slabList, layout: layout, cache: &cache)
            }
        }
        let cpuSlab = try memory.readVirtualU64(cache.address &+ UInt64(layout.cpuSlab.offset))
        for cpu in cpus {
            guard let c = try? perCPUAddress(cpuSlab, cpu: cpu, offsets: offsets) else { continue }
            let b: ObjectBytes
            do {
                b = try readObject(at: c, covering: [layout.cpuFreelist, layout.cpuSlabSlab] + (layout.cpuPartial.map { [$0] } ?? []))
            } catch {
                cache.warnings.append(WalkWarning(address: c, message: "cannot read CPU \(cpu)'s kmem_cache_cpu: \(error)"))
                continue
            }
            if let slab = b.unsigned(layout.cpuSlabSlab), slab != 0 {
                // The active slab's inuse is its objects: its free ones are on the CPU's freelist.
                let chain = freelistLength(b.unsigned(layout.cpuFreelist) ?? 0, cache: cache, layout: layout, budget: budget)
                free = free &+ chain.count
                cache.warnings += chain.warnings
            }
            if let p = layout.cpuPartial, let next = layout.slabNext, var slab = b.unsigned(p), slab != 0 {
                let walk = visits.beginWalk()
                var steps = 0
                while slab != 0 {
                    guard budget.take() else {
                        cache.warnings.append(WalkWarning(address: slab, message: budget.spentMessage(entries: steps, reserve: 0)))
                        break
                    }
                    if visits.visit(slab, walk: walk) != nil {
                        cache.warnings.append(WalkWarning(address: slab, message: "CPU \(cpu)'s partial slabs loop back to \(hex(slab))"))
                        break
                    }
                    free = free &+ slabFree(slab, layout: layout, cache: &cache)
                    steps += 1
                    do {
                        slab = try memory.readVirtualU64(slab &+ UInt64(next.offset))
                    } catch {
                        cache.warnings.append(WalkWarning(address: slab, message: "cannot read the next partial slab: \(error)"))
                        break
                    }
                }
            }
        }
        cache.allocated = cache.total >= free ? cache.total - free : 0
        if cache.total < free {
            cache.warnings.append(WalkWarning(address: cache.address, message: "\(free) free objects counted, more than the \(cache.total) in total"))
        }
    }

    /// `objects - inuse` of the slab at `slab`.
    private func slabFree(_ slab: UInt64, layout: SlabLayout, cache: inout SlabCache) -> UInt64 {
        do {
            let b = try readObject(at: slab, covering: [layout.slabInuse, layout.slabObjects])
            let objects = b.unsigned(layout.slabObjects) ?? 0
            let inuse = b.unsigned(layout.slabInuse) ?? 0
            guard inuse <= objects else {
                cache.warnings.append(WalkWarning(address: slab, message: "slab has inuse \(inuse) above its \(objects) objects"))
                return 0
            }
            return objects - inuse
        } catch {
            cache.warnings.append(WalkWarning(address: slab, message: "cannot read the slab: \(error)"))
            return 0
        }
    }

    /// The free pointer stored in the free object at `object`, decoded
    /// (CONFIG_SLAB_FREELIST_HARDENED: stored ^ random ^ byte-swapped address of the pointer).
    func nextFree(after object: UInt64, cache: SlabCache) throws -> UInt64 {
        let at = object &+ cache.freePointerOffset
        let stored = try memory.readVirtualU64(at)
        guard let random = cache.freelistKey else { return stored }
        return stored ^ random ^ at.byteSwapped
    }

    /// How many objects the freelist from `first` holds, bounded by the slab's objects and the budget.
    func freelistLength(_ first: UInt64, cache: SlabCache, layout: SlabLayout, budget: WalkBudget) -> (count: UInt64, warnings: [WalkWarning]) {
        var count: UInt64 = 0
        var object = first
        var seen = Set<UInt64>()
        let bound = max(cache.objectsPerSlab, 1) &* 4
        while object != 0 {
            guard count < bound else {
                return (count, [WalkWarning(address: object, message: "freelist longer than \(bound) objects; stopped")])
            }
            guard budget.take() else {
                return (count, [WalkWarning(address: object, message: budget.spentMessage(entries: Int(count), reserve: 0))])
            }
            guard seen.insert(object).inserted else {
                return (count, [WalkWarning(address: object, message: "freelist loops back to \(hex(object))")])
            }
            count += 1
            do {
                object = try nextFree(after: object, cache: cache)
            } catch {
                return (count, [WalkWarning(address: object, message: "cannot read the free pointer: \(error)")])
            }
        }
        return (count, [])
    }
}
