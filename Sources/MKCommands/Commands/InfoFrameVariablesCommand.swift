import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// `info args` and `info locals`: the selected frame's arguments, or its
/// locals (every lexical block holding the pc, innermost first), as gdb
/// prints them.
enum InfoFrameVariablesCommand {
    static let argsSpec = spec("args", summary: "the selected frame's arguments", arguments: true)
    static let localsSpec = spec("locals", summary: "the selected frame's local variables, innermost block first",
                                 arguments: false)

    /// `info args` and `info locals` differ only in which list they show.
    static func spec(_ name: String, summary: String, arguments: Bool) -> CommandSpec {
        CommandSpec(
            name: name, summary: summary, usage: "info \(name)",
            details: "The selected frame (frame 0 of the task `bt` shows until one is selected); "
                + "`<optimized out>` where DWARF gives no location at the pc.",
            examples: ["info \(name)"],
            json: ["frame", "function", "variables", "notes"]
        ) { _, session in
            try run(session, arguments: arguments)
        }
    }

    static func run(_ session: Session, arguments: Bool) throws -> CommandOutput {
        guard let context = session.current else { throw CommandError.noTarget }
        let kernel = try session.kernel()
        let bt = try context.selectedBacktrace(budget: session.walkBudget())
        let index = context.selection.frame
        guard bt.frames.indices.contains(index) else {
            throw CommandError.targetState("No frame selected: the task's stack has \(bt.frames.count) frames")
        }
        let vars = FrameVariableReader(kernel: kernel).variables(of: bt, frame: index)
        let list = arguments ? vars.arguments : vars.locals
        let formatter = try KernelCommandSupport.formatter(session)
        var lines = FrameVariablesOutput.lines(list, formatter, indent: 0)
        if lines.isEmpty { lines = [arguments ? "No arguments." : "No locals."] }
        lines += vars.notes.map { "-- \($0)" }
        let fields: [(String, JSONValue)] = [
            ("frame", .int(Int64(index))), ("function", vars.function.map { .string($0) } ?? .null),
            ("variables", .array(list.map { FrameVariablesOutput.json($0, formatter, memory: kernel.memory) })),
            ("notes", .array(vars.notes.map { .string($0) })),
        ]
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }
}
