import MKFormat
import MKKernel

/// crash's `runq [-c CPU]`: each CPU's run queue, its current task, and
/// the tasks queued on its RT priority lists and its CFS timeline.
enum RunqCommand {
    static let usage = "runq [-c CPU]"

    static let spec = CommandSpec(
        name: "runq", group: "kernel",
        summary: "each CPU's run queue: the current task, the RT and CFS queues' tasks",
        usage: usage, details: """

        The run queues are per-CPU runqueues (struct rq). RT tasks are listed by priority list
        (rt.active.queue[]), CFS tasks in vruntime order from cfs.tasks_timeline (a group's
        entity is replaced by its own queue's tasks). [N] is the task's prio.
        """,
        examples: ["runq", "runq -c 0"],
        options: [.option("-c", value: ArgumentSpec("CPU", .integer, expected: "a CPU number"), help: "only this CPU")],
        json: ["cpus", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let cpus = try KernelCommandSupport.cpuOption(args, "-c", kernel: kernel, command: "runq")
        let budget = session.walkBudget()
        let queues: [RunQueue]
        do {
            queues = try kernel.runQueues(cpus: cpus, budget: budget)
        } catch let e as KernelError {
            throw CommandError.failed("runq: \(e)", cause: e)
        }
        var lines: [String] = []
        var json: [JSONValue] = []
        var warnings: [String] = []
        func row(_ t: QueuedTask) -> String {
            "     [\(t.prio)] PID: \(t.pid)  TASK: \(hexDigits(t.task))  COMMAND: \"\(t.comm)\""
        }
        func object(_ t: QueuedTask) -> JSONValue {
            .object([("prio", .int(t.prio)), ("pid", .int(t.pid)), ("task", jsonAddress(t.task)), ("comm", .string(t.comm)),
                     ("group", t.group.map { jsonAddress($0) } ?? .null)])
        }
        for q in queues {
            if !lines.isEmpty { lines.append("") }
            lines.append("CPU \(q.cpu) RUNQUEUE: \(hexDigits(q.address))")
            lines.append("  CURRENT: PID: \(q.currentPid)  TASK: \(hexDigits(q.current))  COMMAND: \"\(q.currentComm)\"")
            lines.append("  RT PRIO_ARRAY: \(hexDigits(q.rtArray))")
            lines += q.rt.isEmpty ? ["     [no tasks queued]"] : q.rt.map(row)
            lines.append("  CFS RB_ROOT: \(hexDigits(q.cfsRoot))")
            lines += q.cfs.isEmpty ? ["     [no tasks queued]"] : q.cfs.map(row)
            warnings += q.warnings.map { "CPU \(q.cpu): \($0)" }
            json.append(.object([("cpu", .int(Int64(q.cpu))), ("runqueue", jsonAddress(q.address)),
                                 ("current", .object([("task", jsonAddress(q.current)), ("pid", .int(q.currentPid)),
                                                      ("comm", .string(q.currentComm))])),
                                 ("rt_prio_array", jsonAddress(q.rtArray)), ("rt", .array(q.rt.map(object))),
                                 ("cfs_rb_root", jsonAddress(q.cfsRoot)), ("cfs", .array(q.cfs.map(object)))]))
        }
        let w = KernelCommandSupport.warnings("runq", warnings, budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("cpus", .array(json)), ("warnings", w.json)])
    }
}
