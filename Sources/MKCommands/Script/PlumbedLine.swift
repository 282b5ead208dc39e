import MKSystem

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
        let bytes = Array(line.utf8)
        self = PlumbedLine.splits(bytes).first.map { $0.plumbed(bytes) } ?? PlumbedLine(command: line.trimmed(), sink: .terminal)
    }

    /// Where one operator could split a line, as byte offsets; the strings
    /// are made only for the splits a caller tries.
    public struct Split: Equatable {
        public enum Kind: Equatable { case pipe, file, append }
        public var kind: Kind
        /// The operator's first byte (after the space before it).
        public var operatorStart: Int
        /// The first byte after the operator and its space.
        public var targetStart: Int

        public var writesFile: Bool { kind != .pipe }

        public func plumbed(_ bytes: [UInt8]) -> PlumbedLine {
            let command = String(decoding: bytes[..<(operatorStart - 1)], as: UTF8.self).trimmed()
            let target = String(decoding: bytes[targetStart...], as: UTF8.self).trimmed()
            switch kind {
            case .pipe: return PlumbedLine(command: command, sink: .pipe(target))
            case .file: return PlumbedLine(command: command, sink: .file(target, append: false))
            case .append: return PlumbedLine(command: command, sink: .file(target, append: true))
            }
        }
    }

    /// Every place the line can split into COMMAND plus plumbing, leftmost
    /// first: one pass over the bytes (quotes, brackets and the operators
    /// are ASCII, which never occurs inside a multi-byte UTF-8 character).
    public static func splits(_ bytes: [UInt8]) -> [Split] {
        let space = UInt8(ascii: " "), bar = UInt8(ascii: "|"), greater = UInt8(ascii: ">")
        var result: [Split] = []
        var depth = 0
        var quote: UInt8?
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if let q = quote {
                if c == UInt8(ascii: "\\") { i += 2; continue }
                if c == q { quote = nil }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
            } else if c == UInt8(ascii: "(") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: ")") || c == UInt8(ascii: "]") {
                depth = max(0, depth - 1)
            } else if depth == 0 && i > 0 && bytes[i - 1] == space {
                func at(_ k: Int) -> UInt8? { k < bytes.count ? bytes[k] : nil }
                if c == bar && at(i + 1) == space {
                    result.append(Split(kind: .pipe, operatorStart: i, targetStart: i + 2))
                } else if c == greater && at(i + 1) == greater && at(i + 2) == space {
                    result.append(Split(kind: .append, operatorStart: i, targetStart: i + 3))
                } else if c == greater && at(i + 1) == space {
                    result.append(Split(kind: .file, operatorStart: i, targetStart: i + 2))
                }
            }
            i += 1
        }
        return result
    }

    /// Every way to read the line as COMMAND plus plumbing, leftmost first.
    public static func candidates(_ line: String) -> [PlumbedLine] {
        let bytes = Array(line.utf8)
        return splits(bytes).map { $0.plumbed(bytes) }
    }
}
