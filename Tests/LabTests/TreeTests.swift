import Testing
import Foundation

/// `tree` on the lab's dumps: init's maple tree gives `vm`'s VMAs, a CPU's
/// hrtimer rbtree gives `timer -r`'s timers, both in order.
@Suite(.serialized) struct TreeTests {
    @Test(arguments: ["running", "panicked"]) func treesGiveWhatTheCommandsOverThemGive(_ name: String) throws {
        let fx = try LabFixture.load(name)
        let o = try KernelTests.json(fx.elf, ["vm 1", "timer -r -C 0", "p/x &hrtimer_bases"])
        try #require(o.allSatisfy { $0["ok"] as? Bool == true }, "\(o)")
        let mm = try #require(o[0]["mm"] as? String)
        let t = try KernelTests.json(fx.elf, ["tree -t maple &((struct mm_struct *)\(mm))->mm_mt",
                                              "tree -t maple -s vm_area_struct.vm_start &((struct mm_struct *)\(mm))->mm_mt",
                                              "tree -t rbtree -o hrtimer.node 0", "tree -t splay 0"])
        let vmas = (o[0]["vmas"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        let entries = t[0]["entries"] as? [[String: Any]] ?? []
        #expect(!vmas.isEmpty && entries.compactMap { $0["address"] as? String } == vmas, "\(entries.prefix(3))")
        let starts = (o[0]["vmas"] as? [[String: Any]] ?? []).compactMap { ($0["start"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) } }
        #expect(entries.compactMap { $0["first"] as? UInt64 } == starts)
        let members = (t[1]["entries"] as? [[String: Any]] ?? []).compactMap { ($0["members"] as? [[String: Any]])?.first?["value"] as? String }
        #expect(members.count == starts.count && members.first.map { $0.contains("0x400000") || $0.contains("4194304") } == true, "\(members.prefix(2))")
        // CPU 0's monotonic hrtimers, through the same walker from the base's rb_root.
        let base = try #require((o[1]["cpus"] as? [[String: Any]])?.first?["hrtimer_bases"] as? [[String: Any]])
        let timers = (base.first?["timers"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        let clock = try #require(base.first?["address"] as? String)
        let r = try KernelTests.json(fx.elf, ["tree -t rbtree -o hrtimer.node &((struct hrtimer_clock_base *)\(clock))->active.rb_root.rb_root"])[0]
        #expect((r["entries"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String } == timers && !timers.isEmpty, "\(r)")
        #expect(t[2]["ok"] as? Bool == false && t[3]["ok"] as? Bool == false)
    }
}
