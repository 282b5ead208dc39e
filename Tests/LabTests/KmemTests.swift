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
