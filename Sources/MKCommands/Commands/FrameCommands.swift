import MKFormat
import MKKernel

/// gdb's `frame [N]`, `up [N]` and `down [N]`: select a frame of the
/// selected task's stack (`bt PID` or `set PID` picks the task; inline
/// frames count, as `bt` numbers them) and print it as `bt` does.
enum FrameCommands {
    static let frame = CommandSpec(
        name: "frame", aliases: ["f"], group: "kernel",
        summary: "select frame N of the selected task's stack (alone: show the selected frame)",
        usage: "frame [N]",
        details: """

            The task is the one `bt PID`, `bt TASK` or `set PID` chose, else the panicking CPU's;
            `info frame`, `info registers`, `info locals`, `$pc` and the `=>` of `dis` refer to the frame.
            """,
        examples: ["frame", "frame 3"],
        arguments: [ArgumentSpec("N", .integer, .optional, expected: "a frame number")],
        json: ["task", "pid", "frame"],
        excess: "expected one frame number", repeats: false
    ) { args, session in
        guard let word = args.argument("N") else { return try show(session) }
        guard let n = Int(word), n >= 0 else {
            throw CommandError.usage(command: "frame", message: "\"\(word)\" is not a frame number", usage: "frame [N]")
        }
        return try select(session, command: "frame") { _, count in
            guard n < count else { throw CommandError.outOfRange(value: UInt64(n), minimum: 0, maximum: UInt64(count - 1), message: "frame: no frame \(n): the stack has frames 0 to \(count - 1)") }
            return n
        }
    }

    static let up = step("up", summary: "select the frame N (default 1) levels out, toward the stack's outermost caller") {
        n, current, count in
        guard current + 1 < count else { throw CommandError.outOfRange(value: UInt64(current + 1), minimum: 0, maximum: UInt64(count - 1), message: "up: frame \(current) is the outermost frame; cannot go up") }
        return min(count - 1, current + min(n, count))
    }

    static let down = step("down", summary: "select the frame N (default 1) levels in, toward frame 0") { n, current, _ in
        guard current > 0 else { throw CommandError.outOfRange(value: nil, minimum: 0, maximum: nil, message: "down: frame 0 is the innermost frame; cannot go down") }
        return max(0, current - n)
    }

    /// `up [N]` and `down [N]`: PICK(N, current frame, frame count) is the frame to select.
    static func step(_ name: String, summary: String, _ pick: @escaping (Int, Int, Int) throws -> Int) -> CommandSpec {
        CommandSpec(
            name: name, group: "kernel", summary: summary, usage: "\(name) [N]", examples: [name, "\(name) 2"],
            arguments: [ArgumentSpec("N", .integer, .optional, expected: "a number of frames", default: "1")],
            json: ["task", "pid", "frame"], excess: "expected one number of frames", repeats: true
        ) { args, session in
            let n = try steps(args, name)
            return try select(session, command: name) { current, count in try pick(n, current, count) }
        }
    }

    static func steps(_ args: CommandInvocation, _ command: String) throws -> Int {
        let word = args.argument("N") ?? "1"
        guard let n = Int(word), n >= 1 else {
            throw CommandError.usage(command: command, message: "\"\(word)\" is not a positive number of frames", usage: "\(command) [N]")
        }
        return n
    }

    /// Picks the new frame index from the current one and the frame count, then shows it.
    static func select(_ session: Session, command: String, _ pick: (Int, Int) throws -> Int) throws -> CommandOutput {
        guard let context = session.current else { throw CommandError.noTarget }
        let bt = try backtrace(context, session, command)
        guard !bt.frames.isEmpty else {
            throw CommandError.targetState("\(command): task \(hex(bt.task)) has no frames" + (bt.notes.first.map { " (\($0))" } ?? ""))
        }
        let index = try pick(min(context.selection.frame, bt.frames.count - 1), bt.frames.count)
        context.selection = FrameSelection(task: bt.task, frame: index)
        return output(bt, index)
    }

    static func show(_ session: Session) throws -> CommandOutput {
        guard let context = session.current else { throw CommandError.noTarget }
        let bt = try backtrace(context, session, "frame")
        guard bt.frames.indices.contains(context.selection.frame) else {
            throw CommandError.targetState("frame: task \(hex(bt.task)) has no frame \(context.selection.frame)")
        }
        return output(bt, context.selection.frame)
    }

    static func backtrace(_ context: TargetContext, _ session: Session, _ command: String) throws -> Backtrace {
        do {
            return try context.selectedBacktrace(budget: session.walkBudget())
        } catch let e as BacktraceError {
            throw CommandError.failed("\(command): \(e)", cause: e)
        }
    }

    static func output(_ bt: Backtrace, _ index: Int) -> CommandOutput {
        let f = bt.frames[index]
        return CommandOutput(text: BacktraceCommand.frameLine(f),
                             fields: [("task", jsonAddress(bt.task)), ("pid", bt.pid.map { .int($0) } ?? .null),
                                      ("frame", BacktraceCommand.frameObject(f))])
    }
}
