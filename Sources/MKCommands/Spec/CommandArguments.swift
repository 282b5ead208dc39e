/// A command line split into the command word, a `/FMT` suffix glued to it
/// (as in `x/8xb`), and the remaining words (with where each starts in
/// `rest`, so an argument can take the rest of the line as typed).
public struct CommandArguments: Equatable {
    public var command: String
    public var format: String?
    public var words: [String]
    /// Everything after the command word (and format), untokenized.
    public var rest: String
    /// Where each word starts in `rest`.
    var starts: [String.Index]
    /// An unterminated quote: an error for commands that read words, not
    /// for those that take the line as typed (`shell echo it's`).
    var quoteProblem: QuoteProblem?
    var quoteError: CommandError? { quoteProblem.map { CommandError.syntax(column: $0.column, message: $0.message) } }

    struct QuoteProblem: Equatable {
        var column: Int
        var message: String
    }

    public init(line: String) throws {
        self.init(tolerant: line)
        if let quoteError { throw quoteError }
    }

    init(tolerant line: String) {
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
        (words, starts, quoteProblem) = Self.tokens(rest)
    }

    /// Whitespace-separated words; single and double quotes group.
    static func split(_ text: String) throws -> [String] {
        let (words, _, problem) = tokens(text)
        if let problem { throw CommandError.syntax(column: problem.column, message: problem.message) }
        return words
    }

    static func tokens(_ text: String) -> ([String], [String.Index], QuoteProblem?) {
        var words: [String] = []
        var starts: [String.Index] = []
        var current = ""
        var quote: Character?
        var quoteColumn = 0
        var column = 0
        var inWord = false
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if !inWord && !(c == " " || c == "\t") { starts.append(i) }
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c
                quoteColumn = column
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c)
                inWord = true
            }
            i = text.index(after: i)
            column += 1
        }
        if inWord { words.append(current) }
        let problem = quote != nil ? QuoteProblem(column: quoteColumn, message: "unterminated quote in: \(text)") : nil
        return (words, Array(starts.prefix(words.count)), problem)
    }
}
