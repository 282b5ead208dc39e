import MKFormat
import MKKernel

/// crash's `waitq ADDRESS`: the tasks sleeping on a wait queue head.
enum WaitqCommand {
    static let usage = "waitq ADDRESS"

    static let spec = CommandSpec(
        name: "waitq", group: "kernel",
        summary: "the tasks waiting on a wait_queue_head, and each entry's wake function",
        usage: usage, details: """

        ADDRESS is a struct wait_queue_head (an expression: &pipe->rd_wait, a symbol, a number).
        Each wait_queue_entry on its list names the task it wakes: its private, or for poll and
        select (func pollwake) the poll table's polling_task, which crash does not follow.
        """,
        examples: ["waitq 0xffff888003a3c018", "waitq &((struct pipe_inode_info *)0xffff888003a3c000)->rd_wait"],
        arguments: [ArgumentSpec("ADDRESS", .expression, .many, expected: "a wait_queue_head address")],
        json: ["head", "entries", "warnings"]
    ) { args, session in
        let kernel = try session.kernel()
        let target = try session.requireTarget()
        let word = args.words("ADDRESS").joined(separator: " ")
        let head = try PageTableText.crashNumber(word, isSymbol: { target.symbols?.lookup($0) != nil })
            ?? ExamineCommand.address(of: word, session, physical: false, command: "waitq")
        let budget = session.walkBudget()
        let result: (entries: [WaitQueueEntry], warnings: [WalkWarning])
        do { result = try kernel.waitQueue(head: head, budget: budget) } catch let e as KernelError { throw CommandError.failed("waitq: \(e)", cause: e) }
        let symbols = target.symbols
        func fn(_ a: UInt64) -> String { symbols?.describeForPointer(a) ?? hexDigits(a) }
        var lines: [String] = []
        if result.entries.isEmpty { lines.append("wait queue \(hexDigits(head)) is empty") }
        for e in result.entries {
            if let task = e.task {
                lines.append("PID: \(e.pid ?? -1)  TASK: \(hexDigits(task))  COMMAND: \"\(e.comm ?? "")\"  (entry \(hexDigits(e.address)), \(fn(e.function)))")
            } else {
                lines.append("ENTRY: \(hexDigits(e.address))  PRIVATE: \(hexDigits(e.privateData))  FUNC: \(fn(e.function))")
            }
        }
        let json: [JSONValue] = result.entries.map { e in
            .object([("address", jsonAddress(e.address)), ("flags", .uint(e.flags)), ("private", jsonAddress(e.privateData)),
                     ("func", jsonAddress(e.function)), ("func_symbol", symbols?.describeForPointer(e.function).map { .string($0) } ?? .null),
                     ("task", e.task.map { jsonAddress($0) } ?? .null), ("pid", e.pid.map { .int($0) } ?? .null),
                     ("comm", e.comm.map { .string($0) } ?? .null)])
        }
        let w = KernelCommandSupport.warnings("waitq", result.warnings.map(\.description), budget: budget)
        return CommandOutput(text: KernelCommandSupport.join(lines.joined(separator: "\n"), w.text),
                             fields: [("head", jsonAddress(head)), ("entries", .array(json)), ("warnings", w.json)])
    }
}
