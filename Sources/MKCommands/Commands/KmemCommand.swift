import MKFormat
import MKSystem
import MKKernel

/// crash's `kmem -s [CACHE]`: the SLUB caches on `slab_caches` with their
/// object sizes, allocated and total objects, slabs and slab size.
enum KmemCommand {
    static let usage = "kmem -s [CACHE]"

    static let spec = CommandSpec(
        name: "kmem", group: "kernel",
        summary: "kernel memory: the slab caches with their object counts (-s)",
        usage: usage, details: """

        -s lists the caches on slab_caches (SLUB): OBJSIZE is object_size, TOTAL and SLABS the
        nodes' total_objects and nr_slabs (CONFIG_SLUB_DEBUG), ALLOCATED the total less the free
        objects of the nodes' partial slabs and of each online CPU's freelist (decoded when
        CONFIG_SLAB_FREELIST_HARDENED obfuscates it) and partial slabs; SSIZE is one slab's size.
        With CACHE, only the cache of that name.
        """,
        examples: ["kmem -s", "kmem -s task_struct"],
        arguments: [ArgumentSpec("CACHE", .text, .optional)],
        options: [.flag("-s", help: "the slab caches and their object counts")],
        json: ["caches", "warnings"],
        excess: "expected at most one cache name"
    ) { args, session in
        guard args.has("-s") else {
            throw CommandError.usage(command: "kmem", message: "kmem: give -s (only kmem -s [CACHE] is implemented)", usage: usage)
        }
        let kernel = try session.kernel()
        let budget = session.walkBudget()
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
                             fields: [("caches", .array(json)), ("warnings", w.json)])
    }
}
