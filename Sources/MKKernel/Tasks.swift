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
    public var perTask: [Field] {
        [pid, tgid, comm, state, exitState, realParent, groupLeader, tasks] +
            [threadGroup, threadNode, signal, cpu].compactMap { $0 }
    }

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
    }
}

extension Kernel {
    /// Every task: each CPU's idle task (`init_task` is CPU 0's; the others
    /// are the runqueues' `idle`), the thread-group leaders on
    /// `init_task.tasks`, and with `threads` each leader's other threads
    /// (its `thread_group` ring, or `signal->thread_head` on kernels without
    /// one). Sorted by PID (idle tasks by CPU).
    ///
    /// Every walk is bounded and cycle-checked. A broken link ends the
    /// forward walk with a warning naming it; the walk then goes backwards
    /// (`prev`) from the head to recover the tasks behind the break.
    public func tasks(threads: Bool = true) throws -> TaskList {
        let layout = try TaskLayout(self)
        var list = TaskList()
        var seen = Set<UInt64>()
        var raw: [(info: TaskInfo, parent: UInt64)] = []

        func add(_ address: UInt64, idleCPU: Int? = nil) -> ObjectBytes? {
            guard seen.insert(address).inserted else { return nil }
            let bytes: ObjectBytes
            do {
                bytes = try readObject(at: address, covering: layout.perTask)
            } catch {
                list.warnings.append(WalkWarning(address: address, message: "cannot read the task_struct: \(error)"))
                return nil
            }
            let pid = Int(bytes.signed(layout.pid) ?? -1)
            if pid < 0 || pid > 1 << 22 {
                list.warnings.append(WalkWarning(address: address, message: "task_struct has an implausible pid \(pid)"))
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
        for (cpu, task) in idleTasks(warnings: &list.warnings, initTask: initTask) {
            _ = add(task, idleCPU: cpu)
        }

        // Thread-group leaders on init_task.tasks.
        let walker = ListWalker(memory: memory)
        let head = initTask &+ UInt64(layout.tasks.offset)
        var leaders: [(UInt64, ObjectBytes)] = []
        let forward = walker.walk(head: head)
        var linkWarnings: [(WalkWarning, String, Int)] = forward.warnings.map { ($0, "init_task.tasks", layout.tasks.offset) }
        var nodes = forward.nodes
        if !forward.complete {
            // Recover what lies behind the break by walking backwards.
            let known = Set(nodes)
            let backward = walker.walk(head: head, nextOffset: 8)
            let recovered = backward.nodes.prefix { !known.contains($0) }
            if !recovered.isEmpty {
                list.warnings.append(WalkWarning(address: head, message: "walked init_task.tasks backwards from the head to recover \(recovered.count) more task\(recovered.count == 1 ? "" : "s")"))
            }
            if backward.nodes.count == recovered.count, !backward.complete {
                linkWarnings += backward.warnings.map { ($0, "init_task.tasks (backwards)", layout.tasks.offset) }
            }
            nodes += recovered.reversed()
        }
        for node in nodes {
            let task = node &- UInt64(layout.tasks.offset)
            if let bytes = add(task) { leaders.append((task, bytes)) }
        }

        // Other threads of each leader.
        if threads {
            for (leader, bytes) in leaders {
                var threadWarnings: [WalkWarning] = []
                defer {
                    let ring = layout.threadGroup.map { ($0.offset, "thread_group") } ?? (layout.threadNode?.offset ?? 0, "signal->thread_head")
                    linkWarnings += threadWarnings.map { ($0, "the \(ring.1) list of task_struct \(hex(leader))", ring.0) }
                }
                for t in otherThreads(of: leader, bytes: bytes, layout: layout, walker: walker, warnings: &threadWarnings) {
                    _ = add(t)
                }
            }
        }

        // PPID: the real parent's tgid (from the tasks read, else from memory).
        var tgidOf: [UInt64: Int] = [:]
        for r in raw { tgidOf[r.info.address] = r.info.tgid }
        var active = Set<UInt64>()
        if let cpus = try? cpus(.possible) {
            for cpu in cpus { if let t = try? currentTask(cpu: cpu) { active.insert(t) } }
        }
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
        // Name the task whose link is broken, when it is one we read.
        var byAddress: [UInt64: TaskInfo] = [:]
        for t in list.tasks { byAddress[t.address] = t }
        var linkMessages: [WalkWarning] = []
        for (w, listName, offset) in linkWarnings {
            let where_ = byAddress[w.address &- UInt64(offset)].map { " at task_struct \(hex($0.address)) (PID \($0.pid), \($0.comm))" } ?? ""
            linkMessages.append(WalkWarning(address: w.address, message: "\(listName)\(where_): \(w.message)"))
        }
        list.warnings = linkMessages + list.warnings
        list.tasks.sort { a, b in
            if a.pid != b.pid { return a.pid < b.pid }
            return (a.cpu ?? 0) < (b.cpu ?? 0)
        }
        return list
    }

    /// (CPU, idle task) for each possible CPU: the runqueue's `idle`, else
    /// per-CPU `idle_threads`; CPU 0's is `init_task` whatever they say.
    func idleTasks(warnings: inout [WalkWarning], initTask: UInt64) -> [(Int, UInt64)] {
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

    /// The threads of a group other than its leader.
    func otherThreads(of leader: UInt64, bytes: ObjectBytes, layout: TaskLayout, walker: ListWalker,
                      warnings: inout [WalkWarning]) -> [UInt64] {
        if let ring = layout.threadGroup {
            // A ring through every thread's thread_group, no separate head.
            let node = leader &+ UInt64(ring.offset)
            if bytes.unsigned(ring) == node { return [] }
            let r = walker.walk(head: node)
            warnings += r.warnings
            return r.nodes.map { $0 &- UInt64(ring.offset) }
        }
        guard let signal = layout.signal, let head = layout.signalThreadHead, let link = layout.threadNode,
              let s = bytes.unsigned(signal), s != 0 else { return [] }
        let r = walker.walk(head: s &+ UInt64(head.offset))
        warnings += r.warnings
        return r.nodes.map { $0 &- UInt64(link.offset) }.filter { $0 != leader }
    }

    /// The task with thread id `pid` (an idle task for 0: CPU 0's).
    public func task(pid: Int) throws -> TaskInfo? {
        try tasks().tasks.first { $0.pid == pid }
    }
}
