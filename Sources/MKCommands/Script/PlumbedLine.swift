/// Splits a command line into the command and its output plumbing:
/// `CMD | shell-command`, `CMD > FILE`, `CMD >> FILE`. The operators count
/// only with spaces around them and outside quotes, parentheses and
/// brackets, so C's `a|b` and `(a > b)` stay inside expressions. For
/// commands that take an expression, `CommandRunner` also keeps the
/// operator in the expression when the whole text evaluates (`p a > b`).
public struct PlumbedLine: Equatable {
    public enum Sink: Equatable {
        case terminal
        case pipe(String)
        case file(String, append: Bool)
    }

    public var command: String
    public var sink: Sink

    public init(command: String, sink: Sink) {
        self.command = command
        self.sink = sink
    }

    /// The first split (or none), as a shell would read the line.
    public init(_ line: String) {
        self = PlumbedLine.candidates(line).first ?? PlumbedLine(command: line.trimmed(), sink: .terminal)
    }

    /// Every way to read the line as COMMAND plus plumbing, leftmost first.
    public static func candidates(_ line: String) -> [PlumbedLine] {
        var result: [PlumbedLine] = []
        let chars = Array(line)
        var depth = 0
        var quote: Character?
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if let q = quote {
                if c == "\\" { i += 2; continue }
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "(" || c == "[" {
                depth += 1
            } else if c == ")" || c == "]" {
                depth = max(0, depth - 1)
            } else if depth == 0 && i > 0 && chars[i - 1] == " " {
                let rest = String(chars[(i)...])
                let left = String(chars[..<(i - 1)]).trimmed()
                if rest.hasPrefix("| ") {
                    result.append(PlumbedLine(command: left, sink: .pipe(String(rest.dropFirst(2)).trimmed())))
                } else if rest.hasPrefix(">> ") {
                    result.append(PlumbedLine(command: left, sink: .file(String(rest.dropFirst(3)).trimmed(), append: true)))
                } else if rest.hasPrefix("> ") {
                    result.append(PlumbedLine(command: left, sink: .file(String(rest.dropFirst(2)).trimmed(), append: false)))
                }
            }
            i += 1
        }
        return result
    }
}

extension String {
    func trimmed() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
