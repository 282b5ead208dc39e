/// A span of the input: 0-based, half-open `[start, end)` UTF-8 byte offsets.
/// For the usual ASCII input a byte offset is the character column.
public struct SourceRange: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = max(start, end)
    }

    public var count: Int { end - start }

    /// The smallest range covering both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(start: min(start, other.start), end: max(end, other.end))
    }

    public var description: String { "\(start)..<\(end)" }
}

/// An integer literal as written: the value (at most 64 bits) plus what C
/// needs to give it a type. C types an unsuffixed decimal literal as the first
/// of int, long, long long that holds it, while hex/octal/binary literals may
/// also become the unsigned variants; `u` and `l`/`ll` narrow the choice.
public struct IntegerLiteral: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Radix: Int, Sendable {
        case binary = 2
        case octal = 8
        case decimal = 10
        case hexadecimal = 16
    }

    /// The `l`/`ll` suffix.
    public enum Length: Sendable {
        case plain
        case long
        case longLong
    }

    public var value: UInt64
    public var radix: Radix
    /// A `u`/`U` suffix was present.
    public var isUnsigned: Bool
    public var length: Length

    /// An `l`/`L` or `ll`/`LL` suffix was present.
    public var isLong: Bool { length != .plain }

    public init(value: UInt64, radix: Radix = .decimal, isUnsigned: Bool = false, length: Length = .plain) {
        self.value = value
        self.radix = radix
        self.isUnsigned = isUnsigned
        self.length = length
    }

    /// Canonical C spelling, in the literal's own radix: `42`, `0x2a`, `052`,
    /// `0b101010`, with the suffix normalised to `u`, `l`, `ll`, `ul`, `ull`.
    public var description: String {
        var text: String
        switch radix {
        case .binary: text = "0b" + String(value, radix: 2)
        case .octal: text = "0" + String(value, radix: 8)
        case .decimal: text = String(value)
        case .hexadecimal: text = "0x" + String(value, radix: 16)
        }
        if isUnsigned { text += "u" }
        switch length {
        case .plain: break
        case .long: text += "l"
        case .longLong: text += "ll"
        }
        return text
    }
}

/// A gdb value-history reference.
public enum HistoryReference: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// `$` is `relative(0)` (the last value), `$$` is `relative(1)` (the one
    /// before it), `$$n` is `relative(n)`: n values back from the last.
    case relative(Int)
    /// `$n`: history entry number n.
    case absolute(Int)

    public var description: String {
        switch self {
        case .relative(0): return "$"
        case .relative(1): return "$$"
        case .relative(let n): return "$$\(n)"
        case .absolute(let n): return "$\(n)"
        }
    }
}

/// Reserved words. `offsetof` and `container_of` are not keywords: they are
/// identifiers that the parser treats as builtins when followed by `(`.
public enum Keyword: String, Sendable, CaseIterable {
    case `sizeof`
    case `struct`
    case `union`
    case `enum`
    case const
    case volatile
    case signed
    case unsigned
    case void
    case bool = "_Bool"
    case char
    case short
    case int
    case long
    case float
    case double

    /// Keywords that can begin a type name.
    public var startsTypeName: Bool { self != .sizeof }
}

public enum Punctuator: String, Sendable, CaseIterable {
    case leftParen = "("
    case rightParen = ")"
    case leftBracket = "["
    case rightBracket = "]"
    case dot = "."
    case arrow = "->"
    case comma = ","
    case question = "?"
    case colon = ":"
    case plus = "+"
    case minus = "-"
    case star = "*"
    case slash = "/"
    case percent = "%"
    case shiftLeft = "<<"
    case shiftRight = ">>"
    case less = "<"
    case lessEqual = "<="
    case greater = ">"
    case greaterEqual = ">="
    case equalEqual = "=="
    case notEqual = "!="
    case ampersand = "&"
    case caret = "^"
    case pipe = "|"
    case ampersandAmpersand = "&&"
    case pipePipe = "||"
    case bang = "!"
    case tilde = "~"
    /// gdb's artificial array, `ARRAY[i]@N`.
    case at = "@"
    case plusPlus = "++"
    case minusMinus = "--"
    // Assignments: lexed only so the parser can say they are unsupported.
    case assign = "="
    case plusAssign = "+="
    case minusAssign = "-="
    case starAssign = "*="
    case slashAssign = "/="
    case percentAssign = "%="
    case shiftLeftAssign = "<<="
    case shiftRightAssign = ">>="
    case ampersandAssign = "&="
    case caretAssign = "^="
    case pipeAssign = "|="

    public var isAssignment: Bool {
        switch self {
        case .assign, .plusAssign, .minusAssign, .starAssign, .slashAssign, .percentAssign,
             .shiftLeftAssign, .shiftRightAssign, .ampersandAssign, .caretAssign, .pipeAssign:
            return true
        default:
            return false
        }
    }
}

public enum TokenKind: Equatable, Hashable, Sendable {
    case integer(IntegerLiteral)
    /// A character literal's value as a byte (`'\xff'` is 255; C gives the
    /// literal type int and the value of that byte converted through `char`).
    case character(UInt8)
    /// A string literal's bytes after escape processing, without a NUL
    /// terminator. Non-ASCII characters are kept as their UTF-8 bytes.
    case string([UInt8])
    case identifier(String)
    case keyword(Keyword)
    case history(HistoryReference)
    /// `$name`, the name without the `$`.
    case convenienceVariable(String)
    case punctuator(Punctuator)
    case end
}

public struct Token: Equatable, Hashable, Sendable {
    public var kind: TokenKind
    public var range: SourceRange

    public init(kind: TokenKind, range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}
