import MKFormat
import MKKernel

/// crash's `foreach [PID|TASK|COMM|kernel|user|active ...] COMMAND [ARGS]`:
/// one command for each chosen task, as if it were given that task.
enum ForeachCommand {
    static let usage = "foreach [PID | TASK | COMM | kernel | user | active]... COMMAND [ARGS...]"
    /// The commands that take a task (the task goes before their other arguments).
    static let perTask: Set<String> = ["bt", "files", "vm", "sig", "task", "mount", "net"]

    static let spec = CommandSpec(
        name: "foreach", group: "kernel",
        summary: "run bt, files, vm, sig, task, mount or net -s for each task (all, or those chosen by PID, address, name or kind)",
        usage: usage, details: """

        Selectors come before the command: PIDs, task_struct addresses, command names (a task's
        comm), `kernel` (kernel threads: no mm), `user` (tasks with an mm), `active` (each CPU's
        current task); none chooses every task but the idle ones. The command runs once per task,
        in PID order, with the task as its argument (`foreach bt -f` is `bt -f TASK` for each);
        the selected task and frame stay as they were. Each task's output starts with the
        command's own task header; --json gives one object with each task's result.
        """,
        examples: ["foreach bt", "foreach user files", "foreach mk-sleeper sig", "foreach 1 2 task comm", "foreach net -s"],
        arguments: [ArgumentSpec("ARGS", .command, .many, expected: "selectors, then a command")],
        json: ["command_run", "tasks", "warnings"]
    ) { args, session in
        let words = args.words("ARGS")
        guard let at = words.firstIndex(where: { perTask.contains($0) }) else {
            throw CommandError.usage(command: "foreach", message: "expected one of \(perTask.sorted().joined(separator: ", ")) after the selectors",
                                     usage: usage)
        }
        let selectors = Array(words[..<at]), command = words[at], rest = Array(words[(at + 1)...])
        let kernel = try session.kernel()
        let list = try kernel.tasks(budget: session.walkBudget())
        var chosen = list.tasks.filter { !$0.isIdle }
        if !selectors.isEmpty {
            let mm = try? kernel.offset(of: "mm", in: try kernel.type("struct task_struct"))
            func hasMM(_ t: TaskInfo) -> Bool { mm.flatMap { try? kernel.readU64(t.address &+ $0) }.map { $0 != 0 } ?? false }
            var picked: [TaskInfo] = []
            for s in selectors {
                let hit: [TaskInfo]
                switch s {
                case "kernel": hit = chosen.filter { !hasMM($0) }
                case "user": hit = chosen.filter(hasMM)
                case "active": hit = list.tasks.filter(\.isActive)
                default:
                    if s.hasPrefix("0x"), let a = UInt64(s.dropFirst(2), radix: 16) {
                        hit = list.tasks.filter { $0.address == a }
                    } else if let pid = Int(s) {
                        hit = list.tasks.filter { $0.pid == pid && ($0.pid != 0 || $0.cpu == 0) }
                    } else {
                        hit = list.tasks.filter { $0.comm == s }
                    }
                }
                guard !hit.isEmpty else {
                    throw CommandError.invalidArgument(s, message: "foreach: no task matches \(s)")
                }
                picked += hit.filter { h in !picked.contains { $0.address == h.address } }
            }
            chosen = picked.sorted { ($0.pid, $0.address) < ($1.pid, $1.address) }
        }
        // The commands below select their task (bt does); what the user selected stays.
        guard let context = session.current else { throw CommandError.noTarget }
        let saved = context.selection
        defer { context.selection = saved }
        var texts: [String] = []
        var results: [JSONValue] = []
        for t in chosen {
            try Cancellation.check()
            let line = ([command] + rest.filter { $0.hasPrefix("-") } + ["0x" + String(t.address, radix: 16)]
                        + rest.filter { !$0.hasPrefix("-") }).joined(separator: " ")
            do {
                let out = try session.execute(line)
                texts.append(out.text)
                results.append(.object([("pid", .int(Int64(t.pid))), ("task", jsonAddress(t.address)), ("comm", .string(t.comm)),
                                        ("ok", .bool(true)), ("result", .object(out.fields))]))
            } catch {
                texts.append("PID: \(t.pid)  TASK: \(hexDigits(t.address))  COMMAND: \"\(t.comm)\"\nforeach: \(command): \(error)")
                results.append(.object([("pid", .int(Int64(t.pid))), ("task", jsonAddress(t.address)), ("comm", .string(t.comm)),
                                        ("ok", .bool(false)), ("error", .string("\(error)"))]))
            }
        }
        let w = KernelCommandSupport.warnings("foreach", list.warnings.map(\.description))
        return CommandOutput(text: KernelCommandSupport.join(texts.joined(separator: "\n\n"), w.text),
                             fields: [("command_run", .string(([command] + rest).joined(separator: " "))), ("tasks", .array(results)),
                                      ("warnings", w.json)])
    }
}
