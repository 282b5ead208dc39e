/// `set`: session settings. Today only `pagination` (whether the REPL sends
/// output longer than the terminal through a pager).
enum SetCommand {
    static let usage = "set pagination on|off   (without arguments: show the settings)"

    static let spec = CommandSpec(
        name: "set", group: "support",
        summary: "change a session setting (pagination)",
        usage: usage,
        examples: ["set pagination off", "set pagination on", "set"]
    ) { args, session in
        let words = args.words
        guard let name = words.first else {
            return CommandOutput(text: "pagination \(session.pagination ? "on" : "off")",
                                 fields: [("pagination", .bool(session.pagination))])
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
