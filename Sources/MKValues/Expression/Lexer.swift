/// Splits an expression into tokens. Works on the input's UTF-8 bytes, so
/// every `SourceRange` is a byte offset; only string and character literals
/// may contain non-ASCII text.
public struct Lexer: Sendable {
    /// Inputs longer than this many UTF-8 bytes are rejected outright.
    public static let defaultMaxInputLength = 16_384

    public var maxInputLength: Int

    public init(maxInputLength: Int = Lexer.defaultMaxInputLength) {
        self.maxInputLength = maxInputLength
    }

    /// The tokens of `input`, always ending with a `.end` token whose range
    /// is the empty range at the end of the input.
    public func tokenize(_ input: String) throws(ExpressionError) -> [Token] {
        let bytes = Array(input.utf8)
        if bytes.count > maxInputLength {
            throw ExpressionError(
                column: max(0, maxInputLength),
                message: "expression is too long (\(bytes.count) bytes; the limit is \(maxInputLength))")
        }
        var scanner = Scanner(bytes: bytes)
        var tokens: [Token] = []
        while let token = try scanner.next() {
            tokens.append(token)
        }
        tokens.append(Token(kind: .end, range: SourceRange(start: bytes.count, end: bytes.count)))
        return tokens
    }
}

// MARK: - Character classes

private enum ASCII {
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let verticalTab: UInt8 = 0x0B
    static let formFeed: UInt8 = 0x0C
    static let carriageReturn: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22 // "
    static let dollar: UInt8 = 0x24
    static let apostrophe: UInt8 = 0x27 // '
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let backslash: UInt8 = 0x5C
    static let underscore: UInt8 = 0x5F

    static func isWhitespace(_ b: UInt8) -> Bool {
        b == space || (b >= tab && b <= carriageReturn)
    }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    static func isIdentifierStart(_ b: UInt8) -> Bool { isLetter(b) || b == underscore }
    static func isIdentifierContinue(_ b: UInt8) -> Bool { isIdentifierStart(b) || isDigit(b) }
    static func hexValue(_ b: UInt8) -> UInt64? {
        switch b {
        case 0x30...0x39: return UInt64(b - 0x30)
        case 0x41...0x46: return UInt64(b - 0x41 + 10)
        case 0x61...0x66: return UInt64(b - 0x61 + 10)
        default: return nil
        }
    }
}

/// How to show the character at `offset` in an error message.
func describeCharacter(in bytes: [UInt8], at offset: Int) -> String {
    guard offset >= 0, offset < bytes.count else { return "end of input" }
    let b = bytes[offset]
    if b < 0x80 {
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        let hex = String(b, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: 4 - hex.count) + hex
    }
    // Decode one UTF-8 sequence; malformed bytes become U+FFFD.
    var length = 1
    if b & 0xE0 == 0xC0 { length = 2 } else if b & 0xF0 == 0xE0 { length = 3 } else if b & 0xF8 == 0xF0 { length = 4 }
    let end = min(bytes.count, offset + length)
    let decoded = String(decoding: bytes[offset..<end], as: UTF8.self)
    guard let scalar = decoded.unicodeScalars.first else { return "U+FFFD" }
    var hex = String(scalar.value, radix: 16, uppercase: true)
    if hex.count < 4 { hex = String(repeating: "0", count: 4 - hex.count) + hex }
    return "'\(Character(scalar))' (U+\(hex))"
}

// MARK: - Scanner

private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    func byte(at offset: Int) -> UInt8? {
        offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }

    func fail(_ column: Int, _ message: String) -> ExpressionError {
        ExpressionError(column: column, message: message)
    }

    mutating func next() throws(ExpressionError) -> Token? {
        while let b = byte(at: position), ASCII.isWhitespace(b) { position += 1 }
        guard let b = byte(at: position) else { return nil }
        let start = position
        let kind: TokenKind
        if ASCII.isIdentifierStart(b) {
            kind = identifierOrKeyword()
        } else if ASCII.isDigit(b) {
            kind = try number()
        } else if b == ASCII.dot, let following = byte(at: position + 1), ASCII.isDigit(following) {
            throw fail(start, "floating-point literals are not supported")
        } else if b == ASCII.dollar {
            kind = try dollar()
        } else if b == ASCII.apostrophe {
            kind = try characterLiteral()
        } else if b == ASCII.quote {
            kind = .string(try quoted(by: ASCII.quote, what: "string literal"))
        } else if let punctuator = punctuator() {
            kind = .punctuator(punctuator)
        } else {
            throw fail(start, "unexpected character \(describeCharacter(in: bytes, at: start))")
        }
        return Token(kind: kind, range: SourceRange(start: start, end: position))
    }

    mutating func identifierOrKeyword() -> TokenKind {
        let start = position
        while let b = byte(at: position), ASCII.isIdentifierContinue(b) { position += 1 }
        let word = String(decoding: bytes[start..<position], as: UTF8.self)
        if let keyword = Keyword(rawValue: word) { return .keyword(keyword) }
        return .identifier(word)
    }

    // MARK: Integers

    mutating func number() throws(ExpressionError) -> TokenKind {
        let start = position
        // Take the whole preprocessing-number-like run so "12abc" is one
        // bad literal rather than a number followed by an identifier.
        var sawDot = false
        while let b = byte(at: position), ASCII.isIdentifierContinue(b) || b == ASCII.dot {
            if b == ASCII.dot { sawDot = true }
            position += 1
        }
        if sawDot { throw fail(start, "floating-point literals are not supported") }
        let end = position

        var radix = IntegerLiteral.Radix.decimal
        var digitsStart = start
        let second = start + 1 < end ? bytes[start + 1] : nil
        if bytes[start] == ASCII.zero, let second, second == 0x78 || second == 0x58 { // x X
            radix = .hexadecimal
            digitsStart = start + 2
        } else if bytes[start] == ASCII.zero, let second, second == 0x62 || second == 0x42 { // b B
            radix = .binary
            digitsStart = start + 2
        } else if bytes[start] == ASCII.zero, let second, ASCII.isDigit(second) {
            radix = .octal
            digitsStart = start + 1
        }

        var digitsEnd = digitsStart
        while digitsEnd < end {
            let b = bytes[digitsEnd]
            let isDigit = radix == .hexadecimal ? ASCII.hexValue(b) != nil : ASCII.isDigit(b)
            if !isDigit { break }
            digitsEnd += 1
        }
        if digitsEnd == digitsStart {
            let prefix = String(decoding: bytes[start..<digitsStart], as: UTF8.self)
            let kind = radix == .hexadecimal ? "hexadecimal" : "binary"
            throw fail(digitsStart, "expected \(kind) digits after '\(prefix)'")
        }

        let base = UInt64(radix.rawValue)
        var value: UInt64 = 0
        var overflow = false
        for offset in digitsStart..<digitsEnd {
            guard let digit = ASCII.hexValue(bytes[offset]), digit < base else {
                let name = radix == .octal ? "octal" : "binary"
                throw fail(offset, "invalid digit \(describeCharacter(in: bytes, at: offset)) in \(name) literal")
            }
            let (shifted, o1) = value.multipliedReportingOverflow(by: base)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            overflow = overflow || o1 || o2
            value = sum
        }

        let suffix = String(decoding: bytes[digitsEnd..<end], as: UTF8.self)
        guard let (isUnsigned, length) = Scanner.integerSuffix(suffix) else {
            if radix != .hexadecimal, suffix.first == "e" || suffix.first == "E" {
                throw fail(start, "floating-point literals are not supported")
            }
            throw fail(digitsEnd, "invalid suffix '\(suffix)' on integer literal")
        }
        if overflow {
            throw fail(start, "integer literal is too large (it does not fit in 64 bits)")
        }
        return .integer(IntegerLiteral(value: value, radix: radix, isUnsigned: isUnsigned, length: length))
    }

    static func integerSuffix(_ suffix: String) -> (Bool, IntegerLiteral.Length)? {
        var rest = Substring(suffix)
        var isUnsigned = false
        var length = IntegerLiteral.Length.plain
        func takeUnsigned() {
            if rest.first == "u" || rest.first == "U" {
                isUnsigned = true
                rest = rest.dropFirst()
            }
        }
        func takeLength() {
            if rest.hasPrefix("ll") || rest.hasPrefix("LL") {
                length = .longLong
                rest = rest.dropFirst(2)
            } else if rest.first == "l" || rest.first == "L" {
                length = .long
                rest = rest.dropFirst()
            }
        }
        takeUnsigned()
        takeLength()
        if !isUnsigned { takeUnsigned() }
        return rest.isEmpty ? (isUnsigned, length) : nil
    }

    // MARK: gdb $ references

    mutating func dollar() throws(ExpressionError) -> TokenKind {
        let start = position
        position += 1
        var double = false
        if byte(at: position) == ASCII.dollar {
            double = true
            position += 1
        }
        let wordStart = position
        while let b = byte(at: position), ASCII.isIdentifierContinue(b) { position += 1 }
        let word = bytes[wordStart..<position]
        let text = String(decoding: bytes[start..<position], as: UTF8.self)

        if word.isEmpty { return .history(.relative(double ? 1 : 0)) }
        if word.allSatisfy(ASCII.isDigit) {
            var n = 0
            for digit in word {
                let (shifted, o1) = n.multipliedReportingOverflow(by: 10)
                let (sum, o2) = shifted.addingReportingOverflow(Int(digit - ASCII.zero))
                if o1 || o2 { throw fail(start, "history number in '\(text)' is too large") }
                n = sum
            }
            return .history(double ? .relative(n) : .absolute(n))
        }
        if !double, let first = word.first, ASCII.isIdentifierStart(first) {
            return .convenienceVariable(String(decoding: word, as: UTF8.self))
        }
        throw fail(start, "invalid '$' reference '\(text)': expected $, $$, $N, $$N or $name")
    }

    // MARK: Character and string literals

    mutating func characterLiteral() throws(ExpressionError) -> TokenKind {
        let start = position
        let hasNonASCII = literalHasNonASCII(from: start)
        let value = try quoted(by: ASCII.apostrophe, what: "character literal")
        if value.isEmpty { throw fail(start, "empty character literal") }
        if hasNonASCII {
            throw fail(start, "non-ASCII character in character literal; write its bytes as escapes such as '\\xe9'")
        }
        guard value.count == 1, let byte = value.first else {
            throw fail(start, "multi-character character literals are not supported")
        }
        return .character(byte)
    }

    /// Whether the literal opening at `start` has raw non-ASCII bytes before
    /// its closing quote (or the end of the line).
    func literalHasNonASCII(from start: Int) -> Bool {
        var offset = start + 1
        while let b = byte(at: offset), b != ASCII.newline {
            if b == ASCII.backslash { offset += 2; continue }
            if b == ASCII.apostrophe { return false }
            if b >= 0x80 { return true }
            offset += 1
        }
        return false
    }

    /// Scans a literal opened by `quote` at `position`, returning its bytes
    /// after escape processing and leaving `position` after the closing quote.
    mutating func quoted(by quote: UInt8, what: String) throws(ExpressionError) -> [UInt8] {
        let start = position
        position += 1
        var value: [UInt8] = []
        while true {
            guard let b = byte(at: position), b != ASCII.newline, b != ASCII.carriageReturn else {
                throw fail(start, "unterminated \(what)")
            }
            if b == quote {
                position += 1
                return value
            }
            if b == ASCII.backslash {
                guard byte(at: position + 1) != nil else { throw fail(start, "unterminated \(what)") }
                value.append(try escape())
            } else {
                value.append(b)
                position += 1
            }
        }
    }

    /// Decodes the escape sequence whose backslash is at `position`.
    mutating func escape() throws(ExpressionError) -> UInt8 {
        let backslash = position
        position += 1
        guard let b = byte(at: position) else { throw fail(backslash, "unterminated escape sequence") }
        position += 1
        switch b {
        case 0x6E: return 0x0A // n
        case 0x74: return 0x09 // t
        case 0x72: return 0x0D // r
        case 0x61: return 0x07 // a
        case 0x62: return 0x08 // b
        case 0x66: return 0x0C // f
        case 0x76: return 0x0B // v
        case 0x65, 0x45: return 0x1B // e E (GNU)
        case ASCII.backslash, ASCII.apostrophe, ASCII.quote, 0x3F: return b // \\ \' \" \?
        case 0x30...0x37:
            var value = UInt64(b - ASCII.zero)
            var digits = 1
            while digits < 3, let d = byte(at: position), d >= 0x30 && d <= 0x37 {
                value = value * 8 + UInt64(d - ASCII.zero)
                digits += 1
                position += 1
            }
            guard value <= 0xFF else {
                throw fail(backslash, "octal escape sequence out of range (\\\(String(value, radix: 8)) is more than \\377)")
            }
            return UInt8(value)
        case 0x78: // x
            var value: UInt64 = 0
            var digits = 0
            while let d = byte(at: position), let digit = ASCII.hexValue(d) {
                if value <= 0xFF { value = value * 16 + digit }
                digits += 1
                position += 1
            }
            guard digits > 0 else { throw fail(backslash, "\\x used with no following hex digits") }
            guard value <= 0xFF else { throw fail(backslash, "hex escape sequence out of range (more than \\xff)") }
            return UInt8(value)
        default:
            // Step over the whole UTF-8 sequence of a non-ASCII character.
            while let next = byte(at: position), next & 0xC0 == 0x80 { position += 1 }
            let shown: String
            if b >= 0x21 && b < 0x7F {
                shown = "'\\\(Character(Unicode.Scalar(b)))'"
            } else {
                shown = "\\ followed by \(describeCharacter(in: bytes, at: backslash + 1))"
            }
            throw fail(backslash, "unknown escape sequence \(shown)")
        }
    }

    // MARK: Punctuators

    mutating func punctuator() -> Punctuator? {
        guard let b = byte(at: position) else { return nil }
        let next = byte(at: position + 1)
        let afterNext = byte(at: position + 2)
        func followedBy(_ c: Unicode.Scalar) -> Bool { next == UInt8(ascii: c) }
        var length = 1
        let p: Punctuator
        switch Unicode.Scalar(b) {
        case "(": p = .leftParen
        case ")": p = .rightParen
        case "[": p = .leftBracket
        case "]": p = .rightBracket
        case ".": p = .dot
        case ",": p = .comma
        case "?": p = .question
        case ":": p = .colon
        case "~": p = .tilde
        case "@": p = .at
        case "+":
            if followedBy("+") { p = .plusPlus; length = 2 }
            else if followedBy("=") { p = .plusAssign; length = 2 }
            else { p = .plus }
        case "-":
            if followedBy(">") { p = .arrow; length = 2 }
            else if followedBy("-") { p = .minusMinus; length = 2 }
            else if followedBy("=") { p = .minusAssign; length = 2 }
            else { p = .minus }
        case "*": if followedBy("=") { p = .starAssign; length = 2 } else { p = .star }
        case "/": if followedBy("=") { p = .slashAssign; length = 2 } else { p = .slash }
        case "%": if followedBy("=") { p = .percentAssign; length = 2 } else { p = .percent }
        case "^": if followedBy("=") { p = .caretAssign; length = 2 } else { p = .caret }
        case "!": if followedBy("=") { p = .notEqual; length = 2 } else { p = .bang }
        case "=": if followedBy("=") { p = .equalEqual; length = 2 } else { p = .assign }
        case "&":
            if followedBy("&") { p = .ampersandAmpersand; length = 2 }
            else if followedBy("=") { p = .ampersandAssign; length = 2 }
            else { p = .ampersand }
        case "|":
            if followedBy("|") { p = .pipePipe; length = 2 }
            else if followedBy("=") { p = .pipeAssign; length = 2 }
            else { p = .pipe }
        case "<":
            if followedBy("<") {
                if afterNext == UInt8(ascii: "=") { p = .shiftLeftAssign; length = 3 } else { p = .shiftLeft; length = 2 }
            } else if followedBy("=") { p = .lessEqual; length = 2 }
            else { p = .less }
        case ">":
            if followedBy(">") {
                if afterNext == UInt8(ascii: "=") { p = .shiftRightAssign; length = 3 } else { p = .shiftRight; length = 2 }
            } else if followedBy("=") { p = .greaterEqual; length = 2 }
            else { p = .greater }
        default:
            return nil
        }
        position += length
        return p
    }
}
