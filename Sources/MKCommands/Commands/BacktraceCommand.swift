import MKFormat
import MKDebugInfo
import MKKernel

/// `bt [PID|ADDR|-a]`: a task's kernel stack, gdb-style, walked with the
/// kernel's ORC tables (then DWARF CFI, then frame pointers).
enum BacktraceCommand {
    static let usage = "bt [-f] [PID | TASK-ADDRESS | -a]"

    static let spec = CommandSpec(
        name: "bt", aliases: ["backtrace", "where"], group: "kernel",
        summary: "a task's kernel stack: the panicking task, a PID, a task address, or every CPU's (-a)",
        usage: usage,
        examples: ["bt", "bt 1", "bt -a", "bt 0xffff888003a3c000", "bt -f"],
        arguments: [ArgumentSpec("PID|TASK-ADDRESS", .task, .optional)],
        options: [.flag("-a", help: "every CPU's current task"),
                  .flag("-f", help: "each frame's stack words, from its sp to its caller's (text addresses symbolised)")],
        subcommands: [BacktraceFullCommand.spec],
        json: ["task", "pid", "comm", "cpu", "active", "frames", "notes", "backtraces", "stack_words"],
        excess: "expected at most one PID, task address or -a"
    ) { args, session in
        guard let context = session.current else { throw CommandError.noTarget }
        let tracer = try context.backtracer(budget: session.walkBudget())
        let words = args.words("PID|TASK-ADDRESS")
        if args.has("-a") {
            guard words.isEmpty else {
                throw CommandError.usage(command: "bt", message: "expected at most one PID, task address or -a", usage: usage)
            }
            return all(tracer)
        }
        let bt = try backtrace(of: words.first, context: context, tracer: tracer, command: "bt", usage: usage)
        if args.has("-f") {
            return CommandOutput(text: StackWords.text(bt, context: context, tracer: tracer),
                                 fields: fields(bt) + [("stack_words", StackWords.json(bt, context: context))])
        }
        return CommandOutput(text: text(bt), fields: fields(bt))
    }

    /// The stack `bt` and `bt full` show: WORD's task (a PID or task address), else the selected
    /// task, else the panicking CPU's; how the task was found comes first in the notes.
    static func backtrace(of word: String?, context: TargetContext, tracer: Backtracer, command: String,
                          usage: String) throws -> Backtrace {
        var preface: [String] = []
        let task: UInt64
        if let word {
            (task, preface) = try TaskArgument.resolve(word, tracer: tracer, command: command, usage: usage)
            // `bt PID` selects that task's stack for `frame`, `info locals`, `$pc`.
            context.selection = FrameSelection(task: task, frame: 0)
        } else {
            (task, preface) = try TaskArgument.selectedOrDefault(context, tracer: tracer)
        }
        var bt: Backtrace
        do {
            bt = try context.backtrace(task: task, tracer: tracer)
        } catch let e as BacktraceError {
            throw CommandError.failed("bt: \(e)", cause: e)
        }
        bt.notes = preface + bt.notes
        return bt
    }

    static func all(_ tracer: Backtracer) -> CommandOutput {
        var texts: [String] = []
        var json: [JSONValue] = []
        let results = tracer.backtracesOfAllCPUs()
        if results.isEmpty {
            return CommandOutput(text: "bt: the image has no CPU registers (no NT_PRSTATUS notes)",
                                 fields: [("backtraces", .array([]))])
        }
        for (cpu, result) in results {
            switch result {
            case let .success(bt):
                texts.append(text(bt))
                json.append(.object([("cpu", .int(Int64(cpu)))] + fields(bt).filter { $0.0 != "cpu" }))
            case let .failure(error):
                texts.append("CPU \(cpu): cannot find its task: \(error)")
                json.append(.object([("cpu", .int(Int64(cpu))), ("error", ErrorReport(error).json)]))
            }
        }
        return CommandOutput(text: texts.joined(separator: "\n\n"), fields: [("backtraces", .array(json))])
    }

    static func header(_ bt: Backtrace) -> String {
        let pid = bt.pid.map(String.init) ?? "?"
        let cpu = bt.cpu.map(String.init) ?? "?"
        var line = "PID: \(pid)  TASK: \(hexDigits(bt.task))  CPU: \(cpu)  COMMAND: \"\(bt.comm ?? "?")\""
        if bt.active { line += "  (active: registers from CPU \(cpu)'s NT_PRSTATUS note)" }
        return line
    }

    /// `#3  0xffffffff81234567 in panic+0x177 at kernel/panic.c:366`; an
    /// inlined level says `(inlined)`; a module frame ends in `[module]`; a
    /// guessed frame has `?` before its name, as the kernel's oops traces do.
    static func frameLine(_ f: BacktraceFrame) -> String {
        let number = "#\(f.index)"
        var s = number + String(repeating: " ", count: max(1, 4 - number.count)) + "0x" + hexDigits(f.pc) + " in "
        if !f.reliable { s += "? " }
        if f.isInline {
            s += (f.function ?? "??") + " (inlined)"
        } else if let symbol = f.symbol {
            s += symbol + (f.offset.map { $0 == 0 ? "" : "+\(hex($0))" } ?? "")
        } else if let module = f.module {
            s += "[\(module)]" + (f.offset.map { "+\(hex($0))" } ?? "")
        } else {
            s += f.function ?? "??"
        }
        if let module = f.module, f.symbol != nil { s += " [\(module)]" }
        if let file = f.file {
            s += " at \(file)" + (f.line.map { ":\($0)" } ?? "")
        }
        return s
    }

    static func text(_ bt: Backtrace) -> String {
        ([header(bt)] + bt.frames.map(frameLine) + bt.notes.map { "-- \($0)" }).joined(separator: "\n")
    }

    static func frameObject(_ f: BacktraceFrame) -> JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        return .object([("index", .int(Int64(f.index))), ("pc", jsonAddress(f.pc)), ("sp", jsonAddress(f.sp)),
                     ("function", opt(f.function)), ("symbol", opt(f.symbol)),
                     ("offset", f.offset.map { .uint($0) } ?? .null), ("file", opt(f.file)),
                     ("line", f.line.map { .int(Int64($0)) } ?? .null), ("module", opt(f.module)),
                     ("inline", .bool(f.isInline)), ("reliable", .bool(f.reliable)), ("method", .string(f.method))])
    }

    static func fields(_ bt: Backtrace) -> [(String, JSONValue)] {
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        let frames = bt.frames.map(frameObject)
        return [("task", jsonAddress(bt.task)), ("pid", bt.pid.map { .int($0) } ?? .null), ("comm", opt(bt.comm)),
                ("cpu", bt.cpu.map { .int(Int64($0)) } ?? .null), ("active", .bool(bt.active)),
                ("frames", .array(frames)), ("notes", .array(bt.notes.map { .string($0) }))]
    }
}
