import MKFormat
import MKMemory
import MKDebugInfo

/// One task (a thread: every `struct task_struct`), as `ps` lists it.
public struct TaskInfo: Equatable {
    /// Address of the `task_struct`.
    public var address: UInt64
    /// The thread id (`task_struct.pid`); 0 for the idle tasks.
    public var pid: Int
    /// The thread-group (process) id.
    public var tgid: Int
    /// The real parent's thread-group id, as `ps` shows PPID.
    public var ppid: Int
    /// `task_cpu()`: the CPU it last ran on (nil when the kernel keeps it nowhere known).
    public var cpu: Int?
    /// State letter (`TaskState`).
    public var state: Character
    public var comm: String
    public var isThreadGroupLeader: Bool
    /// One of the per-CPU idle tasks (`swapper/N`, PID 0).
    public var isIdle: Bool
    /// The task was running on a CPU when the image was taken (crash's `>`).
    public var isActive = false
}

/// Every task, and what went wrong on the way.
public struct TaskList {
    public var tasks: [TaskInfo] = []
    public var warnings: [WalkWarning] = []
}

/// Where `task_struct`'s members are in this kernel: looked up in DWARF once,
/// so the walk reads each task's bytes in one piece and decodes them here.
public struct TaskLayout {
    public let type: CType
    public let pid: Field
    public let tgid: Field
    public let comm: Field
    /// `__state` (5.14 and later) or `state`.
    public let state: Field
    public let exitState: Field
    public let realParent: Field
    public let groupLeader: Field
    public let tasks: Field
    /// `thread_group` (the thread ring, before 6.7) when present.
    public let threadGroup: Field?
    /// `thread_node`, linked on `signal->thread_head`.
    public let threadNode: Field?
    public let signal: Field?
    /// `signal_struct.thread_head`.
    public let signalThreadHead: Field?
    /// `thread_info.cpu` (embedded thread_info) or `cpu`.
    public let cpu: Field?

    /// The members read per task, in one read spanning them all.
    public let perTask: [Field]

    public init(_ kernel: Kernel) throws {
        let t = try kernel.type("struct task_struct")
        type = t
        pid = try kernel.field("pid", in: t)
        tgid = try kernel.field("tgid", in: t)
        comm = try kernel.field("comm", in: t)
        state = try kernel.optionalField("__state", in: t) ?? kernel.field("state", in: t)
        exitState = try kernel.field("exit_state", in: t)
        realParent = try kernel.field("real_parent", in: t)
        groupLeader = try kernel.field("group_leader", in: t)
        tasks = try kernel.field("tasks", in: t)
        threadGroup = kernel.optionalField("thread_group", in: t)
        threadNode = kernel.optionalField("thread_node", in: t)
        signal = kernel.optionalField("signal", in: t)
        if let s = signal, let st = s.type.resolved.target {
            signalThreadHead = kernel.optionalField("thread_head", in: st)
        } else {
            signalThreadHead = nil
        }
        cpu = kernel.optionalField("thread_info.cpu", in: t) ?? kernel.optionalField("cpu", in: t)
        perTask = [pid, tgid, comm, state, exitState, realParent, groupLeader, tasks] +
            [threadGroup, threadNode, signal, cpu].compactMap { $0 }
    }
}

extension Kernel {
    /// Every task: each CPU's idle task (`init_task` is CPU 0's; the others
    /// are the runqueues' `idle`), the thread-group leaders on
    /// `init_task.tasks`, and with `threads` each leader's other threads
    /// (its `thread_group` ring, or `signal->thread_head` on kernels without
    /// one). Sorted by PID (idle tasks by CPU).
    ///
    /// Every walk spends from `budget` and shares one visit set: a chain
    /// that several lists lead into is walked once. A broken link ends the
    /// forward walk with a warning naming it; the walk then goes backwards
    /// (`prev`) from the head to recover the tasks behind the break, which
    /// is why the forward walk and each thread list may spend only half of
    /// what is left of the budget. What is kept per task is its `TaskInfo`.
    public func tasks(threads: Bool = true, budget: WalkBudget = WalkBudget()) throws -> TaskList {
        let layout = try TaskLayout(self)
        var list = TaskList()
        var otherWarnings: [WalkWarning] = []
        func warn(_ kind: String, _ w: @autoclosure () -> WalkWarning) {
            if budget.keepWarning(kind) { otherWarnings.append(w()) }
        }
        /// A link warning, the list's name, the offset of its links in task_struct, and the task whose list it is.
        var linkWarnings: [(warning: WalkWarning, list: String, offset: Int, owner: UInt64?)] = []
        func warnLink(_ kind: String, _ w: WalkWarning, _ listName: @autoclosure () -> String, _ offset: Int) {
            if budget.keepWarning(kind) { linkWarnings.append((w, listName(), offset, nil)) }
        }
        var seen = Set<UInt64>()
        var raw: [(info: TaskInfo, parent: UInt64)] = []
        /// A leader and the two words its threads are found from.
        var leaders: [(task: UInt64, threadGroupNext: UInt64?, signal: UInt64?)] = []

        func add(_ address: UInt64, idleCPU: Int? = nil) -> ObjectBytes? {
            guard seen.insert(address).inserted else { return nil }
            let bytes: ObjectBytes
            do {
                bytes = try readObject(at: address, covering: layout.perTask)
            } catch {
                warn("unreadable task_struct", WalkWarning(address: address, message: "cannot read the task_struct: \(error)"))
                return nil
            }
            let pid = Int(bytes.signed(layout.pid) ?? -1)
            if pid < 0 || pid > 1 << 22 {
                warn("implausible pid", WalkWarning(address: address, message: "task_struct has an implausible pid \(pid)"))
            }
            let state = bytes.unsigned(layout.state) ?? 0
            let exit = bytes.unsigned(layout.exitState) ?? 0
            let leader = bytes.unsigned(layout.groupLeader) ?? 0
            let info = TaskInfo(address: address, pid: pid, tgid: Int(bytes.signed(layout.tgid) ?? -1), ppid: 0,
                                cpu: layout.cpu.flatMap { bytes.unsigned($0) }.map { Int($0) },
                                state: TaskState.letter(state: state & 0xffff_ffff, exitState: exit & 0xffff_ffff),
                                comm: bytes.string(layout.comm) ?? "", isThreadGroupLeader: leader == address,
                                isIdle: idleCPU != nil)
            raw.append((info, bytes.unsigned(layout.realParent) ?? 0))
            return bytes
        }

        // Idle tasks, one per possible CPU.
        let initTask = try address(of: "init_task")
        var idleWarnings: [WalkWarning] = []
        for (cpu, task) in idleTasks(warnings: &idleWarnings, initTask: initTask, budget: budget) {
            _ = add(task, idleCPU: cpu)
        }
        for w in idleWarnings { warn("idle task", w) }

        // Thread-group leaders on init_task.tasks.
        let walker = ListWalker(memory: memory, budget: budget, visits: WalkVisits())
        let head = initTask &+ UInt64(layout.tasks.offset)
        // Only thread-group leaders are on the task list, and a leader is its own group_leader.
        let isLeader = { (node: UInt64) -> String? in
            self.groupLeaderMismatch(task: node &- UInt64(layout.tasks.offset), leader: nil, layout: layout)
        }
        let forward = walker.walk(head: head, reserve: budget.remaining / 2, validate: isLeader)
        for w in forward.warnings { warnLink("init_task.tasks", w, "init_task.tasks", layout.tasks.offset) }
        var nodes = forward.nodes
        if !forward.complete {
            // Recover what lies behind the break by walking backwards, up to the first node already walked.
            let backward = walker.walk(head: head, nextOffset: 8, validate: isLeader)
            if !backward.nodes.isEmpty {
                warn("recovery", WalkWarning(address: head, message: "walked init_task.tasks backwards from the head to recover \(backward.nodes.count) more task\(backward.nodes.count == 1 ? "" : "s")"))
            }
            if case .joined = backward.end {} else if !backward.complete {
                for w in backward.warnings { warnLink("init_task.tasks", w, "init_task.tasks (backwards)", layout.tasks.offset) }
            }
            nodes += backward.nodes.reversed()
        }
        for node in nodes {
            let task = node &- UInt64(layout.tasks.offset)
            if let bytes = add(task) {
                leaders.append((task, layout.threadGroup.flatMap { bytes.unsigned($0) }, layout.signal.flatMap { bytes.unsigned($0) }))
            }
        }
        nodes = []

        // Other threads of each leader.
        if threads {
            let ring = layout.threadGroup.map { ($0.offset, "thread_group") } ?? (layout.threadNode?.offset ?? 0, "signal->thread_head")
            var unwalked = 0
            for leader in leaders {
                let (found, walk) = otherThreads(of: leader, layout: layout, walker: walker)
                for t in found { _ = add(t) }
                if let walk, walk.end == .budget, walk.nodes.isEmpty {
                    unwalked += 1
                } else if let walk, !walk.complete, budget.keepWarning("thread list") {
                    for w in walk.warnings { linkWarnings.append((w, "the \(ring.1) list of task_struct \(hex(leader.task))", ring.0, leader.task)) }
                }
            }
            if unwalked > 0 {
                warn("walk budget", WalkWarning(address: head, message: "the \(ring.1) lists of \(unwalked) thread-group leader\(unwalked == 1 ? "" : "s") were not walked: the walk budget of \(budget.limit) links per command is spent (set \(WalkBudget.setting) N raises it)"))
            }
        }
        leaders = []

        // PPID: the real parent's tgid (from the tasks read, else from memory).
        var tgidOf: [UInt64: Int] = [:]
        for r in raw { tgidOf[r.info.address] = r.info.tgid }
        var active = Set<UInt64>()
        if let cpus = try? cpus(.possible) {
            for cpu in cpus { if let t = try? currentTask(cpu: cpu) { active.insert(t) } }
        }
        list.tasks.reserveCapacity(raw.count)
        for (info, parent) in raw {
            var t = info
            if let tg = tgidOf[parent] {
                t.ppid = tg
            } else if parent != 0, let bytes = try? memory.readVirtual(parent &+ UInt64(layout.tgid.offset), count: 4) {
                t.ppid = Int(Int32(bitPattern: UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24))
            }
            if t.isIdle { t.ppid = 0 }
            t.isActive = active.contains(t.address)
            list.tasks.append(t)
        }
        raw = []
        tgidOf = [:]
        // Name the task whose link is broken, when it is one we read.
        var byAddress: [UInt64: Int] = [:]
        if !linkWarnings.isEmpty {
            for (i, t) in list.tasks.enumerated() { byAddress[t.address] = i }
        }
        var linkMessages: [WalkWarning] = []
        for (w, listName, offset, owner) in linkWarnings {
            // The task holding the bad link; else (a link in the leader's signal_struct) the leader.
            let holder = byAddress[w.address &- UInt64(offset)] ?? owner.flatMap { byAddress[$0] }
            let where_ = holder.map { list.tasks[$0] }.map {
                ($0.address == owner ? "" : " at task_struct \(hex($0.address))") + " (PID \($0.pid), \($0.comm))"
            } ?? ""
            linkMessages.append(WalkWarning(address: w.address, message: "\(listName)\(where_): \(w.message)"))
        }
        list.warnings = linkMessages + otherWarnings
        list.tasks.sort { a, b in
            if a.pid != b.pid { return a.pid < b.pid }
            return (a.cpu ?? 0) < (b.cpu ?? 0)
        }
        return list
    }

    /// (CPU, idle task) for each possible CPU: the runqueue's `idle`, else
    /// per-CPU `idle_threads`; CPU 0's is `init_task` whatever they say.
    func idleTasks(warnings: inout [WalkWarning], initTask: UInt64, budget: WalkBudget) -> [(Int, UInt64)] {
        var result: [(Int, UInt64)] = [(0, initTask)]
        let cpuList: [Int]
        do {
            cpuList = try cpus(.possible)
        } catch {
            warnings.append(WalkWarning(address: 0, message: "cannot read the possible-CPU mask (\(error)); listing CPU 0's idle task only"))
            return result
        }
        let offsets = try? perCPUOffsets()
        for cpu in cpuList where cpu != 0 {
            guard budget.take() else {
                warnings.append(WalkWarning(address: 0, message: "idle tasks: " + budget.spentMessage(entries: result.count, reserve: 0)))
                break
            }
            var task: UInt64 = 0
            if let rq = try? perCPU("runqueues", cpu: cpu, offsets: offsets), let t = try? rq["idle"].unsigned() {
                task = t
            }
            if task == 0, has(variable: "idle_threads"),
               let t = try? perCPU("idle_threads", cpu: cpu, offsets: offsets).unsigned() {
                task = t
            }
            if task == 0 {
                warnings.append(WalkWarning(address: 0, message: "CPU \(cpu) has no idle task recorded"))
            } else if task & 7 != 0 {
                warnings.append(WalkWarning(address: task, message: "CPU \(cpu)'s idle task pointer is misaligned"))
            } else {
                result.append((cpu, task))
            }
        }
        return result
    }

    /// The threads of a group other than its leader, from the leader's
    /// `thread_group.next` or `signal` (read with the leader). Each list may
    /// spend half of what is left of the budget.
    func otherThreads(of leader: (task: UInt64, threadGroupNext: UInt64?, signal: UInt64?), layout: TaskLayout,
                      walker: ListWalker) -> (threads: [UInt64], walk: ListWalker.Result?) {
        if let ring = layout.threadGroup {
            // A ring through every thread's thread_group, no separate head.
            let node = leader.task &+ UInt64(ring.offset)
            if leader.threadGroupNext == node { return ([], nil) }
            let r = walker.walk(head: node, reserve: walker.budget.remaining / 2) {
                self.groupLeaderMismatch(task: $0 &- UInt64(ring.offset), leader: leader.task, layout: layout)
            }
            return (r.nodes.map { $0 &- UInt64(ring.offset) }, r)
        }
        guard let head = layout.signalThreadHead, let link = layout.threadNode,
              let s = leader.signal, s != 0 else { return ([], nil) }
        let r = walker.walk(head: s &+ UInt64(head.offset), reserve: walker.budget.remaining / 2) {
            self.groupLeaderMismatch(task: $0 &- UInt64(link.offset), leader: leader.task, layout: layout)
        }
        return (r.nodes.map { $0 &- UInt64(link.offset) }.filter { $0 != leader.task }, r)
    }

    /// Why the task_struct at `task` is not a thread of `leader`'s group (of
    /// its own group, a leader, when `leader` is nil): its `group_leader`
    /// says otherwise, or cannot be read; nil when it is.
    func groupLeaderMismatch(task: UInt64, leader: UInt64?, layout: TaskLayout) -> String? {
        let want = leader ?? task
        let got: UInt64
        do {
            got = try memory.readVirtualU64(task &+ UInt64(layout.groupLeader.offset))
        } catch {
            return "(task_struct \(hex(task))) has an unreadable group_leader: \(error)"
        }
        if got == want { return nil }
        return leader == nil
            ? "(task_struct \(hex(task))) has group_leader \(hex(got)), not itself: not a thread-group leader"
            : "(task_struct \(hex(task))) has group_leader \(hex(got)), not \(hex(want)): not a thread of that group"
    }

    /// The task with thread id `pid` (an idle task for 0: CPU 0's).
    public func task(pid: Int, budget: WalkBudget = WalkBudget()) throws -> TaskInfo? {
        try tasks(budget: budget).tasks.first { $0.pid == pid }
    }
}
