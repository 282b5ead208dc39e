import MKFormat
import MKDebugInfo
import MKValues

enum PrintCommand {
    static let usage = "p[/FMT] EXPR   (FMT: x d u o t c a s z)"

    static let spec = CommandSpec(
        name: "print", aliases: ["p", "inspect"], group: "data",
        summary: "evaluate a C expression and print its value, as gdb's print",
        usage: usage,
        examples: ["p init_uts_ns.name.release", "p/x init_task.flags", "p *init_task.mm",
                   "p sizeof(struct task_struct)", "p container_of(init_task.tasks.next, struct task_struct, tasks)->comm",
                   "p $1"],
        arguments: [.expression("EXPR", raw: true)],
        json: ["history", "type", "value", "address", "integer"],
        takesExpression: true
    ) { args, session in
        let expression = args.argument("EXPR") ?? ""
        let format = try PrintedValue.format(args.format, command: "print")
        let evaluator = try session.evaluator()
        let value = try ExpressionRunner.evaluate(expression, evaluator)
        let target = try session.requireTarget()
        // Print before recording, so a value that cannot be read is not kept.
        let (text, fields) = try PrintedValue.render(value, format: format, session: session, target: target)
        let n = evaluator.history.record(value, memory: target.memory)
        return CommandOutput(text: "$\(n) = \(text)", fields: [("history", .int(Int64(n)))] + fields)
    }
}

/// Parses and evaluates, turning parse and evaluation errors into messages
/// with a caret under the failing column.
enum ExpressionRunner {
    static func evaluate(_ text: String, _ evaluator: Evaluator) throws -> Value {
        do {
            return try evaluator.evaluate(try parse(text, evaluator))
        } catch let e as EvaluationError {
            throw CommandError.failed(e.render(input: text), cause: e)
        }
    }

    static func parse(_ text: String, _ evaluator: Evaluator) throws -> ExpressionNode {
        do {
            return try evaluator.parser.parse(text)
        } catch {
            throw CommandError.failed(error.description + "\n" + error.render(input: text), cause: error)
        }
    }
}

extension SymbolTable {
    /// gdb's `<sym+off>` for pointers: decimal offsets.
    func describeForPointer(_ address: UInt64) -> String? {
        guard let (s, off) = symbolizeCode(address) else { return nil }
        return off == 0 ? s.name : "\(s.name)+\(off)"
    }
}
