import MKFormat
import MKDebugInfo

/// One entry on a wait queue (`struct wait_queue_entry`) and the task it wakes.
public struct WaitQueueEntry: Equatable {
    public var address: UInt64
    public var flags: UInt64
    /// `private`: the task for default entries, the `poll_wqueues` for poll and select.
    public var privateData: UInt64
    public var function: UInt64
    /// The sleeping task: `private`, or the poll table's `polling_task` when the entry is pollwake's.
    public var task: UInt64?
    public var pid: Int64?
    public var comm: String?
}

extension Kernel {
    /// The entries of the `wait_queue_head` at `head` (its `head` list, bounded and cycle-checked).
    public func waitQueue(head: UInt64, budget: WalkBudget = WalkBudget()) throws -> (entries: [WaitQueueEntry], warnings: [WalkWarning]) {
        let headType = try type("struct wait_queue_head")
        let list = try offset(of: "head", in: headType)
        let entryType = try type("struct wait_queue_entry")
        let link = try offset(of: "entry", in: entryType)
        let fields = [try field("flags", in: entryType), try field("private", in: entryType), try field("func", in: entryType)]
        let pollwake = target.symbols?.lookup("pollwake")?.address
        let pollingTask = try? offset(of: "polling_task", in: try type("struct poll_wqueues"))
        let tasks = try TaskLayout(self)
        let walk = ListWalker(memory: memory, budget: budget).walk(head: head &+ list)
        var warnings = walk.warnings
        var entries: [WaitQueueEntry] = []
        for node in walk.nodes {
            let at = node &- link
            do {
                let b = try readObject(at: at, covering: fields)
                var e = WaitQueueEntry(address: at, flags: b.unsigned(fields[0]) ?? 0, privateData: b.unsigned(fields[1]) ?? 0,
                                       function: b.unsigned(fields[2]) ?? 0)
                var task = e.privateData
                if let pollwake, e.function == pollwake, let pollingTask {
                    task = try memory.readVirtualU64(e.privateData &+ pollingTask)
                }
                if task != 0, let t = try? readObject(at: task, covering: [tasks.pid, tasks.comm]) {
                    e.task = task
                    e.pid = t.signed(tasks.pid)
                    e.comm = t.string(tasks.comm)
                }
                entries.append(e)
            } catch {
                warnings.append(WalkWarning(address: at, message: "cannot read the wait_queue_entry: \(error)"))
            }
        }
        return (entries, warnings)
    }
}
