import MKFormat
import MKMemory
import MKDebugInfo

/// Where `kmem -S` found a slab: a CPU's active slab or partial list, a
/// node's partial or full list (full: SLUB debugging only), or the memory
/// map (a full slab, on no list).
public enum SlabPlace: Equatable {
    case cpu(Int), cpuPartial(Int), nodePartial(Int), nodeFull(Int), unlisted

    /// The JSON name: cpu, cpu_partial, node_partial, node_full, unlisted.
    public var name: String {
        switch self {
        case .cpu: return "cpu"
        case .cpuPartial: return "cpu_partial"
        case .nodePartial: return "node_partial"
        case .nodeFull: return "node_full"
        case .unlisted: return "unlisted"
        }
    }

    public var cpu: Int? {
        switch self { case let .cpu(c), let .cpuPartial(c): return c; default: return nil }
    }

    public var node: Int? {
        switch self { case let .nodePartial(n), let .nodeFull(n): return n; default: return nil }
    }
}

/// One slab of a cache and the state of each of its objects.
public struct SlabContents {
    /// The `struct slab` (the head `struct page`) and the memory it describes.
    public var slab: UInt64
    public var memory: UInt64
    public var place: SlabPlace
    /// The slab's `inuse` counter (for a CPU's active slab: all its objects).
    public var inuse: UInt64
    /// Object addresses in slab order, and whether each is on no freelist.
    public var objects: [UInt64] = []
    public var allocated: [Bool] = []
    public var freeCount: Int { allocated.reduce(0) { $0 + ($1 ? 0 : 1) } }
}

/// `kmem -S CACHE`: every slab found and its objects, up to a limit.
public struct SlabObjectList {
    public var cache: SlabCache
    public var slabs: [SlabContents] = []
    public var warnings: [WalkWarning] = []
    /// The object limit was reached: later slabs and objects are not listed.
    public var truncated = false
    public var objectCount: Int { slabs.reduce(0) { $0 + $1.objects.count } }
}

/// Where a slab object is: its cache, slab, start and state.
public struct SlabObjectInfo {
    public var cache: UInt64
    public var cacheName: String
    public var slab: UInt64
    public var memory: UInt64
    /// The object's start (nil when the address is in the slab but in no object: its tail, a red zone).
    public var object: UInt64?
    public var offset: UInt64
    /// Whether it is on no freelist; nil when a freelist walk stopped short.
    public var allocated: Bool?
    public var warnings: [WalkWarning] = []
}

extension Kernel {
    /// The `kmem_cache` at `at`, read without counting its objects.
    func slabCache(at at: UInt64, layout: SlabLayout) throws -> SlabCache {
        let b = try readObject(at: at, covering: [layout.size, layout.objectSize, layout.oo, layout.name, layout.offset]
                               + (layout.random.map { [$0] } ?? []) + (layout.redLeftPad.map { [$0] } ?? []))
        let name = (try? memory.readCString(b.unsigned(layout.name) ?? 0, limit: 256)) ?? "?"
        var c = try slabCache(at: at, name: name, bytes: b, layout: layout)
        c.redLeftPad = layout.redLeftPad.flatMap { b.unsigned($0) } ?? 0
        return c
    }

    /// The free objects on the chain from `first`, each checked to be an
    /// object of the slab at `memory` (`count` objects); bounded by the
    /// slab's objects and `budget`, cycle-checked.
    func freeObjects(from first: UInt64, slab: UInt64, memory base: UInt64, count: UInt64, cache: SlabCache,
                     budget: WalkBudget, what: String) -> (free: Set<UInt64>, warnings: [WalkWarning]) {
        var free = Set<UInt64>()
        var object = first
        let start = base &+ cache.redLeftPad
        let stride = max(cache.size, 1)
        while object != 0 {
            guard object >= start, (object - start) % stride == 0, (object - start) / stride < count else {
                return (free, [WalkWarning(address: object, message: "\(what) of slab \(hex(slab)) leads to \(hex(object)), no object of the slab")])
            }
            guard budget.take() else {
                return (free, [WalkWarning(address: object, message: "\(what) of slab \(hex(slab)): " + budget.spentMessage(entries: free.count, reserve: 0))])
            }
            guard free.insert(object).inserted else {
                return (free, [WalkWarning(address: object, message: "\(what) of slab \(hex(slab)) loops back to \(hex(object))")])
            }
            do {
                object = try nextFree(after: object, cache: cache)
            } catch {
                return (free, [WalkWarning(address: object, message: "\(what) of slab \(hex(slab)): cannot read the free pointer: \(error)")])
            }
        }
        return (free, [])
    }

    /// A slab's `freelist`, `inuse` and `objects`, with its cache checked.
    private func slabHeader(_ slab: UInt64, layout: SlabLayout, pages: SlabPageLayout, cache: SlabCache) throws
        -> (freelist: UInt64, inuse: UInt64, objects: UInt64, memory: UInt64) {
        let b = try readObject(at: slab, covering: [layout.slabFreelist, layout.slabInuse, layout.slabObjects, pages.slabCache])
        let owner = b.unsigned(pages.slabCache) ?? 0
        guard owner == cache.address else {
            throw KernelError.implausible(what: "slab.slab_cache", value: owner, address: slab,
                                          message: "slab \(hex(slab)) belongs to kmem_cache \(hex(owner)), not \(cache.name)'s \(hex(cache.address))")
        }
        guard let mem = pages.memory(ofSlab: slab) else {
            throw KernelError.implausible(what: "struct slab", value: slab, address: slab, message: "slab \(hex(slab)) is no struct page of the memory map")
        }
        let objects = b.unsigned(layout.slabObjects) ?? 0
        guard objects <= max(cache.objectsPerSlab, 1) &* 2, objects &* max(cache.size, 1) <= cache.slabSize &* 2 else {
            throw KernelError.implausible(what: "slab.objects", value: objects, address: slab,
                                          message: "slab \(hex(slab)) has \(objects) objects, more than \(cache.name)'s slabs hold")
        }
        return (b.unsigned(layout.slabFreelist) ?? 0, b.unsigned(layout.slabInuse) ?? 0, objects, mem)
    }

    /// Every slab of `cache` with its objects' states: each online CPU's
    /// active slab (its free objects: the slab's freelist and the CPU's)
    /// and partial slabs, each node's partial (and, with SLUB debugging,
    /// full) slabs, then the slabs on no list, from the memory map. At most
    /// `limit` objects; every walk spends `budget` and is cycle-checked.
    public func slabObjects(of cache: SlabCache, limit: Int, budget: WalkBudget) throws -> SlabObjectList {
        let layout = try SlabLayout(self)
        let pages = try SlabPageLayout(self, slab: layout)
        var cache = cache
        if let pad = layout.redLeftPad, let b = try? readObject(at: cache.address, covering: [pad]) {
            cache.redLeftPad = b.unsigned(pad) ?? 0
        }
        var result = SlabObjectList(cache: cache)
        var seen = Set<UInt64>()
        let visits = WalkVisits()

        /// Adds one slab; false once the limit is reached.
        func add(_ slab: UInt64, _ place: SlabPlace, cpuFreelist: UInt64 = 0) -> Bool {
            guard !result.truncated else { return false }
            guard seen.insert(slab).inserted else {
                result.warnings.append(WalkWarning(address: slab, message: "slab \(hex(slab)) is met a second time (\(place.name))"))
                return true
            }
            let h: (freelist: UInt64, inuse: UInt64, objects: UInt64, memory: UInt64)
            do { h = try slabHeader(slab, layout: layout, pages: pages, cache: cache) } catch {
                result.warnings.append(WalkWarning(address: slab, message: "\(error)"))
                return true
            }
            var free = freeObjects(from: h.freelist, slab: slab, memory: h.memory, count: h.objects, cache: cache, budget: budget, what: "the freelist")
            result.warnings += free.warnings
            if cpuFreelist != 0 {
                let c = freeObjects(from: cpuFreelist, slab: slab, memory: h.memory, count: h.objects, cache: cache, budget: budget,
                                    what: "CPU \(place.cpu ?? -1)'s freelist")
                free.free.formUnion(c.free)
                result.warnings += c.warnings
            }
            var s = SlabContents(slab: slab, memory: h.memory, place: place, inuse: h.inuse)
            for i in 0..<h.objects {
                guard result.objectCount + s.objects.count < limit else {
                    result.truncated = true
                    break
                }
                let o = h.memory &+ cache.redLeftPad &+ i &* cache.size
                s.objects.append(o)
                s.allocated.append(!free.free.contains(o))
            }
            result.slabs.append(s)
            return !result.truncated
        }

        let cpus = (try? self.cpus(.online)) ?? Array(0..<((try? nrCPUIds()) ?? 1))
        let offsets = try perCPUOffsets()
        let cpuSlab = try memory.readVirtualU64(cache.address &+ UInt64(layout.cpuSlab.offset))
        cpuLoop: for cpu in cpus {
            guard let c = try? perCPUAddress(cpuSlab, cpu: cpu, offsets: offsets) else { continue }
            let b: ObjectBytes
            do {
                b = try readObject(at: c, covering: [layout.cpuFreelist, layout.cpuSlabSlab] + (layout.cpuPartial.map { [$0] } ?? []))
            } catch {
                result.warnings.append(WalkWarning(address: c, message: "cannot read CPU \(cpu)'s kmem_cache_cpu: \(error)"))
                continue
            }
            if let slab = b.unsigned(layout.cpuSlabSlab), slab != 0,
               !add(slab, .cpu(cpu), cpuFreelist: b.unsigned(layout.cpuFreelist) ?? 0) { break cpuLoop }
            guard let p = layout.cpuPartial, let next = layout.slabNext, var slab = b.unsigned(p), slab != 0 else { continue }
            let walk = visits.beginWalk()
            var steps = 0
            while slab != 0 {
                guard budget.take() else {
                    result.warnings.append(WalkWarning(address: slab, message: "CPU \(cpu)'s partial slabs: " + budget.spentMessage(entries: steps, reserve: 0)))
                    break
                }
                if visits.visit(slab, walk: walk) != nil {
                    result.warnings.append(WalkWarning(address: slab, message: "CPU \(cpu)'s partial slabs loop back to \(hex(slab))"))
                    break
                }
                if !add(slab, .cpuPartial(cpu)) { break cpuLoop }
                steps += 1
                do { slab = try memory.readVirtualU64(slab &+ UInt64(next.offset)) } catch {
                    result.warnings.append(WalkWarning(address: slab, message: "cannot read the next partial slab: \(error)"))
                    break
                }
            }
        }
        let lists = ListWalker(memory: memory, budget: budget, visits: visits)
        let full = try? self.offset(of: "full", in: type("struct kmem_cache_node"))
        nodeLoop: for n in 0..<min(try slabNodeCount(), layout.nodeSlots) where !result.truncated {
            let kcn = try memory.readVirtualU64(cache.address &+ layout.node &+ UInt64(n) &* 8)
            if kcn == 0 { continue }
            for (offset, place) in [(layout.nodePartial, SlabPlace.nodePartial(n))] + (full.map { [($0, SlabPlace.nodeFull(n))] } ?? []) {
                let walk = lists.walk(head: kcn &+ offset)
                result.warnings += walk.warnings.map { WalkWarning(address: $0.address, message: "node \(n)'s \(place.name) list: \($0.message)") }
                for link in walk.nodes where !add(link &- layout.slabList, place) { break nodeLoop }
            }
        }
        if !result.truncated {
            for slab in slabsInMemoryMap(of: cache.address, pages: pages, budget: budget, warnings: &result.warnings)
            where !seen.contains(slab) {
                if !add(slab, .unlisted) { break }
            }
        }
        return result
    }

    /// The slab object holding a direct-map address, or nil when the
    /// address's page is no slab's. Free: on its slab's freelist or, for
    /// a CPU's active slab, on that CPU's freelist.
    public func slabObject(containing address: UInt64, budget: WalkBudget) throws -> SlabObjectInfo? {
        let layout = try SlabLayout(self)
        let pages = try SlabPageLayout(self, slab: layout)
        guard let (slab, cacheAddress) = try self.slab(containing: address, pages: pages) else { return nil }
        let cache = try slabCache(at: cacheAddress, layout: layout)
        let h = try slabHeader(slab, layout: layout, pages: pages, cache: cache)
        var info = SlabObjectInfo(cache: cacheAddress, cacheName: cache.name, slab: slab, memory: h.memory, object: nil, offset: 0, allocated: nil)
        let start = h.memory &+ cache.redLeftPad
        let stride = max(cache.size, 1)
        guard address >= start, (address - start) / stride < h.objects else { return info }
        let object = start &+ (address - start) / stride &* stride
        info.object = object
        info.offset = address - object
        var free = freeObjects(from: h.freelist, slab: slab, memory: h.memory, count: h.objects, cache: cache, budget: budget, what: "the freelist")
        let cpuSlab = try memory.readVirtualU64(cacheAddress &+ UInt64(layout.cpuSlab.offset))
        let offsets = try perCPUOffsets()
        for cpu in (try? cpus(.online)) ?? [] {
            guard let c = try? perCPUAddress(cpuSlab, cpu: cpu, offsets: offsets),
                  let b = try? readObject(at: c, covering: [layout.cpuFreelist, layout.cpuSlabSlab]),
                  b.unsigned(layout.cpuSlabSlab) == slab else { continue }
            let chain = freeObjects(from: b.unsigned(layout.cpuFreelist) ?? 0, slab: slab, memory: h.memory, count: h.objects,
                                    cache: cache, budget: budget, what: "CPU \(cpu)'s freelist")
            free.free.formUnion(chain.free)
            free.warnings += chain.warnings
        }
        info.warnings = free.warnings
        info.allocated = free.free.contains(object) ? false : (free.warnings.isEmpty ? true : nil)
        return info
    }
}
