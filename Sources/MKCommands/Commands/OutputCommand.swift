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
        var format: Character?
        if let f = args.format {
            guard f.count == 1, let c = f.first, "xduotcasz".contains(c) else {
                throw CommandError.invalidArgument("/" + f, message: "output: unknown format /\(f); formats are x d u o t c a s z")
            }
            format = c
        }
        let value = try ExpressionRunner.evaluate(expression, try session.evaluator())
        let target = try session.requireTarget()
        let formatter = ValueFormatter(memory: target.memory, format: format, limits: session.printLimits,
                                       symbolize: { target.symbols?.describeForPointer($0) })
        let text = try formatter.top(value)
        var fields: [(String, JSONValue)] = [("type", .string(TypeFormatter.name(of: value.type))), ("value", .string(text))]
        if let a = value.address ?? value.snapshotAddress { fields.append(("address", jsonAddress(a))) }
        if value.type.isScalar, let bits = try? value.integerBits(target.memory) {
            fields.append(("integer", value.type.resolved.isSigned ? .int(Int64(bitPattern: bits)) : .uint(bits)))
        }
        var output = CommandOutput(text: text, fields: fields)
        output.endsLine = false
        return output
    }
}
