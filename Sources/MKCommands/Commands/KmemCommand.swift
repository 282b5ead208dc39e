import MKFormat
import MKSystem
import MKKernel
import MKMemory

/// crash's `kmem -s [CACHE]`: the SLUB caches on `slab_caches` with their
/// object sizes, allocated and total objects, slabs and slab size; `kmem -i`:
/// the memory summary.
enum KmemCommand {
    static let usage = "kmem -s [CACHE] | kmem -i | kmem -p ADDRESS"

    static let spec = CommandSpec(
        name: "kmem", group: "kernel",
        summary: "kernel memory: the slab caches with their object counts (-s), the memory summary (-i)",
        usage: usage, details: """

        -s lists the caches on slab_caches (SLUB): OBJSIZE is object_size, TOTAL and SLABS the
        nodes' total_objects and nr_slabs (CONFIG_SLUB_DEBUG), ALLOCATED the total less the free
        objects of the nodes' partial slabs and of each online CPU's freelist (decoded when
        CONFIG_SLAB_FREELIST_HARDENED obfuscates it) and partial slabs; SSIZE is one slab's size.
        With CACHE, only the cache of that name. -i: the page counters as /proc/meminfo reads
        them (totalram_pages, vm_zone_stat, vm_node_stat; buffers from the block devices' inodes),
        in pages, bytes and percent of the total, as crash prints them. -p ADDRESS: the struct page
        of the frame holding ADDRESS (a physical address, a direct-map address, or the struct
        page's own): its PFN, flags by name (enum pageflags), refcount, mapcount, mapping, index.
        """,
        examples: ["kmem -s", "kmem -s task_struct", "kmem -i", "kmem -p 0x1000000"],
        arguments: [ArgumentSpec("CACHE", .text, .optional)],
        options: [.flag("-s", help: "the slab caches and their object counts"),
                  .flag("-i", help: "the memory summary"),
                  .option("-p", value: ArgumentSpec("ADDRESS", .address, expected: "an address"), help: "the struct page of an address")],
        json: ["caches", "summary", "page", "warnings"],
        excess: "expected at most one cache name"
    ) { args, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        if args.has("-i") { return try summary(kernel, budget: budget) }
        if let word = args.value("-p") { return try page(word, kernel, session) }
        guard args.has("-s") else {
            throw CommandError.usage(command: "kmem", message: "kmem: give -s or -i (kmem -S, ADDR and -p are not implemented yet)", usage: usage)
        }
        let name = args.argument("CACHE")
        let caches: [SlabCache]
        do {
            caches = try kernel.slabCaches(named: name, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("kmem: \(e)", cause: e)
        }
        if let name, caches.isEmpty {
            throw CommandError.unknownName(name, message: "kmem: no slab cache named \(name) on slab_caches")
        }
        var lines = ["CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"]
        var json: [JSONValue] = []
        var warnings: [String] = []
        for c in caches {
            lines.append(hexDigits(c.address).rightPadded(16) + String(c.objectSize).leftPadded(9, with: " ")
                         + String(c.allocated).leftPadded(11, with: " ") + String(c.total).leftPadded(10, with: " ")
                         + String(c.slabs).leftPadded(7, with: " ") + "\(c.slabSize / 1024)k".leftPadded(7, with: " ")
                         + "  " + c.name)
            warnings += c.warnings.map { "\(c.name): \($0)" }
            json.append(.object([("cache", jsonAddress(c.address)), ("name", .string(c.name)),
                                 ("object_size", .int(Int64(clamping: c.objectSize))), ("size", .int(Int64(clamping: c.size))),
                                 ("allocated", .int(Int64(clamping: c.allocated))), ("total", .int(Int64(clamping: c.total))),
                                 ("slabs", .int(Int64(clamping: c.slabs))), ("objects_per_slab", .int(Int64(clamping: c.objectsPerSlab))),
                                 ("order", .int(Int64(clamping: c.order))), ("slab_size", .int(Int64(clamping: c.slabSize)))]))
        }
        let w = KernelCommandSupport.warnings("kmem", warnings, budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("caches", .array(json)), ("summary", .null), ("page", .null), ("warnings", w.json)])
    }

    /// `kmem -i`: crash's table of pages, sizes and shares of the total.
    static func summary(_ kernel: Kernel, budget: WalkBudget) throws -> CommandOutput {
        let m: MemorySummary
        do { m = try kernel.memorySummary(budget: budget) } catch let e as KernelError { throw CommandError.failed("kmem -i: \(e)", cause: e) }
        func size(_ pages: UInt64) -> String { sizeText(pages &* m.pageSize) }
        func share(_ pages: UInt64, of total: UInt64, _ what: String) -> String {
            total == 0 ? "" : "\(pages &* 100 / total)% of \(what)"
        }
        let used = m.total > m.free ? m.total - m.free : 0
        let rows: [(String, UInt64, String)] = [
            ("TOTAL MEM", m.total, "----"), ("FREE", m.free, share(m.free, of: m.total, "TOTAL MEM")),
            ("USED", used, share(used, of: m.total, "TOTAL MEM")), ("SHARED", m.shared, share(m.shared, of: m.total, "TOTAL MEM")),
            ("BUFFERS", m.buffers, share(m.buffers, of: m.total, "TOTAL MEM")), ("CACHED", m.cached, share(m.cached, of: m.total, "TOTAL MEM")),
            ("SLAB", m.slab, share(m.slab, of: m.total, "TOTAL MEM")), ("TOTAL SWAP", m.totalSwap, "----"),
            ("SWAP USED", m.totalSwap > m.freeSwap ? m.totalSwap - m.freeSwap : 0,
             share(m.totalSwap > m.freeSwap ? m.totalSwap - m.freeSwap : 0, of: m.totalSwap, "TOTAL SWAP")),
            ("SWAP FREE", m.freeSwap, share(m.freeSwap, of: m.totalSwap, "TOTAL SWAP"))]
        var lines = ["                 PAGES        TOTAL      PERCENTAGE"]
        for (name, pages, pct) in rows {
            lines.append(name.leftPadded(13, with: " ") + String(pages).leftPadded(10, with: " ") + "  "
                         + size(pages).leftPadded(11, with: " ") + "  " + pct)
        }
        let w = KernelCommandSupport.warnings("kmem -i", m.warnings.map(\.description), budget: budget)
        let summary: JSONValue = .object([
            ("page_size", .uint(m.pageSize)), ("total", .uint(m.total)), ("free", .uint(m.free)), ("used", .uint(used)),
            ("shared", .uint(m.shared)), ("buffers", .uint(m.buffers)), ("cached", .uint(m.cached)), ("slab", .uint(m.slab)),
            ("total_swap", .uint(m.totalSwap)), ("free_swap", .uint(m.freeSwap))])
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("caches", .array([])), ("summary", summary), ("page", .null), ("warnings", w.json)])
    }

    /// `kmem -p ADDRESS`: the frame's `struct page`.
    static func page(_ word: String, _ kernel: Kernel, _ session: Session) throws -> CommandOutput {
        let target = try session.requireTarget()
        let value = try AddressExpression.evaluate(word, target: target)
        let map = try MemoryMap(target: target) { try? kernel.type("struct page").byteSize ?? 0 }
        let directBase = target.memory.addressLayout?.directMapBase ?? 0
        let pfn: UInt64
        if value >= map.base, (value - map.base) / map.pageStructSize < (1 << 40) {
            pfn = (value - map.base) / map.pageStructSize
        } else if directBase != 0, value >= directBase, value - directBase < (1 << 46) {
            pfn = (value - directBase) / map.pageSize
        } else {
            pfn = value / map.pageSize
        }
        let p: PageDescriptor
        do { p = try kernel.pageDescriptor(pfn: pfn) } catch let e as KernelError {
            throw CommandError.failed("kmem -p: \(e)", cause: e)
        } catch let e as MemoryError {
            throw CommandError.failed("kmem -p: the struct page of PFN \(hex(pfn)) is unreadable: \(e)", cause: e)
        }
        let lines = ["      PAGE           PHYSICAL      MAPPING       INDEX  CNT  FLAGS",
                     hexDigits(p.address) + "  " + String(p.pfn &* map.pageSize, radix: 16).leftPadded(9, with: " ") + "  "
                     + hexDigits(p.mapping) + "  " + String(p.index, radix: 16).leftPadded(8, with: " ") + "  "
                     + String(p.refcount).leftPadded(3, with: " ") + "  " + String(p.flags, radix: 16) + " " + p.flagNames.joined(separator: ",")]
        let page: JSONValue = .object([("page", jsonAddress(p.address)), ("pfn", .uint(p.pfn)), ("physical", jsonAddress(p.pfn &* map.pageSize)),
                                       ("flags", .uint(p.flags)), ("flag_names", .array(p.flagNames.map { .string($0) })),
                                       ("refcount", .int(p.refcount)), ("mapcount", .int(p.mapcount)),
                                       ("mapping", jsonAddress(p.mapping)), ("index", .uint(p.index))])
        return CommandOutput(text: lines.joined(separator: "\n"),
                             fields: [("caches", .array([])), ("summary", .null), ("page", page), ("warnings", .array([]))])
    }
}
