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
        // The guests swap on zram0 (facts.json's swap, as /proc/swaps gives it in KiB); an older fixture has no swap.
        let swap = try KernelTests.facts(fx)["swap"] as? [String: Any]
        let swapPages = UInt64(swap?["size_kib"] as? Int ?? 0) / 4, usedPages = UInt64(swap?["used_kib"] as? Int ?? 0) / 4
        #expect(n("total_swap") == swapPages && n("free_swap") == swapPages - usedPages, "\(m) against facts.json's swap \(swap ?? [:])")
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

/// `kmem -S`: every task's task_struct (but the static init_task) is an
/// allocated object of the task_struct cache, the slabs listed hold the
/// cache's total objects, each object lies in its slab's memory at the
/// cache's stride, and -m bounds the listing with a warning.
@Suite(.serialized) struct KmemObjectsTests {
    static func slabs(_ o: [String: Any]) throws -> [[String: Any]] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["slabs"] as? [[String: Any]])
    }

    @Test(arguments: ["running", "panicked"]) func everyTaskIsAnAllocatedObject(_ which: String) throws {
        let fx = try LabFixture.load(which)
        let o = try KernelTests.json(fx.elf, ["kmem -S task_struct", "ps", "kmem -S task_struct -m 3", "p &init_task"])
        let slabs = try Self.slabs(o[0])
        let cache = try #require((o[0]["caches"] as? [[String: Any]])?.first)
        let size = try #require(cache["size"] as? UInt64), total = try #require(cache["total"] as? Int)
        #expect(slabs.reduce(0) { $0 + ($1["total"] as? Int ?? 0) } == total, "the slabs hold the cache's \(total) objects")
        #expect(slabs.count == cache["slabs"] as? Int)
        var allocated = Set<String>(), all = Set<String>()
        for s in slabs {
            let memory = try #require(UInt64((s["memory"] as? String ?? "").dropFirst(2), radix: 16))
            let objects = try #require(s["objects"] as? [[String: Any]])
            #expect(objects.filter { $0["allocated"] as? Bool == false }.count == s["free"] as? Int)
            for (i, obj) in objects.enumerated() {
                let a = try #require(obj["address"] as? String)
                #expect(a == String(format: "0x%llx", memory + UInt64(i) * size), "object \(i) of slab \(s["slab"] ?? "")")
                all.insert(a)
                if obj["allocated"] as? Bool == true { allocated.insert(a) }
            }
        }
        #expect(all.count == total, "no object listed twice")
        let initTask = try #require(o[3]["integer"] as? UInt64)
        let tasks = try KernelTests.tasks(o[1]).filter { !$0.idle }
        #expect(tasks.count > 20)
        for t in tasks where UInt64(t.task.dropFirst(2), radix: 16) != initTask {
            #expect(allocated.contains(t.task), "PID \(t.pid) (\(t.comm))'s task_struct \(t.task) is not an allocated object")
        }
        let few = try Self.slabs(o[2])
        #expect(few.reduce(0) { $0 + (($1["objects"] as? [Any])?.count ?? 0) } == 3)
        #expect((o[2]["warnings"] as? [String] ?? []).contains { $0.contains("stopped after 3 objects") }, "\(o[2]["warnings"] ?? "")")
        let text = try runMkdbg(["-c", fx.elf, "-e", "kmem -S task_struct -m 10"]).out
        #expect(text.hasPrefix("CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n") && text.contains("  FREE / [ALLOCATED]\n"), "\(text)")
        let bad = try runMkdbg(["-c", fx.elf, "-e", "kmem -S no_such_cache"])
        #expect(bad.err.contains("no slab cache named no_such_cache"), "\(bad.err)")
    }
}

/// `kmem ADDR`: a task_struct member is that task's slab object, a free
/// object is free, a task's stack address names the task (and, with vmap
/// stacks, the area starting at the stack), init_task is the kernel
/// image's, a module's base its text, a struct page its PFN, and a small
/// number nothing.
@Suite(.serialized) struct KmemAddressTests {
    static func identity(_ o: [String: Any]) throws -> [String: Any] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["identity"] as? [String: Any])
    }

    @Test(arguments: ["running", "panicked"]) func whatAnAddressIs(_ which: String) throws {
        let fx = try LabFixture.load(which)
        let o0 = try KernelTests.json(fx.elf, ["ps", "kmem -S task_struct", "mod", "p/x vmemmap_base", "p sizeof(struct page)"])
        let pid1 = try #require(try KernelTests.tasks(o0[0]).first { $0.pid == 1 })
        let free = try #require(try KmemObjectsTests.slabs(o0[1]).flatMap { $0["objects"] as? [[String: Any]] ?? [] }
            .first { $0["allocated"] as? Bool == false }?["address"] as? String)
        let module = try #require((o0[2]["modules"] as? [[String: Any]])?.first)
        let vmemmap = try #require(o0[3]["integer"] as? UInt64), pageSize = try #require(o0[4]["integer"] as? UInt64)
        let o = try KernelTests.json(fx.elf, [
            "kmem \(pid1.task) + 0x10", "kmem \(free)", "kmem ((struct task_struct *)\(pid1.task))->stack + 0x100",
            "p/x ((struct task_struct *)\(pid1.task))->stack", "kmem init_task", "kmem \(module["base"] as? String ?? "") + 0x10",
            String(format: "kmem 0x%llx", vmemmap + 0x1000 * pageSize + 8), "kmem 0x1234", "kmem jiffies", "p &jiffies"])
        let task = try Self.identity(o[0])
        let slab = try #require(task["slab"] as? [String: Any])
        #expect(task["kind"] as? String == "slab" && slab["name"] as? String == "task_struct", "\(task)")
        #expect(slab["object"] as? String == pid1.task && slab["offset"] as? UInt64 == 0x10 && slab["allocated"] as? Bool == true, "\(slab)")
        let f = try #require(try Self.identity(o[1])["slab"] as? [String: Any])
        #expect(f["object"] as? String == free && f["offset"] as? UInt64 == 0 && f["allocated"] as? Bool == false, "\(f)")
        let stack = try Self.identity(o[2])
        let base = try #require(o[3]["integer"] as? UInt64)
        #expect(stack["kind"] as? String == "stack", "\(stack)")
        let s = try #require(stack["stack"] as? [String: Any])
        #expect(s["pid"] as? Int == 1 && s["comm"] as? String == "init" && s["stack"] as? String == String(format: "0x%llx", base)
                && s["offset"] as? UInt64 == 0x100, "\(s)")
        if let v = stack["vmap"] as? [String: Any] {  // CONFIG_VMAP_STACK: the stack is a vmap area of its own
            #expect(v["start"] as? String == String(format: "0x%llx", base), "\(v)")
        }
        let image = try Self.identity(o[4])
        #expect(image["kind"] as? String == "kernel" && (image["symbol"] as? [String: Any])?["name"] as? String == "init_task", "\(image)")
        let m = try Self.identity(o[5])
        let region = try #require(m["module"] as? [String: Any])
        #expect(m["kind"] as? String == "module" && region["name"] as? String == module["name"] as? String
                && region["region"] as? String == "text" && region["offset"] as? UInt64 == 0x10, "\(m)")
        let page = try Self.identity(o[6])
        #expect(page["kind"] as? String == "struct_page" && (page["page"] as? [String: Any])?["pfn"] as? UInt64 == 0x1000, "\(page)")
        #expect(try Self.identity(o[7])["kind"] as? String == "unknown")
        // A bare symbol names its address, not its value.
        let jiffies = try Self.identity(o[8])
        #expect(jiffies["address"] as? String == (o[9]["integer"] as? UInt64).map { String(format: "0x%llx", $0) }
                && ["jiffies", "jiffies_64"].contains((jiffies["symbol"] as? [String: Any])?["name"] as? String ?? ""), "\(jiffies)")  // one address, two names
        let text = try runMkdbg(["-c", fx.elf, "-e", "kmem \(pid1.task)"]).out
        #expect(text.hasPrefix("\(pid1.task.dropFirst(2)): slab object of task_struct\n"), "\(text)")
    }
}

/// A partial slab's freelist made to loop (its first free object's
/// hardened free pointer encoded to point back at itself): kmem -S ends at
/// once, names the slab and the object, and still lists every slab; kmem
/// ADDR still calls the object free.
@Suite(.serialized) struct KmemHostileFreelistTests {
    @Test func aFreelistLoopingBackToItsFirstObject() throws {
        let fx = try LabFixture.load("running")
        let before = try KernelTests.json(fx.elf, ["kmem -S task_struct"])[0]
        let slabs = try KmemObjectsTests.slabs(before)
        let cache = try #require((before["caches"] as? [[String: Any]])?.first?["cache"] as? String)
        let victim = try #require(slabs.first { $0["place"] as? String != "cpu" && ($0["free"] as? Int ?? 0) > 0 })
        let slab = try #require(victim["slab"] as? String)
        let o = try KernelTests.json(fx.elf, ["p/x ((struct slab *)\(slab))->freelist", "p ((struct kmem_cache *)\(cache))->offset",
                                              "p/x ((struct kmem_cache *)\(cache))->random"])
        let first = try #require(o[0]["integer"] as? UInt64), offset = try #require(o[1]["integer"] as? UInt64)
        #expect(first != 0)
        // CONFIG_SLAB_FREELIST_HARDENED (both Debian kernels) stores ptr ^ random ^ swab(where it is stored).
        let random = o[2]["integer"] as? UInt64
        let stored = random.map { first ^ $0 ^ (first + offset).byteSwapped } ?? first
        let damaged = try DamagedDump(fx, name: "looped-freelist")
        defer { damaged.remove() }
        try damaged.write(stored, atVirtual: first + offset)
        let object = HostileWalkTests.hex(first)
        let (r, after) = try HostileWalkTests.run(damaged.path, ["kmem -S task_struct", "kmem \(object)"])
        #expect(r.status == 0 && r.seconds < 30, "status \(String(describing: r.status)), \(r.seconds) s")
        guard after.count == 2 else { return }
        let w = HostileWalkTests.warnings(after[0])
        #expect(w.contains { $0.contains("the freelist of slab \(slab) loops back to \(object)") }, "\(w)")
        #expect(try KmemObjectsTests.slabs(after[0]).count == slabs.count, "every slab is still listed")
        let id = try KmemAddressTests.identity(after[1])
        #expect((id["slab"] as? [String: Any])?["allocated"] as? Bool == false, "\(id)")
        #expect(HostileWalkTests.warnings(after[1]).contains { $0.contains("loops back to \(object)") }, "\(after[1])")
    }
}
