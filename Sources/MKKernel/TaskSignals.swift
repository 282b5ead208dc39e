import MKFormat
import MKDebugInfo

/// One signal's disposition (`sighand->action[n - 1].sa`).
public struct SignalAction: Equatable {
    public var signal: Int
    /// `sa_handler`: 0 SIG_DFL, 1 SIG_IGN, else the handler's user address.
    public var handler: UInt64
    public var flags: UInt64
    public var mask: UInt64
    public var address: UInt64
}

/// What `sig` shows of a task: its signal_struct, blocked and pending sets, dispositions.
public struct TaskSignals {
    public var signalStruct: UInt64
    public var sighand: UInt64
    public var threads: Int64
    public var blocked: UInt64
    /// `pending.signal` (this thread's) and `signal->shared_pending.signal` (the group's).
    public var pending: UInt64
    public var sharedPending: UInt64
    public var actions: [SignalAction]
}

extension Kernel {
    /// The signal state of the task at `task`: the first word of each sigset (signals 1-64).
    public func signals(task: UInt64) throws -> TaskSignals {
        let t = object(try type("struct task_struct"), at: task)
        let signal = try t["signal"].unsigned(), sighand = try t["sighand"].unsigned()
        guard signal != 0, sighand != 0 else {
            throw KernelError.unsupportedLayout(what: "task_struct \(hex(task))", message: "the task has no signal_struct or sighand (it has exited)")
        }
        let s = try t["signal"].deref()
        let actionArray = try t["sighand"].deref()["action"]
        guard let n = actionArray.type.resolved.count, n > 0, n <= 128,
              let size = actionArray.type.resolved.target?.byteSize, size > 0, let base = actionArray.address else {
            throw KernelError.unsupportedLayout(what: "struct sighand_struct.action", message: "sighand_struct.action is not an array of struct k_sigaction")
        }
        let k = try type("struct k_sigaction")
        let handler = try offset(of: "sa.sa_handler", in: k), flags = try offset(of: "sa.sa_flags", in: k)
        let mask = try offset(of: "sa.sa_mask", in: k)
        var actions: [SignalAction] = []
        for i in 0..<Int(n) {
            let a = base &+ size &* UInt64(i)
            actions.append(SignalAction(signal: i + 1, handler: try memory.readVirtualU64(a &+ handler),
                                        flags: try memory.readVirtualU64(a &+ flags), mask: try memory.readVirtualU64(a &+ mask),
                                        address: a))
        }
        return TaskSignals(signalStruct: signal, sighand: sighand, threads: try s["nr_threads"].signed(),
                           blocked: try t["blocked"]["sig"].index(0).unsigned(),
                           pending: try t["pending"]["signal"]["sig"].index(0).unsigned(),
                           sharedPending: try s["shared_pending"]["signal"]["sig"].index(0).unsigned(), actions: actions)
    }
}
