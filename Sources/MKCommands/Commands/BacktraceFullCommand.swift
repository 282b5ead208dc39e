import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// `bt full [PID|TASK]`: the backtrace with each frame's arguments on its
/// line (gdb's `name=value`) and its locals below it, indented, innermost
/// block first, from the DWARF location descriptions at the frame's pc.
enum BacktraceFullCommand {
    static let usage = "bt full [PID | TASK-ADDRESS]"

    static let spec = CommandSpec(
        name: "full", summary: "the backtrace with every frame's arguments and locals",
        usage: usage,
        details: "Arguments are on the frame's line (aggregates as `...`), locals under it; `<optimized out>` "
            + "where DWARF gives no location at the pc. Values in registers are those the unwinder recovered "
            + "for the frame; entry values are taken from the caller's DWARF call site.",
        examples: ["bt full", "bt full 1"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        json: ["task", "pid", "comm", "cpu", "active", "frames", "notes"],
        excess: "expected at most one PID or task address"
    ) { args, session in
        guard let context = session.current else { throw CommandError.noTarget }
        let kernel = try session.kernel()
        let tracer = try context.backtracer(budget: session.walkBudget())
        let bt = try BacktraceCommand.backtrace(of: args.words("PID|TASK-ADDRESS").first, context: context, tracer: tracer,
                                                command: "bt full", usage: usage)
        let formatter = try KernelCommandSupport.formatter(session)
        let reader = FrameVariableReader(kernel: kernel)
        var lines = [BacktraceCommand.header(bt)]
        var framesJSON: [JSONValue] = []
        let plain = BacktraceCommand.fields(bt)
        let plainFrames: [JSONValue]
        if case let .array(a)? = plain.first(where: { $0.0 == "frames" })?.1 { plainFrames = a } else { plainFrames = [] }
        for (i, frame) in bt.frames.enumerated() {
            let vars = reader.variables(of: bt, frame: i)
            lines.append(frameLine(frame, vars, formatter))
            let locals = FrameVariablesOutput.lines(vars.locals, formatter, indent: 8)
            lines += locals.isEmpty ? ["        No locals."] : locals
            var object: [(String, JSONValue)] = []
            if i < plainFrames.count, case let .object(o) = plainFrames[i] { object = o }
            object.append(("arguments", .array(vars.arguments.map { FrameVariablesOutput.json($0, formatter, memory: kernel.memory) })))
            object.append(("locals", .array(vars.locals.map { FrameVariablesOutput.json($0, formatter, memory: kernel.memory) })))
            object.append(("variable_notes", .array(vars.notes.map { .string($0) })))
            framesJSON.append(.object(object))
        }
        lines += bt.notes.map { "-- \($0)" }
        let fields = plain.map { $0.0 == "frames" ? ("frames", .array(framesJSON)) : $0 }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }

    /// `bt`'s frame line with the arguments before ` at FILE:LINE`.
    static func frameLine(_ f: BacktraceFrame, _ vars: FrameVariables, _ formatter: ValueFormatter) -> String {
        var line = BacktraceCommand.frameLine(f)
        guard !vars.arguments.isEmpty || vars.notes.isEmpty else { return line }
        let args = " (" + FrameVariablesOutput.argumentList(vars.arguments, formatter) + ")"
        if let file = f.file {
            let suffix = " at \(file)" + (f.line.map { ":\($0)" } ?? "")
            if line.hasSuffix(suffix) {
                line.removeLast(suffix.count)
                return line + args + suffix
            }
        }
        return line + args
    }
}
