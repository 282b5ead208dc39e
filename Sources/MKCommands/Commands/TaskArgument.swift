import MKFormat
import MKKernel

/// A PID or a `task_struct` address as `bt`, `set` and the frame commands
/// take it: the task, and what the user should know about the choice.
enum TaskArgument {
    static func resolve(_ word: String, tracer: Backtracer, command: String, usage: String) throws -> (task: UInt64, notes: [String]) {
        if word.hasPrefix("-") {
            let what = word.dropFirst().allSatisfy(\.isNumber) ? "\(word) is not a PID" : "unknown option \(word)"
            throw CommandError.usage(command: command, message: what, usage: usage)
        }
        guard let n = AddressExpression.parseNumber(word) else {
            throw CommandError.usage(command: command, message: "\(word) is neither a PID nor a task address", usage: usage)
        }
        if tracer.architecture.isKernelAddress(n) {
            if let listed = try? tracer.isListedTask(n), !listed,
               !(0..<tracer.cpuCount).contains(where: { (try? tracer.currentTask(cpu: $0)) == n }) {
                return (n, ["\(hex(n)) is not a task on the task list; reading it as a task_struct anyway"])
            }
            return (n, [])
        }
        guard n <= UInt64(Int32.max) else {
            throw CommandError.invalidArgument(word, message: "\(command): \(word) is neither a PID nor a kernel address")
        }
        do {
            return (try tracer.task(pid: Int64(n)), [])
        } catch let e as BacktraceError {
            throw CommandError.failed("\(command): \(e)", cause: e)
        }
    }

    /// The task a bare command means: the selected one, else the panicking CPU's (CPU 0's without a panic).
    static func selectedOrDefault(_ context: TargetContext, tracer: Backtracer) throws -> (task: UInt64, notes: [String]) {
        if let task = context.selection.task { return (task, []) }
        let d = try tracer.defaultTask()
        return (d.task, d.note.map { [$0] } ?? [])
    }
}
