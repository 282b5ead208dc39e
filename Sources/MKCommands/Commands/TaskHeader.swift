import MKFormat
import MKKernel

/// The task a per-task command (`vm`, `files`) is about, and crash's header
/// line for it: `PID: 1  TASK: ffff…  CPU: 0  COMMAND: "init"`.
struct TaskHeader {
    var task: UInt64
    var pid: Int64
    var comm: String
    var cpu: UInt64?
    var notes: [String]

    /// `word` (a PID or task address), else the selected task (`set PID`, `bt PID`), else the panicking CPU's.
    static func resolve(_ word: String?, session: Session, command: String, usage: String) throws -> TaskHeader {
        guard let context = session.current else { throw CommandError.noTarget }
        let tracer = try context.backtracer(budget: session.walkBudget())
        let (task, notes) = try word.map { try TaskArgument.resolve($0, tracer: tracer, command: command, usage: usage) }
            ?? TaskArgument.selectedOrDefault(context, tracer: tracer)
        let kernel = try session.kernel()
        let layout = try TaskLayout(kernel)
        let bytes = try kernel.readObject(at: task, covering: [layout.pid, layout.comm] + [layout.cpu].compactMap { $0 })
        return TaskHeader(task: task, pid: bytes.signed(layout.pid) ?? -1, comm: bytes.string(layout.comm) ?? "",
                          cpu: layout.cpu.flatMap { bytes.unsigned($0) }, notes: notes)
    }

    var line: String {
        "PID: \(pid)  TASK: \(hexDigits(task))  CPU: \(cpu.map { String($0) } ?? "-")  COMMAND: \"\(comm)\""
    }

    /// The header line, then how the task was found.
    var lines: [String] { [line] + notes.map { "-- \($0)" } }

    var fields: [(String, JSONValue)] {
        [("task", jsonAddress(task)), ("pid", .int(pid)), ("comm", .string(comm)), ("cpu", cpu.map { .uint($0) } ?? .null)]
    }
}
