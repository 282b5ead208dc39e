import MKFormat
import MKDebugInfo

/// A task queued on a run queue: its priority and identity.
public struct QueuedTask: Equatable {
    public var task: UInt64
    public var pid: Int64
    public var comm: String
    public var prio: Int64
    /// The CFS group run queue (`cfs_rq`) it is queued on, when not the CPU's own.
    public var group: UInt64?
}

/// One CPU's run queue (`struct rq`, per-CPU `runqueues`): what was
/// running, and the RT and CFS queues' tasks.
public struct RunQueue {
    public var cpu: Int
    public var address: UInt64
    public var current: UInt64
    public var currentPid: Int64
    public var currentComm: String
    /// `rq.rt.active` (`struct rt_prio_array`).
    public var rtArray: UInt64
    /// RT tasks by priority queue, highest priority (lowest number) first.
    public var rt: [QueuedTask]
    /// `rq.cfs.tasks_timeline`.
    public var cfsRoot: UInt64
    /// CFS tasks in vruntime order (group queues' tasks in place of their group's entity).
    public var cfs: [QueuedTask]
    public var warnings: [WalkWarning]
}

/// Where `struct rq`'s queues and the scheduling entities' links are, from DWARF.
struct RunQueueLayout {
    let task: TaskLayout
    let prio: Field
    let rqCurr: UInt64
    let rqRt: UInt64
    let rqCfs: UInt64
    let rtActive: UInt64
    let rtQueue: UInt64
    let rtQueues: Int
    let listHeadSize: UInt64
    let taskRtRunList: UInt64
    let cfsTimeline: UInt64
    let seRunNode: UInt64
    let seMyQ: UInt64?
    let taskSe: UInt64

    init(_ kernel: Kernel) throws {
        task = try TaskLayout(kernel)
        prio = try kernel.field("prio", in: task.type)
        let rq = try kernel.type("struct rq")
        rqCurr = try kernel.offset(of: "curr", in: rq)
        rqRt = try kernel.offset(of: "rt", in: rq)
        rqCfs = try kernel.offset(of: "cfs", in: rq)
        let rtRq = try kernel.type("struct rt_rq")
        rtActive = try kernel.offset(of: "active", in: rtRq)
        let array = try kernel.type("struct rt_prio_array")
        let queue = try kernel.field("queue", in: array)
        guard let n = queue.type.resolved.count, n > 0, n <= 1024 else {
            throw KernelError.unsupportedLayout(what: "struct rt_prio_array.queue", message: "rt_prio_array.queue is not an array of list heads")
        }
        rtQueue = UInt64(queue.offset)
        rtQueues = Int(n)
        guard let lh = try kernel.type("struct list_head").byteSize, lh > 0 else {
            throw KernelError.unsupportedLayout(what: "struct list_head", message: "struct list_head has no size")
        }
        listHeadSize = lh
        taskRtRunList = try kernel.offset(of: "rt.run_list", in: task.type)
        let cfsRq = try kernel.type("struct cfs_rq")
        cfsTimeline = try kernel.offset(of: "tasks_timeline", in: cfsRq)
        let se = try kernel.type("struct sched_entity")
        seRunNode = try kernel.offset(of: "run_node", in: se)
        seMyQ = try? kernel.offset(of: "my_q", in: se)
        taskSe = try kernel.offset(of: "se", in: task.type)
    }
}

extension Kernel {
    /// The run queue of each CPU in `cpus` (default: the possible CPUs).
    public func runQueues(cpus: [Int]? = nil, budget: WalkBudget = WalkBudget()) throws -> [RunQueue] {
        let layout = try RunQueueLayout(self)
        let list = try cpus ?? ((try? self.cpus(.possible)) ?? Array(0..<nrCPUIds()))
        let offsets = try perCPUOffsets()
        var result: [RunQueue] = []
        for cpu in list {
            guard let rq = try perCPU("runqueues", cpu: cpu, offsets: offsets).address else { continue }
            result.append(try runQueue(cpu: cpu, at: rq, layout: layout, budget: budget))
        }
        return result
    }

    private func queued(_ task: UInt64, layout: RunQueueLayout, group: UInt64?) throws -> QueuedTask {
        let l = layout.task
        let b = try readObject(at: task, covering: [l.pid, l.comm, layout.prio])
        return QueuedTask(task: task, pid: b.signed(l.pid) ?? -1, comm: b.string(l.comm) ?? "",
                          prio: b.signed(layout.prio) ?? -1, group: group)
    }

    private func runQueue(cpu: Int, at rq: UInt64, layout: RunQueueLayout, budget: WalkBudget) throws -> RunQueue {
        let current = try memory.readVirtualU64(rq &+ layout.rqCurr)
        let cur = try queued(current, layout: layout, group: nil)
        var warnings: [WalkWarning] = []
        // RT: each priority's list of sched_rt_entity.run_list.
        let rtArray = rq &+ layout.rqRt &+ layout.rtActive
        var rt: [QueuedTask] = []
        let lists = ListWalker(memory: memory, budget: budget)
        for p in 0..<layout.rtQueues {
            let head = rtArray &+ layout.rtQueue &+ layout.listHeadSize &* UInt64(p)
            let walk = lists.walk(head: head)
            warnings += walk.warnings
            for node in walk.nodes {
                do {
                    rt.append(try queued(node &- layout.taskRtRunList, layout: layout, group: nil))
                } catch {
                    warnings.append(WalkWarning(address: node, message: "cannot read the RT task of run_list: \(error)"))
                }
            }
        }
        // CFS: the timeline in vruntime order; a group's entity stands for its own queue's tasks.
        let cfsRoot = rq &+ layout.rqCfs &+ layout.cfsTimeline
        var cfs: [QueuedTask] = []
        let tree = try RBTreeWalker(kernel: self, budget: budget)
        func timeline(_ root: UInt64, group: UInt64?, depth: Int) {
            guard depth < 16 else {
                warnings.append(WalkWarning(address: root, message: "CFS group queues nested deeper than 16"))
                return
            }
            let first: UInt64
            do {
                first = try memory.readVirtualU64(root)
            } catch {
                warnings.append(WalkWarning(address: root, message: "cannot read tasks_timeline: \(error)"))
                return
            }
            let walk = tree.walk(root: first)
            warnings += walk.warnings
            for node in walk.nodes {
                let se = node &- layout.seRunNode
                if let myQ = layout.seMyQ, let q = try? memory.readVirtualU64(se &+ myQ), q != 0 {
                    timeline(q &+ layout.cfsTimeline, group: q, depth: depth + 1)
                    continue
                }
                do {
                    cfs.append(try queued(se &- layout.taskSe, layout: layout, group: group))
                } catch {
                    warnings.append(WalkWarning(address: se, message: "cannot read the CFS task of sched_entity: \(error)"))
                }
            }
        }
        timeline(cfsRoot, group: nil, depth: 0)
        return RunQueue(cpu: cpu, address: rq, current: current, currentPid: cur.pid, currentComm: cur.comm,
                        rtArray: rtArray, rt: rt, cfsRoot: cfsRoot, cfs: cfs, warnings: warnings)
    }
}
