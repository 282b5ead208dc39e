/// The result of `ExpressionParser.parseTypeOrExpression(_:)`, for commands
/// such as `ptype` and `whatis` that take either.
public enum TypeOrExpression: Equatable, Sendable {
    case type(TypeName)
    case expression(ExpressionNode)
}

/// Parses mkdbg's C expression language into an `ExpressionNode` tree.
///
/// Grammar, loosest first (all binary operators left-associative):
///
///     expression  := conditional                 (assignment is an error)
///     conditional := logical-or [ '?' expression ':' conditional ]
///     binary      := || , && , | , ^ , & , == != , < <= > >= , << >> , + - , * / %
///     cast        := '(' type-name ')' cast | unary
///     unary       := ('-' | '+' | '!' | '~' | '*' | '&') cast
///                  | 'sizeof' '(' type-name ')' | 'sizeof' unary | postfix
///     postfix     := primary { '[' expression ']' | '.' name | '->' name }
///     primary     := integer | char | string+ | identifier | $-reference
///                  | '(' expression ')'
///                  | 'offsetof' '(' type-name ',' member-path ')'
///                  | 'container_of' '(' expression ',' type-name ',' member-path ')'
///
/// C's `(x)*y` ambiguity is settled by the type oracle: a parenthesised
/// identifier starts a cast only if `isTypeName` says it names a typedef
/// (type keywords always start a type). Where only a type can appear —
/// inside `offsetof`/`container_of`, or after `const`/`struct`/… — any
/// identifier is taken as a typedef name without asking.
///
/// All positions are 0-based UTF-8 byte offsets (`SourceRange`,
/// `ExpressionError.column`).
///
/// The parser does not recurse (it keeps explicit stacks), so no input can
/// exhaust the call stack. Limits: inputs over `maxInputLength` bytes are
/// rejected, and so is nesting deeper than `maxDepth` — both open
/// constructs (parentheses, brackets, prefix operators, casts, `?:`) and
/// the resulting tree's height (`ExpressionNode.height`, so also very long
/// operator chains). A consumer may therefore walk the tree recursively.
public struct ExpressionParser {
    public static let defaultMaxDepth = 256

    public var isTypeName: (String) -> Bool
    public var maxDepth: Int
    public var maxInputLength: Int

    /// - Parameter isTypeName: whether an identifier names a typedef (`u64`,
    ///   `pid_t`, `atomic_t`). Consulted only to resolve `(name)` casts,
    ///   `sizeof(name)` and `ptype name`.
    public init(isTypeName: @escaping (String) -> Bool = { _ in false },
                maxDepth: Int = ExpressionParser.defaultMaxDepth,
                maxInputLength: Int = Lexer.defaultMaxInputLength) {
        self.isTypeName = isTypeName
        self.maxDepth = maxDepth
        self.maxInputLength = maxInputLength
    }

    /// Parses a complete expression.
    public func parse(_ input: String) throws(ExpressionError) -> ExpressionNode {
        var parser = try state(for: input)
        return try parser.parseCompleteExpression()
    }

    /// Parses a complete type name: `struct task_struct *`, `unsigned long [4]`, `u64`.
    public func parseType(_ input: String) throws(ExpressionError) -> TypeName {
        var parser = try state(for: input)
        if parser.current.kind == .end { throw ExpressionError(column: 0, message: "empty type name") }
        let type = try parser.parseTypeName()
        try parser.expectEnd(after: "the type name")
        return type
    }

    /// For `ptype`/`whatis`: the input is a type if it starts with a type
    /// keyword (`struct`, `union`, `enum`, `const`, `volatile`, `unsigned`,
    /// `int`, …), or with an identifier that `isTypeName` accepts, and is
    /// followed only by `*`s, qualifiers and `[N]`s to the end. Anything else
    /// is parsed as an expression.
    public func parseTypeOrExpression(_ input: String) throws(ExpressionError) -> TypeOrExpression {
        var parser = try state(for: input)
        switch parser.current.kind {
        case .keyword(let keyword) where keyword.startsTypeName:
            // No expression can start with a type keyword.
            let type = try parser.parseTypeName()
            try parser.expectEnd(after: "the type name")
            return .type(type)
        case .identifier(let name) where isTypeName(name):
            var attempt = parser
            if let type = try? attempt.parseTypeName(), attempt.current.kind == .end {
                return .type(type)
            }
        default:
            break
        }
        return .expression(try parser.parseCompleteExpression())
    }

    private func state(for input: String) throws(ExpressionError) -> ParserState {
        let tokens = try Lexer(maxInputLength: maxInputLength).tokenize(input)
        return ParserState(tokens: tokens, source: Array(input.utf8), isTypeName: isTypeName, maxDepth: maxDepth)
    }
}

// MARK: - The parser proper
//
// An operator-precedence parser with explicit stacks instead of recursion,
// so no input can exhaust the call stack (debug builds spend kilobytes of
// stack per recursive-descent frame). `frames` holds what is still open —
// prefix operators, casts, binary operators awaiting their right operand,
// parentheses, `[`, `?`/`:`, builtin argument lists — and `operands` the
// finished sub-trees. Type names have no expressions inside them and are
// parsed by straight-line code.

struct ParserState {
    let tokens: [Token]
    let source: [UInt8]
    let isTypeName: (String) -> Bool
    let maxDepth: Int
    var index = 0
    /// End offset of the last consumed token.
    var previousEnd = 0

    /// An `offsetof` / `container_of` being parsed.
    struct Builtin {
        var name: Token
        /// `container_of`'s pointer; nil for `offsetof`.
        var pointer: ExpressionNode?
        var type: TypeName
        var components: [MemberPath.Component] = []
        var pathStart = 0
        var pathEnd = 0

        var spelling: String { pointer == nil ? "offsetof" : "container_of" }
    }

    enum Frame {
        /// `-`, `*`, …: waiting for a cast-expression.
        case prefix(UnaryOperator, start: Int)
        /// `(type)`: waiting for a cast-expression.
        case cast(TypeName, start: Int)
        /// `sizeof` (not followed by a parenthesised type): waiting for a unary-expression.
        case sizeof(start: Int)
        /// Left operand on the operand stack, waiting for the right one.
        case binary(BinaryOperator, column: Int)
        case paren(open: Int)
        /// `[`: the array is on the operand stack, waiting for the index and `]`.
        case index(open: Int)
        /// `?`: the condition is on the operand stack, waiting for `:`.
        case conditionalThen(question: Int)
        /// `:`: condition and then-value on the operand stack, waiting for the else-value.
        case conditionalElse(question: Int)
        /// `container_of(`: waiting for the pointer expression and `,`.
        case containerOfPointer(name: Token)
        /// `[` inside a member path: waiting for the index and `]`.
        case pathIndex(Builtin)

        /// Frames that only an explicit closing token ends.
        var isBoundary: Bool {
            switch self {
            case .paren, .index, .conditionalThen, .containerOfPointer, .pathIndex: return true
            case .prefix, .cast, .sizeof, .binary, .conditionalElse: return false
            }
        }
    }

    enum Position {
        /// Expecting an operand (or prefix operators before one).
        case operand
        /// After a complete operand: expecting postfix, infix or a closer.
        case `operator`
    }

    var frames: [Frame] = []
    var operands: [ExpressionNode] = []

    init(tokens: [Token], source: [UInt8], isTypeName: @escaping (String) -> Bool, maxDepth: Int) {
        self.tokens = tokens
        self.source = source
        self.isTypeName = isTypeName
        self.maxDepth = maxDepth
    }

    // MARK: Token access

    private var endToken: Token {
        Token(kind: .end, range: SourceRange(start: source.count, end: source.count))
    }

    var current: Token { index < tokens.count ? tokens[index] : endToken }

    func peek(_ offset: Int = 1) -> Token {
        let i = index + offset
        return i >= 0 && i < tokens.count ? tokens[i] : endToken
    }

    @discardableResult
    mutating func advance() -> Token {
        let token = current
        if index < tokens.count { index += 1 }
        previousEnd = token.range.end
        return token
    }

    func isPunctuator(_ p: Punctuator, _ token: Token? = nil) -> Bool {
        (token ?? current).kind == .punctuator(p)
    }

    func isKeyword(_ k: Keyword, _ token: Token? = nil) -> Bool {
        (token ?? current).kind == .keyword(k)
    }

    /// How a token reads in a message: `'foo'`, `')'`, `end of input`.
    func describe(_ token: Token) -> String {
        if token.kind == .end { return "end of input" }
        let start = max(0, min(token.range.start, source.count))
        let end = max(start, min(token.range.end, source.count))
        var text = String(decoding: source[start..<end], as: UTF8.self)
        if text.count > 24 { text = String(text.prefix(21)) + "..." }
        return "'" + text + "'"
    }

    func error(_ column: Int, _ message: String) -> ExpressionError {
        ExpressionError(column: column, message: message)
    }

    func error(at token: Token, _ message: String) -> ExpressionError {
        ExpressionError(column: token.range.start, message: message)
    }

    mutating func expect(_ p: Punctuator, _ message: String) throws(ExpressionError) -> Token {
        guard isPunctuator(p) else { throw error(at: current, message) }
        return advance()
    }

    func expectEnd(after what: String) throws(ExpressionError) {
        guard current.kind != .end else { return }
        throw unexpected(current, after: what)
    }

    func unexpected(_ token: Token, after what: String) -> ExpressionError {
        switch token.kind {
        case .punctuator(.rightParen): return error(at: token, "unbalanced ')'")
        case .punctuator(.rightBracket): return error(at: token, "unbalanced ']'")
        case .punctuator(.comma): return error(at: token, "the comma operator is not supported")
        case .punctuator(let p) where p.isAssignment: return error(at: token, ExpressionParser.assignmentMessage)
        default: return error(at: token, "unexpected \(describe(token)) after \(what)")
        }
    }

    // MARK: Limits

    func tooDeep(_ column: Int) -> ExpressionError {
        error(column, "expression is nested too deeply (the limit is \(maxDepth) levels)")
    }

    /// Whether one more frame fits; the top level counts as one level of nesting.
    func checkDepth(column: Int) throws(ExpressionError) {
        if frames.count + 1 >= maxDepth { throw tooDeep(column) }
    }

    /// Opens a frame.
    mutating func push(_ frame: Frame, column: Int) throws(ExpressionError) {
        try checkDepth(column: column)
        frames.append(frame)
    }

    /// Builds a node, refusing trees taller than the depth limit.
    func node(_ kind: ExpressionNode.Kind, _ start: Int, _ end: Int, column: Int) throws(ExpressionError) -> ExpressionNode {
        let node = ExpressionNode(kind, range: SourceRange(start: start, end: end))
        if node.height > maxDepth { throw tooDeep(column) }
        return node
    }

    mutating func popOperand() throws(ExpressionError) -> ExpressionNode {
        guard let operand = operands.popLast() else {
            throw error(current.range.start, "internal parser error: operand stack underflow")
        }
        return operand
    }

    // MARK: Expressions

    mutating func parseCompleteExpression() throws(ExpressionError) -> ExpressionNode {
        if current.kind == .end { throw error(0, "empty expression") }
        var position = Position.operand
        while true {
            switch position {
            case .operand:
                position = try operandPosition()
            case .operator:
                if current.kind == .end {
                    try reduceToBoundary()
                    if let open = frames.last { throw unclosed(open, found: current) }
                    let result = try popOperand()
                    guard operands.isEmpty else {
                        throw error(current.range.start, "internal parser error: operands left over")
                    }
                    return result
                }
                position = try operatorPosition()
            }
        }
    }

    mutating func leaf(_ kind: ExpressionNode.Kind, _ range: SourceRange) -> Position {
        operands.append(ExpressionNode(kind, range: range))
        return .operator
    }

    mutating func operandPosition() throws(ExpressionError) -> Position {
        let token = current
        let start = token.range.start
        switch token.kind {
        case .integer(let literal):
            advance()
            return leaf(.integer(literal), token.range)
        case .character(let value):
            advance()
            return leaf(.character(value), token.range)
        case .string(var bytes):
            advance()
            while case .string(let more) = current.kind {
                bytes += more
                advance()
            }
            return leaf(.string(bytes), SourceRange(start: start, end: previousEnd))
        case .identifier(let name):
            if isPunctuator(.leftParen, peek()) {
                if name == "offsetof" {
                    advance()
                    advance()
                    let type = try parseTypeName()
                    _ = try expect(.comma, "expected ',' after the type in offsetof")
                    return try beginMemberPath(Builtin(name: token, pointer: nil, type: type))
                }
                if name == "container_of" {
                    advance()
                    advance()
                    try push(.containerOfPointer(name: token), column: start)
                    return .operand
                }
            }
            advance()
            return leaf(.identifier(name), token.range)
        case .history(let reference):
            advance()
            return leaf(.history(reference), token.range)
        case .convenienceVariable(let name):
            advance()
            return leaf(.convenienceVariable(name), token.range)
        case .punctuator(.leftParen):
            if startsTypeName(peek()) {
                try checkDepth(column: start)
                advance()
                let type = try parseTypeName()
                _ = try expect(.rightParen, "expected ')' after cast type")
                try push(.cast(type, start: start), column: start)
            } else {
                advance()
                try push(.paren(open: start), column: start)
            }
            return .operand
        case .punctuator(let p):
            if let op = UnaryOperator(p) {
                advance()
                try push(.prefix(op, start: start), column: start)
                return .operand
            }
            if p == .plusPlus || p == .minusMinus { throw error(at: token, ExpressionParser.incrementMessage) }
            if p.isAssignment { throw error(at: token, ExpressionParser.assignmentMessage) }
            throw error(at: token, "expected an expression, found \(describe(token))")
        case .keyword(.sizeof):
            advance()
            if isPunctuator(.leftParen), startsTypeName(peek()) {
                advance()
                let type = try parseTypeName()
                let close = try expect(.rightParen, "expected ')' after the type in sizeof")
                operands.append(try node(.sizeofType(type), start, close.range.end, column: start))
                return .operator
            }
            if current.kind == .end { throw error(at: current, "expected an expression or '(type)' after 'sizeof'") }
            try push(.sizeof(start: start), column: start)
            return .operand
        case .keyword(let keyword):
            throw error(at: token, "expected an expression, found the type keyword '\(keyword.rawValue)'")
        case .end:
            throw error(at: token, "expected an expression, found end of input")
        }
    }

    mutating func operatorPosition() throws(ExpressionError) -> Position {
        let token = current
        let start = token.range.start
        guard case .punctuator(let p) = token.kind else {
            try reduceToBoundary()
            if let open = frames.last { throw unclosed(open, found: token) }
            throw unexpected(token, after: "the expression")
        }
        if let op = BinaryOperator(p) {
            try reduce(whilePrecedenceAtLeast: op.precedence)
            advance()
            try push(.binary(op, column: start), column: start)
            return .operand
        }
        switch p {
        case .question:
            try reduce(whilePrecedenceAtLeast: BinaryOperator.logicalOr.precedence)
            advance()
            try push(.conditionalThen(question: start), column: start)
            return .operand
        case .colon:
            try reduceToBoundary()
            guard case .conditionalThen(let question)? = frames.last else {
                if let open = frames.last { throw unclosed(open, found: token) }
                throw error(at: token, "unexpected ':' without a matching '?'")
            }
            frames.removeLast()
            frames.append(.conditionalElse(question: question))
            advance()
            return .operand
        case .rightParen:
            try reduceToBoundary()
            guard case .paren(let open)? = frames.last else {
                if let open = frames.last { throw unclosed(open, found: token) }
                throw unexpected(token, after: "the expression")
            }
            frames.removeLast()
            var inner = try popOperand()
            inner.range = SourceRange(start: open, end: token.range.end)
            operands.append(inner)
            advance()
            return .operator
        case .rightBracket:
            try reduceToBoundary()
            switch frames.last {
            case .index(let open)?:
                frames.removeLast()
                let subscripted = try popOperand()
                let base = try popOperand()
                operands.append(try node(.index(base, subscripted), base.range.start, token.range.end, column: open))
                advance()
                return .operator
            case .pathIndex(var builtin)?:
                frames.removeLast()
                let subscripted = try popOperand()
                if subscripted.height + 1 > maxDepth { throw tooDeep(start) }
                builtin.components.append(.index(subscripted))
                builtin.pathEnd = advance().range.end
                return try continueMemberPath(builtin)
            case let open?:
                throw unclosed(open, found: token)
            case nil:
                throw unexpected(token, after: "the expression")
            }
        case .leftBracket:
            advance()
            try push(.index(open: start), column: start)
            return .operand
        case .dot, .arrow:
            advance()
            guard case .identifier(let name) = current.kind else {
                throw error(at: current, "expected a member name after '\(p.rawValue)'")
            }
            let nameToken = advance()
            let base = try popOperand()
            let kind: ExpressionNode.Kind = p == .dot
                ? .member(base, name: name, nameRange: nameToken.range)
                : .arrow(base, name: name, nameRange: nameToken.range)
            operands.append(try node(kind, base.range.start, nameToken.range.end, column: start))
            return .operator
        case .leftParen:
            throw error(at: token, "function calls are not supported")
        case .plusPlus, .minusMinus:
            throw error(at: token, ExpressionParser.incrementMessage)
        case .comma:
            try reduceToBoundary()
            guard case .containerOfPointer(let name)? = frames.last else {
                if let open = frames.last { throw unclosed(open, found: token) }
                throw unexpected(token, after: "the expression")
            }
            frames.removeLast()
            let pointer = try popOperand()
            advance()
            let type = try parseTypeName()
            _ = try expect(.comma, "expected ',' after the type in container_of")
            return try beginMemberPath(Builtin(name: name, pointer: pointer, type: type))
        default:
            if p.isAssignment { throw error(at: token, ExpressionParser.assignmentMessage) }
            try reduceToBoundary()
            if let open = frames.last { throw unclosed(open, found: token) }
            throw unexpected(token, after: "the expression")
        }
    }

    /// The error for finding `found` while `frame` is still open.
    func unclosed(_ frame: Frame, found: Token) -> ExpressionError {
        switch frame {
        case .paren(let open):
            return error(at: found, "expected ')' to close '(' at column \(open + 1)")
        case .index, .pathIndex:
            return error(at: found, "expected ']' after array index")
        case .conditionalThen:
            return error(at: found, "expected ':' in conditional expression")
        case .containerOfPointer:
            return error(at: found, "expected ',' after the pointer in container_of")
        case .prefix, .cast, .sizeof, .binary, .conditionalElse:
            return unexpected(found, after: "the expression")
        }
    }

    /// Completes prefix operators, and binary operators binding at least as
    /// tightly as `precedence` (all are left-associative).
    mutating func reduce(whilePrecedenceAtLeast precedence: Int) throws(ExpressionError) {
        while let frame = frames.last {
            switch frame {
            case .prefix, .cast, .sizeof:
                try reduceTop()
            case .binary(let op, _) where op.precedence >= precedence:
                try reduceTop()
            default:
                return
            }
        }
    }

    /// Completes everything up to the innermost open bracket-like frame.
    mutating func reduceToBoundary() throws(ExpressionError) {
        while let frame = frames.last, !frame.isBoundary {
            try reduceTop()
        }
    }

    mutating func reduceTop() throws(ExpressionError) {
        guard let frame = frames.popLast() else { return }
        switch frame {
        case .prefix(let op, let start):
            let operand = try popOperand()
            operands.append(try node(.unary(op, operand), start, operand.range.end, column: start))
        case .cast(let type, let start):
            let operand = try popOperand()
            operands.append(try node(.cast(type, operand), start, operand.range.end, column: start))
        case .sizeof(let start):
            let operand = try popOperand()
            operands.append(try node(.sizeofExpression(operand), start, operand.range.end, column: start))
        case .binary(let op, let column):
            let right = try popOperand()
            let left = try popOperand()
            operands.append(try node(.binary(op, left, right), left.range.start, right.range.end, column: column))
        case .conditionalElse(let question):
            let otherwise = try popOperand()
            let then = try popOperand()
            let condition = try popOperand()
            operands.append(try node(.conditional(condition, then, otherwise),
                                     condition.range.start, otherwise.range.end, column: question))
        case .paren, .index, .conditionalThen, .containerOfPointer, .pathIndex:
            throw error(current.range.start, "internal parser error: cannot reduce an open bracket")
        }
    }
}

extension ExpressionParser {
    static let assignmentMessage = "assignment is not supported: mkdbg does not write memory"
    static let incrementMessage = "increment and decrement are not supported: mkdbg does not write memory"
    static let functionTypeMessage = "function types are not supported (such as the function pointer in 'void (*)(int)')"
}
