import Testing
import Foundation
import MKFormat
import MKMemory
import MKDebugInfo

/// Kernel list walks on dumps whose lists were made hostile (the fuzzing
/// findings of issue #16, item 5): a task list leading into millions of
/// fake entries, one looping back into its middle, every thread list
/// sharing one huge chain. Each run must end in seconds, in bounded memory
/// and output, say what is wrong and where, and still list the real tasks.
@Suite(.serialized) struct HostileWalkTests {
    /// What the tests need to know of the undamaged dump.
    struct Layout {
        var fx: LabFixture
        var tasks: [KernelTests.Task]
        var tasksOffset: UInt64
        /// Where each leader's thread list starts: its `thread_group` (before 6.7), or the
        /// `thread_head` of its `signal_struct` (6.7+, where the threads' `thread_node`s hang).
        var threadGroupOffset: UInt64?
        var signalOffset: UInt64
        var threadHeadOffset: UInt64?
        var pids: [String: Int]
        var moduleCount: Int

        init() throws {
            fx = try LabFixture.load("running")
            let o = try KernelTests.json(fx.elf, ["ps", "p offsetof(struct task_struct, tasks)",
                                                  "p offsetof(struct task_struct, thread_group)",
                                                  "p offsetof(struct task_struct, signal)",
                                                  "p offsetof(struct signal_struct, thread_head)"])
            tasks = try KernelTests.tasks(o[0])
            tasksOffset = try #require(o[1]["integer"] as? UInt64)
            threadGroupOffset = o[2]["integer"] as? UInt64
            signalOffset = try #require(o[3]["integer"] as? UInt64)
            threadHeadOffset = o[4]["integer"] as? UInt64
            #expect(threadGroupOffset != nil || threadHeadOffset != nil, "neither thread_group nor signal_struct.thread_head")
            let facts = try KernelTests.facts(fx)
            pids = try #require(facts["pids"] as? [String: Int])
            moduleCount = try #require(facts["modules"] as? [String]).count
        }

        /// The list_head a leader's thread walk starts from, and the list's name in warnings.
        func threadList(of task: UInt64, memory: KernelMemory) throws -> UInt64 {
            if let threadGroupOffset { return task + threadGroupOffset }
            let signal = try memory.readVirtualU64(task + signalOffset)
            return signal + (try #require(threadHeadOffset))
        }

        var threadListName: String { threadGroupOffset != nil ? "thread_group" : "signal->thread_head" }

        func address(pid: Int) throws -> UInt64 {
            let t = try #require(tasks.first { $0.pid == pid && !$0.idle })
            return try #require(UInt64(t.task.dropFirst(2), radix: 16))
        }
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    /// Runs mkdbg on the copy and returns the run and its JSON objects.
    static func run(_ copy: String, _ commands: [String], deadline: Double = 60) throws -> (BoundedRun, [[String: Any]]) {
        let r = try BoundedRun.mkdbg(["--json", "-c", copy] + commands.flatMap { ["-e", $0] }, deadline: deadline)
        #expect(r.status != nil, "mkdbg \(commands) was still running after \(deadline) s")
        let objects = r.status == nil ? [] : try r.objects()
        #expect(objects.count == commands.count, "status \(String(describing: r.status)); stderr: \(r.err.prefix(2000))")
        return (r, objects)
    }

    /// The lab's processes (facts.json) are in a ps result, each with its PID.
    static func expectRealProcesses(_ o: [String: Any], _ layout: Layout) throws {
        let tasks = try KernelTests.tasks(o)
        for comm in layout.fx.processes {
            let pid = try #require(layout.pids[comm])
            #expect(tasks.contains { $0.comm == comm && $0.pid == pid }, "\(comm) (PID \(pid)) is not listed")
        }
        #expect(tasks.contains { $0.pid == 1 && $0.comm == "init" })
    }

    static func warnings(_ o: [String: Any]) -> [String] { o["warnings"] as? [String] ?? [] }

    /// The ps result lists exactly the tasks of the undamaged dump, less those in `lost`.
    static func expectSameTasks(_ o: [String: Any], _ layout: Layout, lost: Set<KernelTests.Task> = []) throws {
        let after = Set(try KernelTests.tasks(o))
        let want = Set(layout.tasks).subtracting(lost)
        let missing = want.subtracting(after), extra = after.subtracting(want)
        #expect(missing.isEmpty && extra.isEmpty,
                "missing \(missing.map { "\($0.pid) \($0.comm)" }), extra \(extra.prefix(5).map { "\($0.pid) \($0.comm) \($0.task)" })")
    }

    /// PID 1's `tasks.next` leads into 2,000,000 distinct, consistently
    /// linked fake entries (and then back to the real list). ps refuses the
    /// first (not a thread-group leader), names it, and finds every real task
    /// walking back from the head; list, which has no such check, stops at
    /// the walk budget and says so, naming the setting.
    @Test func aTaskListLeadingIntoMillionsOfFakeEntries() throws {
        let layout = try Layout()
        let damaged = try DamagedDump(layout.fx, name: "fake-tasks")
        defer { damaged.remove() }
        let count = 2_000_000
        let base = try damaged.zeroedMemory(count: 16 * count)
        let link = try layout.address(pid: 1) + layout.tasksOffset
        let realNext = try damaged.target.memory.readVirtualU64(link)
        try damaged.writeChain(at: base, count: count, prevOfFirst: link, nextOfLast: realNext)
        try damaged.write(base, atVirtual: link)

        let (r, o) = try Self.run(damaged.path, ["ps", "list -H init_task.tasks"])
        #expect(r.status == 0)
        #expect(r.seconds < 20, "took \(r.seconds) s")
        #expect(r.peakKiB < 1_000_000, "peak RSS \(r.peakKiB) KiB")
        #expect(r.outBytes < 40_000_000, "printed \(r.outBytes) bytes")
        guard o.count == 2 else { return }
        #expect(o[0]["ok"] as? Bool == true)
        let ps = Self.warnings(o[0])
        #expect(ps.contains { $0.hasPrefix("init_task.tasks at task_struct ") && $0.contains("(PID 1, init)")
                && $0.contains("the next node \(Self.hex(base))") && $0.contains("not a thread-group leader") }, "\(ps)")
        #expect(ps.contains { $0.contains("backwards") })
        try Self.expectSameTasks(o[0], layout)

        #expect(o[1]["ok"] as? Bool == true)
        #expect(o[1]["complete"] as? Bool == false)
        let entries = try #require(o[1]["count"] as? Int)
        #expect(entries > 1000 && entries < count, "\(entries) entries")
        #expect(Self.warnings(o[1]).contains { $0.hasPrefix("init_task.tasks: stopped after \(entries) entries")
                && $0.contains("set walk-limit") }, "\(Self.warnings(o[1]))")
    }

    /// The task list runs through 100,000 fake entries whose last one loops
    /// back to the 50,000th: ps stops at the first, task and bt still find
    /// the real tasks, and list reports the loop with the node and where it
    /// goes back to.
    @Test func aTaskListLoopingBackIntoItsMiddle() throws {
        let layout = try Layout()
        let damaged = try DamagedDump(layout.fx, name: "looped-tasks")
        defer { damaged.remove() }
        let count = 100_000
        let base = try damaged.zeroedMemory(count: 16 * count)
        let link = try layout.address(pid: 1) + layout.tasksOffset
        let middle = base + 16 * 50_000, last = base + UInt64(16 * (count - 1))
        try damaged.writeChain(at: base, count: count, prevOfFirst: link, nextOfLast: middle)
        try damaged.write(base, atVirtual: link)

        let worker = try #require(layout.pids["mk-worker-1"])
        let (r, o) = try Self.run(damaged.path, ["ps", "task \(worker) comm", "bt \(worker)", "list -H init_task.tasks"])
        #expect(r.status == 0)
        #expect(r.seconds < 20, "took \(r.seconds) s")
        #expect(r.peakKiB < 1_000_000, "peak RSS \(r.peakKiB) KiB")
        #expect(r.outBytes < 20_000_000, "printed \(r.outBytes) bytes")
        guard o.count == 4 else { return }
        let ps = Self.warnings(o[0])
        #expect(ps.contains { $0.contains("the next node \(Self.hex(base))") && $0.contains("not a thread-group leader") }, "\(ps)")
        try Self.expectSameTasks(o[0], layout)
        #expect(o[1]["ok"] as? Bool == true && o[1]["pid"] as? Int == worker, "\(o[1]["error"] ?? "")")
        #expect(o[2]["ok"] as? Bool == true && o[2]["pid"] as? Int == worker, "\(o[2]["error"] ?? "")")
        #expect(o[3]["count"] as? Int == 1 + count, "the list command lists PID 1 and the fake entries once")
        #expect(Self.warnings(o[3]).contains { $0.contains("list loops back to \(Self.hex(middle))") && $0.hasSuffix("(at \(Self.hex(last)))") },
                "\(Self.warnings(o[3]))")
    }

    /// Every process's `thread_group.next` leads into one chain of 1,100,000
    /// fake entries: PID 1's walk refuses the first (not a thread of its
    /// group), every later walk stops where it joins that chain, and the
    /// processes are all still listed.
    @Test func everyThreadListLeadingIntoOneSharedChain() throws {
        let layout = try Layout()
        let damaged = try DamagedDump(layout.fx, name: "shared-threads")
        defer { damaged.remove() }
        let count = 1_100_000
        let base = try damaged.zeroedMemory(count: 16 * count)
        let leaders = layout.tasks.filter { $0.leader && !$0.idle }
        #expect(leaders.count > 20)
        let memory = try layout.fx.target().memory
        let first = try layout.threadList(of: layout.address(pid: 1), memory: memory)
        try damaged.writeChain(at: base, count: count, prevOfFirst: first, nextOfLast: 0)
        for t in leaders {
            let a = try #require(UInt64(t.task.dropFirst(2), radix: 16))
            try damaged.write(base, atVirtual: layout.threadList(of: a, memory: memory))
        }

        let (r, o) = try Self.run(damaged.path, ["ps"])
        #expect(r.status == 0)
        #expect(r.seconds < 20, "took \(r.seconds) s")
        #expect(r.peakKiB < 1_000_000, "peak RSS \(r.peakKiB) KiB")
        #expect(r.outBytes < 1_000_000, "printed \(r.outBytes) bytes")
        guard o.count == 1 else { return }
        #expect(o[0]["ok"] as? Bool == true)
        let ps = Self.warnings(o[0])
        #expect(ps.contains { $0.hasPrefix("the \(layout.threadListName) list of task_struct ") && $0.contains("(PID 1, init)")
                && $0.contains("the next node \(Self.hex(base))") && $0.contains("not a thread of that group") }, "\(ps)")
        #expect(ps.contains { $0.contains("(PID 2, kthreadd)") && $0.contains("joins at \(Self.hex(base)) a chain already walked") }, "\(ps)")
        #expect(ps.contains { $0.contains("more thread list warnings not shown") }, "\(ps)")
        #expect(ps.count <= 101, "\(ps.count) warnings")
        // The leaders are all there; the other threads hang off the patched links and are lost.
        try Self.expectSameTasks(o[0], layout, lost: Set(layout.tasks.filter { !$0.leader && !$0.idle }))
    }

    /// Every walker spends from the command's budget, which `set walk-limit`
    /// sizes: ps, list, mod and log stop at it with a warning naming the
    /// list, the count and the setting; a large limit gives the full results.
    @Test func walkLimitBoundsEveryWalker() throws {
        let layout = try Layout()
        let o = try KernelTests.json(layout.fx.elf, ["set walk-limit 40", "ps", "list -H init_task.tasks", "log",
                                                     "set walk-limit 3", "mod", "set walk-limit 1000000", "ps", "mod", "set"])
        guard o.count == 10 else { return }
        #expect(o[0]["ok"] as? Bool == true, "\(o[0]["error"] ?? "")")
        let ps = Self.warnings(o[1])
        let stop = try #require(ps.first { $0.hasPrefix("init_task.tasks") && $0.contains("stopped after") }, "\(ps)")
        #expect(stop.contains("walk budget of 40 links") && stop.contains("set walk-limit N"), "\(stop)")
        #expect(ps.contains { $0.contains("walked init_task.tasks backwards") })
        let some = try KernelTests.tasks(o[1])
        #expect(some.count < layout.tasks.count && some.count > 20, "\(some.count) tasks")
        #expect(Set(some).isSubset(of: Set(layout.tasks)))

        #expect(o[2]["count"] as? Int == 40)
        #expect(Self.warnings(o[2]).contains { $0.hasPrefix("init_task.tasks: stopped after 40 entries: the walk budget of 40 links") })
        #expect((o[3]["records"] as? [Any])?.count ?? 99 <= 40)
        #expect(Self.warnings(o[3]).contains { $0.contains("descriptor ring: stopped after 40 entries") }, "\(Self.warnings(o[3]))")

        let mods = try #require(o[5]["modules"] as? [Any])
        #expect(mods.count == 3, "\(mods.count) modules")
        #expect(Self.warnings(o[5]).contains { $0.contains("modules list: stopped after 3 entries") && $0.contains("set walk-limit") })

        #expect(Self.warnings(o[7]).isEmpty, "\(Self.warnings(o[7]))")
        try Self.expectSameTasks(o[7], layout)
        #expect((o[8]["modules"] as? [Any])?.count == layout.moduleCount)
        #expect(o[9]["walk_limit"] as? Int == 1_000_000)
    }
}
