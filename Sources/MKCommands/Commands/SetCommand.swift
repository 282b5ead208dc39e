import MKKernel

/// `set`: session settings: `pagination` (whether the REPL sends output
/// longer than the terminal through a pager), `walk-limit` (the links one
/// command may follow walking kernel lists).
enum SetCommand {
    static let usage = "set pagination on|off | set walk-limit N   (without arguments: show the settings)"

    static let spec = CommandSpec(
        name: "set", group: "support",
        summary: "change a session setting (pagination, walk-limit)",
        usage: usage + """

          walk-limit N   links one command may follow in all its kernel list walks together
                         (ps, bt, task, list, mod, log; default \(WalkBudget.defaultLimit)): a walk that
                         reaches it stops with a warning naming the list and the count
        """,
        examples: ["set pagination off", "set pagination on", "set walk-limit 2000000", "set"]
    ) { args, session in
        let words = args.words
        guard let name = words.first else {
            return CommandOutput(text: "pagination \(session.pagination ? "on" : "off")\nwalk-limit \(session.walkLimit)",
                                 fields: [("pagination", .bool(session.pagination)), ("walk_limit", .int(Int64(session.walkLimit)))])
        }
        switch name {
        case "pagination", "pager", "paging":
            guard words.count == 2 else {
                throw CommandError.usage(command: "set", message: "expected on or off", usage: usage)
            }
            guard let value = onOff(words[1]) else {
                throw CommandError.usage(command: "set", message: "\"\(words[1])\" is not on or off", usage: usage)
            }
            session.pagination = value
            return CommandOutput(text: "", fields: [("pagination", .bool(value))])
        case WalkBudget.setting:
            guard words.count == 2, let n = Int(words[1]), n >= 1, n <= 1 << 40 else {
                throw CommandError.usage(command: "set", message: "walk-limit expects a number of links from 1 to \(1 << 40)", usage: usage)
            }
            session.walkLimit = n
            return CommandOutput(text: "", fields: [("walk_limit", .int(Int64(n)))])
        default:
            throw CommandError.usage(command: "set", message: "unknown setting \"\(name)\"", usage: usage)
        }
    }

    static func onOff(_ word: String) -> Bool? {
        switch word.lowercased() {
        case "on", "1", "yes", "true", "enable": return true
        case "off", "0", "no", "false", "disable": return false
        default: return nil
        }
    }
}
