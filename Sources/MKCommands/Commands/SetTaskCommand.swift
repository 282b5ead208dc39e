import MKFormat
import MKKernel

extension SetCommand {
    /// crash's `set PID|TASK`: makes the task the selected one (frame 0) and
    /// says which it is, as `bt`'s header does.
    static func selectTask(_ word: String, _ session: Session) throws -> CommandOutput {
        guard let context = session.current else { throw CommandError.noTarget }
        let tracer = try context.backtracer(budget: session.walkBudget())
        let (task, notes) = try TaskArgument.resolve(word, tracer: tracer, command: "set", usage: usage)
        let bt: Backtrace
        do {
            bt = try context.backtrace(task: task, tracer: tracer)
        } catch let e as BacktraceError {
            throw CommandError.failed("set: \(e)", cause: e)
        }
        context.selection = FrameSelection(task: task, frame: 0)
        let text = ([BacktraceCommand.header(bt)] + notes.map { "-- \($0)" }).joined(separator: "\n")
        return CommandOutput(text: text, fields: [("task", jsonAddress(task)), ("pid", bt.pid.map { .int($0) } ?? .null),
                                                  ("comm", bt.comm.map { .string($0) } ?? .null),
                                                  ("cpu", bt.cpu.map { .int(Int64($0)) } ?? .null)])
    }
}
