import MKFormat
import MKDebugInfo
import MKValues

/// `output[/FMT] EXPR`, as gdb's: the value as `print` shows it, without
/// `$N = `, without a newline, and not recorded in the value history.
enum OutputCommand {
    static let spec = CommandSpec(
        name: "output", group: "data",
        summary: "print an expression's value without \"$N = \", a newline or a history entry (for scripts)",
        usage: "output[/FMT] EXPR   (FMT: x d u o t c a s z)",
        examples: ["output init_task.pid", "output/x init_task.flags"],
        arguments: [.expression("EXPR", raw: true)],
        json: ["type", "value", "address", "integer"],
        takesExpression: true
    ) { args, session in
        let expression = args.argument("EXPR") ?? ""
        let format = try PrintedValue.format(args.format, command: "output")
        let value = try ExpressionRunner.evaluate(expression, try session.evaluator())
        let target = try session.requireTarget()
        let (text, fields) = try PrintedValue.render(value, format: format, session: session, target: target)
        var output = CommandOutput(text: text, fields: fields)
        output.endsLine = false
        return output
    }
}
