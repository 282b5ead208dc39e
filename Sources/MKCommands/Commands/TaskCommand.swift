import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

enum TaskCommand {
    static let usage = "task PID|ADDRESS [MEMBER...]"

    static let spec = CommandSpec(
        name: "task", group: "kernel",
        summary: "print a task's task_struct, or chosen members of it",
        usage: usage, details: """

        PID is decimal (0 is CPU 0's idle task); ADDRESS is a task_struct address (0x..., or
        symbol[+offset]). MEMBERs are dotted paths (comm, se.vruntime, thread_info.cpu); without
        them the whole task_struct is printed as gdb's print does.
        """,
        examples: ["task 1", "task 1 comm pid se.vruntime", "task 0xffff8df8811fb000 real_parent"],
        arguments: [ArgumentSpec("PID|ADDRESS", .task, expected: "a PID or a task_struct address"),
                    ArgumentSpec("MEMBER", .text, .many)],
        json: ["pid", "task", "comm", "cpu", "value", "members", "warnings"]
    ) { args, session in
        let first = args.argument("PID|ADDRESS") ?? ""
        let kernel = try session.kernel()
        let target = try session.requireTarget()
        let layout = try TaskLayout(kernel)
        let address: UInt64
        var warnings: [String] = []
        if let pid = Int(first), !first.hasPrefix("0x") {
            let budget = session.walkBudget()
            let list = try kernel.tasks(budget: budget)
            warnings = list.warnings.map(\.description) + budget.droppedSummaries
            guard let t = list.tasks.first(where: { $0.pid == pid }) else {
                var message = "task: no task with PID \(pid)"
                if !warnings.isEmpty { message += " (the task list is incomplete: \(warnings.joined(separator: "; ")))" }
                throw CommandError.unknownName(String(pid), message: message)
            }
            address = t.address
        } else {
            address = try AddressExpression.evaluate(first, target: target)
        }
        let bytes = try kernel.readObject(at: address, covering: [layout.pid, layout.comm] + [layout.cpu].compactMap { $0 })
        let pid = bytes.signed(layout.pid) ?? -1
        let comm = bytes.string(layout.comm) ?? ""
        let cpu = layout.cpu.flatMap { bytes.unsigned($0) }
        let header = "PID: \(pid)  TASK: \(hexDigits(address))  CPU: \(cpu.map { String($0) } ?? "-")  COMMAND: \"\(comm)\""
        let formatter = try KernelCommandSupport.formatter(session)
        var fields: [(String, JSONValue)] = [("pid", .int(pid)), ("task", jsonAddress(address)), ("comm", .string(comm)),
                                             ("cpu", cpu.map { .uint($0) } ?? .null)]
        var body: String
        let members = args.words("MEMBER")
        if members.isEmpty {
            let value = Value(type: layout.type, address: address)
            let text = try formatter.top(value)
            body = header + "\n" + text
            fields.append(("value", .string(text)))
        } else {
            let m = try KernelCommandSupport.members(members, of: layout.type, at: address, kernel: kernel, formatter: formatter)
            body = ([header] + m.text).joined(separator: "\n")
            fields.append(("members", .array(m.json)))
        }
        let w = KernelCommandSupport.warnings("task", warnings)
        fields.append(("warnings", w.json))
        return CommandOutput(text: KernelCommandSupport.join(body, w.text), fields: fields)
    }
}
