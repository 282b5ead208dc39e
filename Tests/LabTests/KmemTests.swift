import Testing
import Foundation

/// `kmem -s` on the lab's dumps (6.1 or 6.12 by MKDBG_FIXTURES): the
/// task_struct cache against arch_task_struct_size and `ps`'s task count, and
/// the counts' invariants. scripts/paritykit/parity_kmem.py compares every
/// cache's counts with drgn's slab_cache_usage.
@Suite(.serialized) struct KmemTests {
    static func caches(_ o: [String: Any]) throws -> [[String: Any]] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["caches"] as? [[String: Any]])
    }

    @Test(arguments: ["running", "panicked"]) func taskStructCache(_ which: String) throws {
        let fx = try LabFixture.load(which)
        let o = try KernelTests.json(fx.elf, ["kmem -s", "p arch_task_struct_size", "ps", "kmem -s task_struct"])
        let all = try Self.caches(o[0])
        #expect(all.count > 50, "\(all.count) caches")
        let ts = try #require(all.first { $0["name"] as? String == "task_struct" })
        let size = try #require(o[1]["integer"] as? UInt64)
        // x86's task_struct cache is sized by arch_task_struct_size (the FPU state's size is known only at boot).
        #expect(ts["object_size"] as? Int == Int(size), "\(ts) vs arch_task_struct_size \(size)")
        let tasks = try KernelTests.tasks(o[2]).filter { !$0.idle }
        let allocated = try #require(ts["allocated"] as? Int), total = try #require(ts["total"] as? Int)
        // Every task but the idle ones (init_task and the per-CPU idles are static or early) is a task_struct object.
        #expect(allocated >= tasks.count - 1 && allocated <= total, "allocated \(allocated), total \(total), \(tasks.count) tasks")
        for c in all {
            let a = c["allocated"] as? Int ?? -1, t = c["total"] as? Int ?? -1
            let slabs = c["slabs"] as? Int ?? -1, per = c["objects_per_slab"] as? Int ?? -1
            #expect(a >= 0 && a <= t && t <= slabs * max(per, 1) * 2, "\(c)")
        }
        #expect(try Self.caches(o[3]).map { $0["name"] as? String } == ["task_struct"])
        let text = try runMkdbg(["-c", fx.elf, "-e", "kmem -s task_struct"]).out
        #expect(text.hasPrefix("CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n"), "\(text)")
        #expect(text.hasSuffix("  task_struct") || text.contains("  task_struct\n"), "\(text)")
        let bad = try runMkdbg(["-c", fx.elf, "-e", "kmem -s no_such_cache"])
        #expect(bad.err.contains("no slab cache named no_such_cache"), "\(bad.err)")
    }
}

/// `kmem -i`: the summary's total is `sys`'s RAM, its parts add up, and the slab
/// pages hold every cache's slabs.
@Suite(.serialized) struct KmemSummaryTests {
    @Test(arguments: ["running", "panicked"]) func theSummaryAddsUp(_ which: String) throws {
        let fx = try LabFixture.load(which)
        let o = try KernelTests.json(fx.elf, ["kmem -i", "sys", "kmem -s"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let m = try #require(o[0]["summary"] as? [String: Any])
        func n(_ k: String) -> UInt64 { m[k] as? UInt64 ?? UInt64.max }
        #expect(n("total") == o[1]["total_ram_pages"] as? UInt64, "\(m)")
        #expect(n("free") < n("total") && n("used") + n("free") == n("total"))
        #expect(n("free") > n("total") / 2, "the idle guest uses little of its 512 MiB: \(m)")
        #expect(n("total_swap") == 0 && n("free_swap") == 0, "the lab's guests have no swap")
        // The slab counter covers the pages of every cache's slabs (within a few pages of per-CPU drift).
        let slabPages = try KmemTests.caches(o[2]).reduce(UInt64(0)) {
            $0 + (($1["slabs"] as? UInt64 ?? 0) * ($1["slab_size"] as? UInt64 ?? 0)) / 4096
        }
        #expect(slabPages > 0 && slabPages <= n("slab") + 64, "kmem -s slabs \(slabPages) pages, kmem -i SLAB \(n("slab"))")
        let text = try runMkdbg(["-c", fx.elf, "-e", "kmem -i"]).out
        #expect(text.hasPrefix("                 PAGES        TOTAL      PERCENTAGE\n    TOTAL MEM ") && text.contains("% of TOTAL MEM"), "\(text)")
    }
}

/// `kmem -p`: the first frames are the firmware's (reserved), the three ways
/// to name a frame give one struct page, and the page is where the memory map says.
@Suite(.serialized) struct KmemPageTests {
    @Test(arguments: ["running", "panicked"]) func aFrameByAnyOfItsAddresses(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let base = try #require(try KernelTests.json(fx.elf, ["p/x page_offset_base"])[0]["integer"] as? UInt64)
        let o = try KernelTests.json(fx.elf, ["kmem -p 0x1000", "kmem -p 0x1000000", String(format: "kmem -p 0x%llx", base + 0x1000000),
                                              "p/x vmemmap_base", "p sizeof(struct page)"])
        let first = try #require(o[0]["page"] as? [String: Any])
        #expect((first["flag_names"] as? [String])?.contains("reserved") == true, "\(first)")
        let a = try #require(o[1]["page"] as? [String: Any]), b = try #require(o[2]["page"] as? [String: Any])
        #expect(a["pfn"] as? UInt64 == 0x1000 && a["page"] as? String == b["page"] as? String)
        let vmemmap = try #require(o[3]["integer"] as? UInt64), size = try #require(o[4]["integer"] as? UInt64)
        #expect(a["page"] as? String == String(format: "0x%llx", vmemmap + 0x1000 * size))
        let c = try KernelTests.json(fx.elf, ["kmem -p \(a["page"] as? String ?? "")"])[0]
        #expect((c["page"] as? [String: Any])?["pfn"] as? UInt64 == 0x1000, "\(c)")
    }
}
