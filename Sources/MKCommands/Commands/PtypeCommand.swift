import MKFormat
import MKDebugInfo
import MKValues

enum PtypeCommand {
    static let usage = "ptype [/o] TYPE|EXPR"

    static let spec = CommandSpec(
        name: "ptype", group: "data",
        summary: "print a type's definition (/o: with member offsets and sizes)",
        usage: usage,
        examples: ["ptype struct list_head", "ptype /o struct list_head", "ptype init_task.tasks", "ptype pid_t"],
        arguments: [ArgumentSpec("TYPE|EXPR", .type, .oneOrMore, raw: true, expected: "a type or an expression")],
        options: [.flag("/o", help: "with member offsets, sizes and holes")],
        json: ["name", "text", "size", "members"],
        takesExpression: true, optionsFirst: true
    ) { args, session in
        let text = args.argument("TYPE|EXPR") ?? ""
        let offsets = args.format == "o" || args.has("/o")
        let type = try TypeArgument.resolve(text, try session.evaluator())
        let shown = TypeFormatter.ptype(type, offsets: offsets)
        var fields: [(String, JSONValue)] = [("name", .string(TypeFormatter.name(of: type))), ("text", .string(shown))]
        if let size = type.byteSize { fields.append(("size", .uint(size))) }
        let r = type.resolved
        if r.kind == .structure || r.kind == .union {
            fields.append(("members", .array(r.members.map { m in
                var f: [(String, JSONValue)] = [("name", m.name.map { .string($0) } ?? .null),
                                                ("type", .string(TypeFormatter.name(of: m.type))), ("offset", .uint(m.offset))]
                if let s = m.type.byteSize { f.append(("size", .uint(s))) }
                if let b = m.bitSize { f.append(("bit_offset", .uint(m.bitOffset ?? 0))); f.append(("bit_size", .uint(b))) }
                return .object(f)
            })))
        }
        return CommandOutput(text: shown, fields: fields)
    }
}

enum WhatisCommand {
    static let spec = CommandSpec(
        name: "whatis", group: "data",
        summary: "print the type of an expression, or what a type name stands for",
        usage: "whatis TYPE|EXPR",
        examples: ["whatis init_task", "whatis init_task.comm", "whatis pid_t"],
        arguments: [ArgumentSpec("TYPE|EXPR", .type, .oneOrMore, raw: true, expected: "a type or an expression")],
        json: ["type"],
        takesExpression: true
    ) { args, session in
        let text = args.argument("TYPE|EXPR") ?? ""
        let evaluator = try session.evaluator()
        let parsed: TypeOrExpression
        do { parsed = try evaluator.parser.parseTypeOrExpression(text) } catch let e as ExpressionError { throw CommandError.failed(e.description + "\n" + e.render(input: text), cause: e) }
        switch parsed {
        case let .type(name):
            var t = try TypeArgument.resolveName(name, text, evaluator)
            // For a typedef name, whatis shows one level down, as gdb does.
            if t.kind == .typedef, let target = t.target { t = target }
            return CommandOutput(text: "type = \(TypeFormatter.name(of: t))", fields: [("type", .string(TypeFormatter.name(of: t)))])
        case .expression:
            let v = try ExpressionRunner.evaluate(text, evaluator)
            return CommandOutput(text: "type = \(TypeFormatter.name(of: v.type))", fields: [("type", .string(TypeFormatter.name(of: v.type)))])
        }
    }
}

enum TypeArgument {
    static func resolve(_ text: String, _ evaluator: Evaluator) throws -> CType {
        let parsed: TypeOrExpression
        do { parsed = try evaluator.parser.parseTypeOrExpression(text) } catch let e as ExpressionError { throw CommandError.failed(e.description + "\n" + e.render(input: text), cause: e) }
        switch parsed {
        case let .type(name): return try resolveName(name, text, evaluator)
        case .expression: return try ExpressionRunner.evaluate(text, evaluator).type
        }
    }

    static func resolveName(_ name: TypeName, _ text: String, _ evaluator: Evaluator) throws -> CType {
        do { return try evaluator.resolveType(name) } catch let e as EvaluationError { throw CommandError.failed(e.render(input: text), cause: e) }
    }
}

enum EchoCommand {
    static let spec = CommandSpec(
        name: "echo", group: "support",
        summary: "print text (for scripts)",
        usage: "echo TEXT",
        examples: ["echo --- tasks ---"],
        arguments: [ArgumentSpec("TEXT", .text, .many, raw: true)],
        json: ["output"]
    ) { args, _ in
        .text(args.argument("TEXT") ?? "")
    }
}
