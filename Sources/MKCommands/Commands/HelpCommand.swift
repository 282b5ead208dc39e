import MKSystem

enum HelpCommand {
    static let spec = CommandSpec(
        name: "help", aliases: ["h"], group: "support",
        summary: "list commands, or show one command's usage",
        usage: "help [COMMAND [SUBCOMMAND]]",
        examples: ["help", "help x", "help info symbol"],
        arguments: [ArgumentSpec("COMMAND", .command, .many, expected: "a command")],
        json: ["commands", "name", "summary", "usage", "aliases", "examples", "subcommands"]
    ) { invocation, session in
        let words = invocation.words("COMMAND")
        guard let name = words.first else { return list(session) }
        guard var spec = session.spec(named: name) else {
            throw CommandError.unknownCommand(name, suggestions: session.suggestions(for: name))
        }
        var path = [spec.name]
        var usage = spec.usageText()
        for word in words.dropFirst() {
            guard let sub = spec.subcommand(named: word) else {
                let known = spec.subcommands.map(\.name)
                throw CommandError.usage(command: "help", message: "\(path.joined(separator: " ")) has no subcommand \"\(word)\""
                                         + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))"), usage: "help [COMMAND [SUBCOMMAND]]")
            }
            spec = sub
            path.append(sub.name)
            usage = sub.usageText(parent: usage)
        }
        let title = path.joined(separator: " ")
        usage += spec.details
        var lines = ["\(title) — \(spec.summary)", "usage: \(usage)"]
        if !spec.aliases.isEmpty { lines.append("aliases: \(spec.aliases.joined(separator: ", "))") }
        if !spec.subcommands.isEmpty {
            lines.append("subcommands:")
            lines += spec.subcommands.map { "  " + $0.name.padding(12) + $0.summary }
        }
        if !spec.examples.isEmpty {
            lines.append("examples:")
            lines += spec.examples.map { "  \($0)" }
        }
        return CommandOutput(text: lines.joined(separator: "\n"), fields: [
            ("name", .string(title)), ("summary", .string(spec.summary)), ("usage", .string(usage)),
            ("aliases", .array(spec.aliases.map { .string($0) })), ("examples", .array(spec.examples.map { .string($0) })),
            ("subcommands", .array(spec.subcommands.map { .string($0.name) }))])
    }

    static func list(_ session: Session) -> CommandOutput {
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
