/// A lexing or parsing error in a C expression.
///
/// `column` is a 0-based UTF-8 byte offset into the input (the same unit as
/// `SourceRange`). The human-readable `description` shows it 1-based, the way
/// compilers do: an error at `column == 11` reads "syntax error at column 12: …".
public struct ExpressionError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// 0-based UTF-8 byte offset of the offending character or token.
    public var column: Int
    /// What went wrong, without the "syntax error at column N" prefix.
    public var message: String

    public init(column: Int, message: String) {
        self.column = column
        self.message = message
    }

    public var description: String {
        "syntax error at column \(column < Int.max ? column + 1 : column): \(message)"
    }

    /// Two lines: the input, and a caret under the error's column.
    ///
    ///     (struct task_struct *p
    ///                         ^
    public func render(input: String) -> String {
        ExpressionError.render(input: input, column: column)
    }

    /// Two lines: `input`, and a caret under the 0-based byte offset `column`
    /// followed by `~` for the rest of `length` (so an evaluator can underline
    /// a whole sub-expression with `range.start` / `range.count`).
    ///
    /// Tabs in the input are copied into the marker line so the caret lines
    /// up; a multi-byte character counts as one column on screen. A column
    /// past the end puts the caret just after the last character.
    /// An input longer than `maxShown` bytes shows only a window around the
    /// column, with `…` where it was cut.
    public static func render(input: String, column: Int, length: Int = 1) -> String {
        var bytes = Array(input.utf8)
        var column = column
        var cut = (front: false, back: false)
        if bytes.count > maxShown {
            let isContinuation = { (b: UInt8) in b & 0xC0 == 0x80 }
            var from = max(0, min(column, bytes.count) - maxShown / 3)
            while from < bytes.count && isContinuation(bytes[from]) { from += 1 }
            var to = min(bytes.count, from + maxShown)
            while to < bytes.count && to > from && isContinuation(bytes[to]) { to -= 1 }
            cut = (from > 0, to < bytes.count)
            column -= from
            bytes = Array(bytes[from..<to])
        }
        let text = renderWindow(bytes, column: column, length: length)
        guard cut.front || cut.back else { return text }
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let shown = (cut.front ? "…" : "") + lines[0] + (cut.back ? "…" : "")
        let marker = (cut.front ? " " : "") + (lines.count > 1 ? lines[1] : "")
        return shown + "\n" + marker
    }

    public static let maxShown = 160

    static func renderWindow(_ bytes: [UInt8], column: Int, length: Int) -> String {
        let start = max(0, min(column, bytes.count))
        let end = max(start + 1, min(start + min(max(length, 1), bytes.count), bytes.count))
        // Line breaks in the input would break the two-line layout.
        let shown = String(decoding: bytes, as: UTF8.self)
            .map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : String($0) }
            .joined()
        var marker = ""
        for character in String(decoding: bytes[0..<start], as: UTF8.self) {
            marker.append(character == "\t" ? "\t" : " ")
        }
        marker.append("^")
        if end > start + 1 {
            let underlined = String(decoding: bytes[start..<end], as: UTF8.self).count
            if underlined > 1 {
                marker.append(String(repeating: "~", count: underlined - 1))
            }
        }
        return shown + "\n" + marker
    }
}
