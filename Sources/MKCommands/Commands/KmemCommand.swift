import MKFormat
import MKSystem
import MKKernel
import MKMemory

/// crash's `kmem -s [CACHE]`: the SLUB caches on `slab_caches` with their
/// object sizes, allocated and total objects, slabs and slab size; `kmem -S
/// CACHE`: its slabs and objects; `kmem -i`: the memory summary; `kmem -p`:
/// a frame's struct page; `kmem ADDRESS`: what an address is.
enum KmemCommand {
    static let usage = "kmem -s [CACHE] | kmem -S CACHE [-m MAX] | kmem -i | kmem -p ADDRESS | kmem ADDRESS"
    /// Objects `kmem -S` lists unless -m says otherwise.
    static let defaultObjectLimit = 20_000

    static let spec = CommandSpec(
        name: "kmem", group: "kernel",
        summary: "kernel memory: the slab caches (-s) and a cache's objects (-S), the memory summary (-i), a struct page (-p), what an address is",
        usage: usage, details: """

        -s lists the caches on slab_caches (SLUB): OBJSIZE is object_size, TOTAL and SLABS the
        nodes' total_objects and nr_slabs (CONFIG_SLUB_DEBUG), ALLOCATED the total less the free
        objects of the nodes' partial slabs and of each online CPU's freelist (decoded when
        CONFIG_SLAB_FREELIST_HARDENED obfuscates it) and partial slabs; SSIZE is one slab's size.
        With CACHE, only the cache of that name. -S CACHE: the cache's slabs, each CPU's active
        slab and partial slabs, each node's partial (and, with SLUB debugging, full) slabs, then
        the full slabs found in the memory map; per slab its struct slab, memory, objects, and
        each object's address, [bracketed] when allocated: on neither the slab's freelist nor,
        for a CPU's slab, the CPU's. At most -m MAX objects (default \(defaultObjectLimit)).
        -i: the page counters as /proc/meminfo reads
        them (totalram_pages, vm_zone_stat, vm_node_stat; buffers from the block devices' inodes),
        in pages, bytes and percent of the total, as crash prints them. -p ADDRESS: the struct page
        of the frame holding ADDRESS (a physical address, a direct-map address, or the struct
        page's own): its PFN, flags by name (enum pageflags), refcount, mapcount, mapping, index.
        kmem ADDRESS (any expression): what the address is: a task's kernel stack, the kernel
        image (symbol+offset), a module's text or data, a slab object (its cache, start, offset,
        allocated or free), a page of the direct map or a struct page (its flags), a vmap area
        (vmap_area_root, or vmap_nodes from 6.9), or unknown.
        """,
        examples: ["kmem -s", "kmem -s task_struct", "kmem -S task_struct", "kmem -i", "kmem -p 0x1000000", "kmem init_task"],
        arguments: [ArgumentSpec("CACHE|ADDRESS", .text, .many)],
        options: [.flag("-s", help: "the slab caches and their object counts"),
                  .flag("-S", help: "a cache's slabs and objects"),
                  .option("-m", value: ArgumentSpec("MAX", .integer, expected: "a number of objects"), help: "with -S: at most MAX objects"),
                  .flag("-i", help: "the memory summary"),
                  .option("-p", value: ArgumentSpec("ADDRESS", .address, expected: "an address"), help: "the struct page of an address")],
        json: ["caches", "summary", "page", "slabs", "identity", "warnings"],
        excess: "expected at most one cache name or address"
    ) { args, session in
        let kernel = try session.kernel()
        let budget = session.walkBudget()
        if args.has("-i") { return try summary(kernel, budget: budget) }
        if let word = args.value("-p") { return try page(word, kernel, session) }
        if args.has("-S") { return try objects(args, kernel, budget: budget) }
        if args.value("-m") != nil {
            throw CommandError.usage(command: "kmem", message: "-m MAX bounds kmem -S CACHE; give -S", usage: usage)
        }
        guard args.has("-s") else {
            guard let word = args.argument("CACHE|ADDRESS") else {
                throw CommandError.usage(command: "kmem", message: "give -s, -S CACHE, -i, -p ADDRESS or an address", usage: usage)
            }
            return try identify(word, kernel, session, budget: budget)
        }
        let name = args.argument("CACHE|ADDRESS")
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
            lines.append(cacheLine(c))
            warnings += c.warnings.map { "\(c.name): \($0)" }
            json.append(.object([("cache", jsonAddress(c.address)), ("name", .string(c.name)),
                                 ("object_size", .int(Int64(clamping: c.objectSize))), ("size", .int(Int64(clamping: c.size))),
                                 ("allocated", .int(Int64(clamping: c.allocated))), ("total", .int(Int64(clamping: c.total))),
                                 ("slabs", .int(Int64(clamping: c.slabs))), ("objects_per_slab", .int(Int64(clamping: c.objectsPerSlab))),
                                 ("order", .int(Int64(clamping: c.order))), ("slab_size", .int(Int64(clamping: c.slabSize)))]))
        }
        let w = KernelCommandSupport.warnings("kmem", warnings, budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("caches", .array(json)), ("summary", .null), ("page", .null), ("slabs", .array([])), ("identity", .null), ("warnings", w.json)])
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
                             fields: [("caches", .array([])), ("summary", summary), ("page", .null), ("slabs", .array([])), ("identity", .null), ("warnings", w.json)])
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
        let lines = pageLines(p, pageSize: map.pageSize)
        let page = pageJSON(p, pageSize: map.pageSize)
        return CommandOutput(text: lines.joined(separator: "\n"),
                             fields: [("caches", .array([])), ("summary", .null), ("page", page), ("slabs", .array([])), ("identity", .null), ("warnings", .array([]))])
    }

    static func pageLines(_ p: PageDescriptor, pageSize: UInt64) -> [String] {
        ["      PAGE           PHYSICAL      MAPPING       INDEX  CNT  FLAGS",
         hexDigits(p.address) + "  " + String(p.pfn &* pageSize, radix: 16).leftPadded(9, with: " ") + "  "
         + hexDigits(p.mapping) + "  " + String(p.index, radix: 16).leftPadded(8, with: " ") + "  "
         + String(p.refcount).leftPadded(3, with: " ") + "  " + String(p.flags, radix: 16) + " " + p.flagNames.joined(separator: ",")]
    }

    static func pageJSON(_ p: PageDescriptor, pageSize: UInt64) -> JSONValue {
        .object([("page", jsonAddress(p.address)), ("pfn", .uint(p.pfn)), ("physical", jsonAddress(p.pfn &* pageSize)),
                 ("flags", .uint(p.flags)), ("flag_names", .array(p.flagNames.map { .string($0) })),
                 ("refcount", .int(p.refcount)), ("mapcount", .int(p.mapcount)),
                 ("mapping", jsonAddress(p.mapping)), ("index", .uint(p.index))])
    }

    static func cacheLine(_ c: SlabCache) -> String {
        hexDigits(c.address).rightPadded(16) + String(c.objectSize).leftPadded(9, with: " ")
            + String(c.allocated).leftPadded(11, with: " ") + String(c.total).leftPadded(10, with: " ")
            + String(c.slabs).leftPadded(7, with: " ") + "\(c.slabSize / 1024)k".leftPadded(7, with: " ") + "  " + c.name
    }

    /// `kmem -S CACHE`: the cache's line, then its slabs by where they were found, each with its objects.
    static func objects(_ args: CommandInvocation, _ kernel: Kernel, budget: WalkBudget) throws -> CommandOutput {
        guard let name = args.argument("CACHE|ADDRESS") else {
            throw CommandError.usage(command: "kmem", message: "kmem -S needs a cache name", usage: usage)
        }
        var limit = defaultObjectLimit
        if let m = args.value("-m") {
            guard let n = Int(m), n > 0, n <= 10_000_000 else {
                throw CommandError.invalidArgument(m, message: "kmem: -m needs a number of objects from 1 to 10000000")
            }
            limit = n
        }
        let list: SlabObjectList
        do {
            guard let cache = try kernel.slabCaches(named: name, budget: budget).first else {
                throw CommandError.unknownName(name, message: "kmem: no slab cache named \(name) on slab_caches")
            }
            list = try kernel.slabObjects(of: cache, limit: limit, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("kmem -S: \(e)", cause: e)
        }
        var lines = ["CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME", cacheLine(list.cache)]
        var json: [JSONValue] = []
        var heading = ""
        for s in list.slabs {
            let h: String
            switch s.place {
            case let .cpu(c): h = "CPU \(c) SLAB:"
            case let .cpuPartial(c): h = "CPU \(c) PARTIAL:"
            case let .nodePartial(n): h = "NODE \(n) PARTIAL:"
            case let .nodeFull(n): h = "NODE \(n) FULL:"
            case .unlisted: h = "FULL (ON NO LIST, FROM THE MEMORY MAP):"
            }
            if h != heading {
                lines.append(h)
                heading = h
            }
            let free = s.freeCount, used = s.objects.count - free
            lines.append("  SLAB              MEMORY            TOTAL  ALLOCATED  FREE")
            lines.append("  " + hexDigits(s.slab) + "  " + hexDigits(s.memory) + String(s.objects.count).leftPadded(7, with: " ")
                         + String(used).leftPadded(11, with: " ") + String(free).leftPadded(6, with: " "))
            lines.append("  FREE / [ALLOCATED]")
            var objects: [JSONValue] = []
            for (o, a) in zip(s.objects, s.allocated) {
                lines.append(a ? "  [\(hexDigits(o))]" : "   \(hexDigits(o))")
                objects.append(.object([("address", jsonAddress(o)), ("allocated", .bool(a))]))
            }
            json.append(.object([("slab", jsonAddress(s.slab)), ("memory", jsonAddress(s.memory)), ("place", .string(s.place.name)),
                                 ("cpu", s.place.cpu.map { .int(Int64($0)) } ?? .null), ("node", s.place.node.map { .int(Int64($0)) } ?? .null),
                                 ("inuse", .uint(s.inuse)), ("total", .int(Int64(s.objects.count))), ("allocated", .int(Int64(used))),
                                 ("free", .int(Int64(free))), ("objects", .array(objects))]))
        }
        var warnings = list.warnings.map { "\(name): \($0)" }
        if list.truncated {
            warnings.append("\(name): stopped after \(limit) objects (-m MAX lists more)")
        }
        let w = KernelCommandSupport.warnings("kmem", list.cache.warnings.map { "\(name): \($0)" } + warnings, budget: budget)
        let cache: JSONValue = .object([("cache", jsonAddress(list.cache.address)), ("name", .string(list.cache.name)),
                                        ("object_size", .int(Int64(clamping: list.cache.objectSize))), ("size", .int(Int64(clamping: list.cache.size))),
                                        ("allocated", .int(Int64(clamping: list.cache.allocated))), ("total", .int(Int64(clamping: list.cache.total))),
                                        ("slabs", .int(Int64(clamping: list.cache.slabs))), ("objects_per_slab", .int(Int64(clamping: list.cache.objectsPerSlab))),
                                        ("order", .int(Int64(clamping: list.cache.order))), ("slab_size", .int(Int64(clamping: list.cache.slabSize)))])
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("caches", .array([cache])), ("summary", .null), ("page", .null), ("slabs", .array(json)),
                                      ("identity", .null), ("warnings", w.json)])
    }

    /// `kmem ADDRESS`: what the address is, with the details of each thing it is in.
    static func identify(_ word: String, _ kernel: Kernel, _ session: Session, budget: WalkBudget) throws -> CommandOutput {
        let target = try session.requireTarget()
        // A bare symbol is its address, as crash reads `kmem jiffies`; anything else an expression's value.
        let address = try target.symbols?.lookup(word)?.address
            ?? PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? ExamineCommand.address(of: word, session, physical: false, command: "kmem")
        let id: AddressIdentity
        do { id = try kernel.identify(address, budget: budget) } catch let e as KernelError {
            throw CommandError.failed("kmem: \(e)", cause: e)
        }
        let pageSize = target.memory.addressLayout?.basePageSize ?? 4096
        func symbolText(_ a: UInt64) -> String { target.symbols?.describe(a) ?? hexDigits(a) }
        var lines: [String] = []
        switch id.kind {
        case .stack: lines.append("\(hexDigits(address)): kernel stack of PID \(id.stack?.pid ?? 0) (\(id.stack?.comm ?? "")), task \(hexDigits(id.stack?.task ?? 0))")
        case .kernel: lines.append("\(hexDigits(address)): kernel image" + (id.symbol.map { ", \($0.name)+0x\(String($0.offset, radix: 16))" } ?? ""))
        case .module: lines.append("\(hexDigits(address)): module \(id.module?.name ?? "") (struct module \(hexDigits(id.module?.module ?? 0))), "
                                   + "\(id.module?.region ?? "") \(hexDigits(id.module?.start ?? 0))+0x\(String(address &- (id.module?.start ?? 0), radix: 16))")
        case .slab: lines.append("\(hexDigits(address)): slab object of \(id.slab?.cacheName ?? "")")
        case .page: lines.append("\(hexDigits(address)): direct-map page")
        case .structPage: lines.append("\(hexDigits(address)): in struct page \(hexDigits(id.page?.address ?? 0)) (PFN 0x\(String(id.page?.pfn ?? 0, radix: 16))), +0x\(String(address &- (id.page?.address ?? 0), radix: 16))")
        case .vmalloc: lines.append("\(hexDigits(address)): vmap area")
        case .unknown: lines.append("\(hexDigits(address)): not in a kernel stack, the kernel image, a module, the direct map, the memory map or a vmap area")
        }
        if let s = id.stack {
            lines.append("  STACK             SIZE   OFFSET")
            lines.append("  " + hexDigits(s.stack) + String(s.size).leftPadded(6, with: " ") + "   0x" + String(address &- s.stack, radix: 16))
            if let sym = id.symbol { lines.append("  in the kernel image: \(sym.name)+0x\(String(sym.offset, radix: 16))") }
        }
        if let s = id.slab {
            lines.append("  CACHE             NAME                SLAB              MEMORY            OBJECT            OFFSET  STATE")
            let state = s.allocated.map { $0 ? "ALLOCATED" : "FREE" } ?? (s.object == nil ? "-" : "UNKNOWN")
            lines.append("  " + hexDigits(s.cache) + "  " + s.cacheName.rightPadded(18) + "  " + hexDigits(s.slab) + "  " + hexDigits(s.memory) + "  "
                         + (s.object.map(hexDigits) ?? "(no object)     ") + "  " + ("0x" + String(s.offset, radix: 16)).rightPadded(6) + "  " + state)
        }
        if let v = id.vmap {
            lines.append("  VMAP_AREA         VM_STRUCT                 ADDRESS RANGE                SIZE  CALLER")
            lines.append("  " + hexDigits(v.address) + "  " + hexDigits(v.vm) + "  " + hexDigits(v.start) + " - " + hexDigits(v.end)
                         + String(v.end &- v.start).leftPadded(10, with: " ") + "  " + (v.caller.map(symbolText) ?? ""))
        }
        if let p = id.page, id.kind != .stack || id.vmap == nil {
            lines.append("")
            lines += pageLines(p, pageSize: pageSize)
        }
        let w = KernelCommandSupport.warnings("kmem", id.warnings.map(\.description), budget: budget)
        var symbol: JSONValue = .null, stack: JSONValue = .null, module: JSONValue = .null
        var slab: JSONValue = .null, page: JSONValue = .null, vmap: JSONValue = .null
        if let s = id.symbol { symbol = .object([("name", .string(s.name)), ("offset", .uint(s.offset))]) }
        if let s = id.stack {
            stack = .object([("task", jsonAddress(s.task)), ("pid", .int(Int64(s.pid))), ("comm", .string(s.comm)),
                             ("stack", jsonAddress(s.stack)), ("size", .uint(s.size)), ("offset", .uint(address &- s.stack))])
        }
        if let m = id.module {
            module = .object([("module", jsonAddress(m.module)), ("name", .string(m.name)), ("region", .string(m.region)),
                              ("start", jsonAddress(m.start)), ("size", .uint(m.size)), ("offset", .uint(address &- m.start))])
        }
        if let s = id.slab {
            let object: JSONValue = s.object.map(jsonAddress) ?? .null
            let allocated: JSONValue = s.allocated.map { .bool($0) } ?? .null
            slab = .object([("cache", jsonAddress(s.cache)), ("name", .string(s.cacheName)), ("slab", jsonAddress(s.slab)),
                            ("memory", jsonAddress(s.memory)), ("object", object), ("offset", .uint(s.offset)), ("allocated", allocated)])
        }
        if let p = id.page { page = pageJSON(p, pageSize: pageSize) }
        if let v = id.vmap {
            let caller: JSONValue = v.caller.map(jsonAddress) ?? .null
            let callerSymbol: JSONValue = v.caller.flatMap { target.symbols?.describe($0) }.map { .string($0) } ?? .null
            vmap = .object([("area", jsonAddress(v.address)), ("start", jsonAddress(v.start)), ("end", jsonAddress(v.end)),
                            ("vm", jsonAddress(v.vm)), ("caller", caller), ("caller_symbol", callerSymbol)])
        }
        let identity: JSONValue = .object([("address", jsonAddress(address)), ("kind", .string(id.kind.rawValue)), ("symbol", symbol),
                                           ("stack", stack), ("module", module), ("slab", slab), ("page", page), ("vmap", vmap)])
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("caches", .array([])), ("summary", .null), ("page", .null), ("slabs", .array([])),
                                      ("identity", identity), ("warnings", w.json)])
    }
}
