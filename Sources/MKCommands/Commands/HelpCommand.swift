import MKSystem

enum HelpCommand {
    static let spec = CommandSpec(
        name: "help", aliases: ["h"], group: "support",
        summary: "list commands, or show one command's usage",
        usage: "help [COMMAND]",
        examples: ["help", "help x"]
    ) { args, session in
        if let name = args.words.first {
            guard let spec = session.spec(named: name) else {
                throw CommandError.unknownCommand(name, suggestions: session.suggestions(for: name))
            }
            var lines = ["\(spec.name) — \(spec.summary)", "usage: \(spec.usage)"]
            if !spec.aliases.isEmpty { lines.append("aliases: \(spec.aliases.joined(separator: ", "))") }
            if !spec.examples.isEmpty {
                lines.append("examples:")
                lines += spec.examples.map { "  \($0)" }
            }
            return CommandOutput(text: lines.joined(separator: "\n"), fields: [
                ("name", .string(spec.name)), ("summary", .string(spec.summary)), ("usage", .string(spec.usage)),
                ("aliases", .array(spec.aliases.map { .string($0) })), ("examples", .array(spec.examples.map { .string($0) }))])
        }
        var lines: [String] = []
        var groups: [String] = []
        for c in session.commands where !groups.contains(c.group) { groups.append(c.group) }
        for g in groups {
            lines.append("\(g):")
            for c in session.commands where c.group == g {
                lines.append("  " + c.name.padding(12) + c.summary)
            }
        }
        lines.append("Type \"help COMMAND\" for usage and examples.")
        let commands: [JSONValue] = session.commands.map {
            .object([("name", .string($0.name)), ("group", .string($0.group)), ("summary", .string($0.summary))])
        }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [("commands", .array(commands))])
    }
}
