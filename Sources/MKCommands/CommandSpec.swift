/// A command the session understands: its names, a one-line summary, usage
/// with examples for `help`, and what it does.
public struct CommandSpec {
    public var name: String
    public var aliases: [String] = []
    public var group: String
    public var summary: String
    public var usage: String
    public var examples: [String] = []
    /// The argument is a C expression, in which `|` and `>` are operators.
    public var takesExpression = false
    public var run: (_ arguments: CommandArguments, _ session: Session) throws -> CommandOutput

    public init(name: String, aliases: [String] = [], group: String, summary: String, usage: String,
                examples: [String] = [], takesExpression: Bool = false, run: @escaping (CommandArguments, Session) throws -> CommandOutput) {
        self.name = name
        self.aliases = aliases
        self.group = group
        self.summary = summary
        self.usage = usage
        self.examples = examples
        self.takesExpression = takesExpression
        self.run = run
    }
}

/// A command line split into the command word, a `/FMT` suffix glued to it
/// (as in `x/8xb`), and the remaining words.
public struct CommandArguments: Equatable {
    public var command: String
    public var format: String?
    public var words: [String]
    /// Everything after the command word (and format), untokenized.
    public var rest: String

    public init(line: String) throws {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        let head = trimmed.prefix { $0 != " " && $0 != "\t" }
        var name = String(head)
        var format: String?
        if let slash = name.firstIndex(of: "/"), slash != name.startIndex {
            format = String(name[name.index(after: slash)...])
            name = String(name[..<slash])
        }
        command = name
        self.format = format
        rest = String(trimmed.dropFirst(head.count).drop { $0 == " " || $0 == "\t" })
        words = try Self.split(rest)
    }

    /// Whitespace-separated words; single and double quotes group.
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for c in text {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
        }
        if quote != nil { throw CommandError.invalid("unterminated quote in: \(text)") }
        if inWord { words.append(current) }
        return words
    }
}
