import MKFormat
import MKKernel
import MKValues

/// `set`: session settings: `pagination` (whether the REPL pages long
/// output), gdb's print limits (`print elements`, `print repeats`) plus
/// mkdbg's `print output-limit`, which bound what `print` and the
/// commands printing values show, and `walk-limit` (the links one command
/// may follow walking kernel lists).
enum SetCommand {
    // Lines after the first line up under "usage: ".
    static let usage = """
        set pagination on|off
               set print elements N|unlimited   (elements per array or string; default 200)
               set print repeats N|unlimited    (runs longer than N print as <repeats M times>; default 10)
               set print output-limit N         (characters of one printed value; default 1048576)
               set walk-limit N                 (links one command may follow in all its kernel list walks
                                                 together: ps, bt, task, list, mod, log; default \(WalkBudget.defaultLimit))
               set PID | TASK                   (select a task, as crash: bt, frame, info locals use it)
               set [print]                      (show the settings)
        """

    static let spec = CommandSpec(
        name: "set", group: "support",
        summary: "change a session setting (pagination, print elements/repeats/output-limit, walk-limit)",
        usage: usage,
        examples: ["set pagination off", "set print elements 50", "set print repeats unlimited",
                   "set print output-limit 100000", "set walk-limit 2000000", "set 1", "set"],
        arguments: [ArgumentSpec("SETTING", .text, .optional, expected: "a setting"), ArgumentSpec("VALUE", .text, .many)],
        subcommands: [pagination, print, walkLimit],
        json: ["pagination", "walk_limit", "print_elements", "print_repeats", "print_output_limit", "task", "pid", "comm", "cpu"],
        repeats: false
    ) { args, session in
        // No subcommand matched.
        guard let name = args.argument("SETTING") else { return show(session, print: true, pagination: true) }
        // crash's `set PID|TASK`: select the task.
        if AddressExpression.parseNumber(name) != nil, args.words("VALUE").isEmpty { return try selectTask(name, session) }
        throw CommandError.usage(command: "set", message: "unknown setting \"\(name)\"", usage: usage)
    }

    static let pagination = CommandSpec(
        name: "pagination", aliases: ["pager", "paging"],
        summary: "whether the REPL pages long output", examples: ["set pagination off"],
        arguments: [.words("on|off", ["on", "off"], expected: "on or off")], json: ["pagination"],
        excess: "expected on or off", repeats: false
    ) { args, session in
        let word = args.argument("on|off") ?? ""
        guard let value = onOff(word) else {
            throw CommandError.usage(command: "set", message: "\"\(word)\" is not on or off", usage: usage)
        }
        session.pagination = value
        return CommandOutput(text: "", fields: [("pagination", .bool(value))])
    }

    static let walkLimit = CommandSpec(
        name: WalkBudget.setting, summary: "the links one command may follow in all its kernel list walks together",
        examples: ["set walk-limit 2000000"],
        arguments: [ArgumentSpec("N", .integer, expected: "a number of links")], json: ["walk_limit"],
        excess: "walk-limit expects a number of links from 1 to \(1 << 40)", repeats: false
    ) { args, session in
        guard let n = Int(args.argument("N") ?? ""), n >= 1, n <= 1 << 40 else {
            throw CommandError.usage(command: "set", message: "walk-limit expects a number of links from 1 to \(1 << 40)", usage: usage)
        }
        session.walkLimit = n
        return CommandOutput(text: "", fields: [("walk_limit", .int(Int64(n)))])
    }

    static let print = CommandSpec(
        name: "print", aliases: ["p", "pr"], summary: "gdb's print limits: elements, repeats, output-limit (alone: show them)",
        examples: ["set print elements 50", "set print"],
        arguments: [ArgumentSpec("SETTING", .text, .optional, expected: "a print setting"), ArgumentSpec("VALUE", .text, .many)],
        subcommands: [printLimit("elements", aliases: ["elem"], "elements shown per array or string (default 200)"),
                      printLimit("repeats", "runs longer than N print as <repeats M times> (default 10)"),
                      printLimit("output-limit", "characters of one printed value (default 1048576)")],
        json: ["print_elements", "print_repeats", "print_output_limit"], repeats: false
    ) { args, session in
        guard let setting = args.argument("SETTING") else { return show(session, print: true, pagination: false) }
        throw CommandError.usage(command: "set", message: "unknown print setting \"\(setting)\" (elements, repeats, output-limit)",
                                 usage: usage)
    }

    static func printLimit(_ name: String, aliases: [String] = [], _ summary: String) -> CommandSpec {
        CommandSpec(name: name, aliases: aliases, summary: summary, examples: ["set print \(name) 100"],
                    arguments: [ArgumentSpec(name == "output-limit" ? "N" : "N|unlimited", .text, .optional, expected: "a value")],
                    json: ["print_elements", "print_repeats", "print_output_limit"],
                    excess: "expected one setting and one value", repeats: false) { args, session in
            try setPrint(name, args.argument(name == "output-limit" ? "N" : "N|unlimited"), session)
        }
    }

    static func setPrint(_ setting: String, _ value: String?, _ session: Session) throws -> CommandOutput {
        var limits = session.printLimits
        switch setting {
        case "elements":
            guard let value else { return show(session, only: "elements") }
            limits.elements = value == "unlimited" || value == "0" ? nil : try positive(value, "print elements", maximum: Int(Int32.max))
        case "repeats":
            guard let value else { return show(session, only: "repeats") }
            limits.repeats = value == "unlimited" || value == "0" ? nil : try positive(value, "print repeats", maximum: Int(Int32.max))
        default:
            guard let value else { return show(session, only: "output-limit") }
            limits.outputLimit = try positive(value, "print output-limit", maximum: PrintLimits.maxOutputLimit)
        }
        session.printLimits = limits
        return CommandOutput(text: "", fields: printFields(limits))
    }

    /// A positive decimal count up to `maximum`. (`unlimited`, or gdb's 0,
    /// is read by the caller where the setting allows it.)
    static func positive(_ word: String, _ setting: String, maximum: Int) throws -> Int {
        guard let n = Int(word), n > 0 else {
            let unlimited = setting != "print output-limit"
            throw CommandError.invalid("set \(setting): \"\(word)\" is not a positive number\(unlimited ? " or unlimited" : "")")
        }
        guard n <= maximum else {
            throw CommandError.invalid("set \(setting): \(n) is more than the largest accepted, \(maximum)")
        }
        return n
    }

    static func show(_ session: Session, print: Bool, pagination: Bool) -> CommandOutput {
        var lines: [String] = []
        var fields: [(String, JSONValue)] = []
        if pagination {
            lines.append("pagination \(session.pagination ? "on" : "off")")
            fields.append(("pagination", .bool(session.pagination)))
            lines.append("walk-limit \(session.walkLimit)")
            fields.append(("walk_limit", .int(Int64(session.walkLimit))))
        }
        if print {
            let l = session.printLimits
            lines.append("print elements \(l.elements.map(String.init) ?? "unlimited")")
            lines.append("print repeats \(l.repeats.map(String.init) ?? "unlimited")")
            lines.append("print output-limit \(l.outputLimit)")
            fields += printFields(l)
        }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: fields)
    }

    static func show(_ session: Session, only setting: String) -> CommandOutput {
        let all = show(session, print: true, pagination: false)
        let line = all.text.split(separator: "\n").first { $0.hasPrefix("print \(setting) ") }.map(String.init) ?? ""
        let key = String(setting.map { $0 == "-" ? "_" : $0 })
        return CommandOutput(text: line, fields: all.fields.filter { $0.0 == "print_" + key })
    }

    static func printFields(_ l: PrintLimits) -> [(String, JSONValue)] {
        [("print_elements", l.elements.map { .int(Int64($0)) } ?? .null),
         ("print_repeats", l.repeats.map { .int(Int64($0)) } ?? .null),
         ("print_output_limit", .int(Int64(l.outputLimit)))]
    }

    static func onOff(_ word: String) -> Bool? {
        switch word.lowercased() {
        case "on", "1", "yes", "true", "enable": return true
        case "off", "0", "no", "false", "disable": return false
        default: return nil
        }
    }
}
