import Testing
import Foundation

/// `runq` on the lab's dumps: the current tasks against per-CPU
/// `current_task` and `ps`, and the CFS rbtree walk on a damaged copy
/// whose timeline is made of real tasks' `se.run_node`s (the lab's queues
/// are empty when the dumps are taken). scripts/parity compares each CPU's
/// current task and CFS tasks with drgn.
@Suite(.serialized) struct RunqTests {
    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    static func cpus(_ o: [String: Any]) throws -> [[String: Any]] {
        #expect(o["ok"] as? Bool == true, "\(o["error"] ?? "")")
        return try #require(o["cpus"] as? [[String: Any]])
    }

    /// The panicking task (the lab's `mk-panicker`, which wrote `c` to
    /// sysrq-trigger) is the panic CPU's current task, as per-CPU current_task says;
    /// the other CPU (halted by the panic) runs its idle task.
    @Test func panickedCurrent() throws {
        let fx = try LabFixture.load("panicked")
        let o = try KernelTests.json(fx.elf, ["runq", "ps mk-panicker", "per_cpu \(fx.currentTask) 0", "per_cpu \(fx.currentTask) 1",
                                              "runq -c 1", "sys"])
        let cpus = try Self.cpus(o[0])
        #expect(cpus.map { $0["cpu"] as? Int } == [0, 1])
        let p = try #require((o[5]["panic"] as? [String: Any])?["cpu"] as? Int)
        try #require(p == 0 || p == 1)
        let q = 1 - p
        let panicker = try #require(try KernelTests.tasks(o[1]).first)
        let cur0 = try #require(cpus[p]["current"] as? [String: Any])
        #expect(cur0["comm"] as? String == "mk-panicker" && cur0["task"] as? String == panicker.task
                && cur0["pid"] as? Int == panicker.pid, "\(cur0)")
        for (i, c) in cpus.enumerated() {
            let cur = try #require(c["current"] as? [String: Any])
            let pc = try #require((o[2 + i]["cpus"] as? [[String: Any]])?.first?["integer"] as? UInt64)
            #expect(cur["task"] as? String == Self.hex(pc), "CPU \(i): \(cur) vs current_task \(Self.hex(pc))")
            for key in ["runqueue", "rt_prio_array", "cfs_rb_root"] { #expect(c[key] is String, "\(key) in \(c)") }
            #expect(c["rt"] is [Any] && c["cfs"] is [Any])
        }
        #expect((cpus[q]["current"] as? [String: Any])?["comm"] as? String == "swapper/\(q)")
        #expect(try Self.cpus(o[4]).map { $0["cpu"] as? Int } == [1])
        let text = try runMkdbg(["-c", fx.elf, "-e", "runq -c \(p)"]).out
        #expect(text.contains("CPU \(p) RUNQUEUE: " + String((cpus[p]["runqueue"] as? String ?? "").dropFirst(2))), "\(text)")
        #expect(text.contains("  CURRENT: PID: \(panicker.pid)  TASK: \(panicker.task.dropFirst(2))  COMMAND: \"mk-panicker\""), "\(text)")
        #expect(text.contains("  CFS RB_ROOT: ") && text.contains("  RT PRIO_ARRAY: "), "\(text)")
        let bad = try runMkdbg(["-c", fx.elf, "-e", "runq -c 2"])
        #expect(bad.err.contains("CPU 2 is out of range"), "\(bad.err)")
    }

    /// CPU 1's CFS timeline rewritten as a three-node tree of real tasks'
    /// run_nodes (init at the root, kthreadd on its left, the panicker on
    /// its right): runq lists them in order, left first; then the right
    /// child's rb_left points back at the root, and the walk stops with a
    /// cycle warning instead of looping.
    @Test func cfsTreeOrderAndCycle() throws {
        let fx = try LabFixture.load("panicked")
        let o = try KernelTests.json(fx.elf, ["runq -c 1", "ps 1", "ps 2", "ps mk-panicker"])
        let root = try #require(try Self.cpus(o[0]).first?["cfs_rb_root"] as? String)
        let found = try [o[1], o[2], o[3]].map { try #require(try KernelTests.tasks($0).first { !$0.idle }) }
        let tasks = found.map(\.task)
        let nodes = try KernelTests.json(fx.elf, tasks.map { "p &((struct task_struct *)\($0))->se.run_node" })
            .map { try #require($0["integer"] as? UInt64) }
        let offs = try KernelTests.json(fx.elf, ["p &((struct rb_node *)0)->rb_left", "p &((struct rb_node *)0)->rb_right"])
        let left = try #require(offs[0]["integer"] as? UInt64), right = try #require(offs[1]["integer"] as? UInt64)
        #expect(left != right)
        let rootAddress = try #require(UInt64(root.dropFirst(2), radix: 16))
        let damaged = try DamagedDump(fx, name: "runq-tree")
        defer { damaged.remove() }
        try damaged.write(nodes[0], atVirtual: rootAddress)
        try damaged.write(nodes[1], atVirtual: nodes[0] + left)
        try damaged.write(nodes[2], atVirtual: nodes[0] + right)
        for n in [nodes[1], nodes[2]] {
            try damaged.write(0, atVirtual: n + left)
            try damaged.write(0, atVirtual: n + right)
        }
        let got = try KernelTests.json(damaged.path, ["runq -c 1"])[0]
        let cfs = try #require(try Self.cpus(got).first?["cfs"] as? [[String: Any]])
        #expect(cfs.map { $0["task"] as? String } == [tasks[1], tasks[0], tasks[2]], "\(cfs)")
        #expect(cfs.map { $0["pid"] as? Int } == [2, 1, found[2].pid])
        #expect(cfs.allSatisfy { ($0["prio"] as? Int).map { $0 >= 100 && $0 < 140 } ?? false }, "\(cfs)")
        #expect((got["warnings"] as? [Any])?.isEmpty == true, "\(got)")

        try damaged.write(nodes[0], atVirtual: nodes[2] + left)
        let looped = try KernelTests.json(damaged.path, ["runq -c 1"])[0]
        #expect(looped["ok"] as? Bool == true)
        let warnings = try #require(looped["warnings"] as? [String])
        #expect(warnings.contains { $0.contains("CPU 1") && $0.contains("a cycle") && $0.contains(String(nodes[0], radix: 16)) },
                "\(warnings)")
        let partial = try #require(try Self.cpus(looped).first?["cfs"] as? [[String: Any]])
        #expect(partial.map { $0["task"] as? String } == [tasks[1], tasks[0]], "\(partial)")
    }
}
