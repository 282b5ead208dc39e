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
            return lines.joined(separator: "\n")
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
        return lines.joined(separator: "\n")
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
