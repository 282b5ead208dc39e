public enum UnaryOperator: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `-x`
    case negate
    /// `+x`
    case plus
    /// `!x`
    case logicalNot
    /// `~x`
    case bitwiseNot
    /// `*x`
    case dereference
    /// `&x`
    case addressOf

    public var description: String {
        switch self {
        case .negate: return "-"
        case .plus: return "+"
        case .logicalNot: return "!"
        case .bitwiseNot: return "~"
        case .dereference: return "*"
        case .addressOf: return "&"
        }
    }

    init?(_ punctuator: Punctuator) {
        switch punctuator {
        case .minus: self = .negate
        case .plus: self = .plus
        case .bang: self = .logicalNot
        case .tilde: self = .bitwiseNot
        case .star: self = .dereference
        case .ampersand: self = .addressOf
        default: return nil
        }
    }
}

public enum BinaryOperator: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case multiply, divide, remainder
    case add, subtract
    case shiftLeft, shiftRight
    case less, lessEqual, greater, greaterEqual
    case equal, notEqual
    case bitwiseAnd
    case bitwiseXor
    case bitwiseOr
    case logicalAnd
    case logicalOr

    /// C precedence: higher binds tighter; all are left-associative.
    /// `*` is 10 … `||` is 1.
    public var precedence: Int {
        switch self {
        case .multiply, .divide, .remainder: return 10
        case .add, .subtract: return 9
        case .shiftLeft, .shiftRight: return 8
        case .less, .lessEqual, .greater, .greaterEqual: return 7
        case .equal, .notEqual: return 6
        case .bitwiseAnd: return 5
        case .bitwiseXor: return 4
        case .bitwiseOr: return 3
        case .logicalAnd: return 2
        case .logicalOr: return 1
        }
    }

    public var description: String {
        switch self {
        case .multiply: return "*"
        case .divide: return "/"
        case .remainder: return "%"
        case .add: return "+"
        case .subtract: return "-"
        case .shiftLeft: return "<<"
        case .shiftRight: return ">>"
        case .less: return "<"
        case .lessEqual: return "<="
        case .greater: return ">"
        case .greaterEqual: return ">="
        case .equal: return "=="
        case .notEqual: return "!="
        case .bitwiseAnd: return "&"
        case .bitwiseXor: return "^"
        case .bitwiseOr: return "|"
        case .logicalAnd: return "&&"
        case .logicalOr: return "||"
        }
    }

    init?(_ punctuator: Punctuator) {
        switch punctuator {
        case .star: self = .multiply
        case .slash: self = .divide
        case .percent: self = .remainder
        case .plus: self = .add
        case .minus: self = .subtract
        case .shiftLeft: self = .shiftLeft
        case .shiftRight: self = .shiftRight
        case .less: self = .less
        case .lessEqual: self = .lessEqual
        case .greater: self = .greater
        case .greaterEqual: self = .greaterEqual
        case .equalEqual: self = .equal
        case .notEqual: self = .notEqual
        case .ampersand: self = .bitwiseAnd
        case .caret: self = .bitwiseXor
        case .pipe: self = .bitwiseOr
        case .ampersandAmpersand: self = .logicalAnd
        case .pipePipe: self = .logicalOr
        default: return nil
        }
    }
}

/// The member designator of `offsetof` / `container_of`: `se.vruntime`,
/// `pages[3].lru`. The first component is always a field.
public struct MemberPath: Equatable, Sendable, CustomStringConvertible {
    public enum Component: Equatable, Sendable {
        /// `.name` (or the leading `name`), with the name's range.
        case field(String, range: SourceRange)
        /// `[expr]`; the node's range is the index expression's.
        case index(ExpressionNode)
    }

    public var components: [Component]
    public var range: SourceRange

    public init(components: [Component], range: SourceRange) {
        self.components = components
        self.range = range
    }

    public var description: String {
        ExpressionNode.print(pieces(full: false), full: false)
    }

    func pieces(full: Bool) -> [ExpressionNode.Piece] {
        var pieces: [ExpressionNode.Piece] = []
        for (i, component) in components.enumerated() {
            switch component {
            case .field(let name, _):
                pieces.append(.text(i == 0 ? name : "." + name))
            case .index(let node):
                pieces.append(.text("["))
                pieces.append(.child(node, parenthesized: full && !node.isLeaf))
                pieces.append(.text("]"))
            }
        }
        return pieces
    }

    var height: Int {
        components.reduce(0) { result, component in
            if case .index(let node) = component { return max(result, node.height) }
            return result
        }
    }
}

/// A node of the expression AST: what it is, and where it came from.
///
/// `range` covers the node's whole source text, including any parentheses
/// written around it: in `(a + b) * c` the sum's range is `(a + b)`.
public struct ExpressionNode: Equatable, Sendable, CustomStringConvertible {
    public indirect enum Kind: Equatable, Sendable {
        // Leaves
        case integer(IntegerLiteral)
        /// `'a'`, `'\n'`, `'\x41'`: the byte value.
        case character(UInt8)
        /// `"…"` (adjacent literals concatenated): bytes, no NUL terminator.
        case string([UInt8])
        /// A C identifier: a variable, function or enumerator name (or a
        /// typedef name used as a value, which the evaluator rejects).
        case identifier(String)
        /// `$`, `$$`, `$N`, `$$N`.
        case history(HistoryReference)
        /// `$name` without the `$`: a convenience variable or a register
        /// (`$rip`); the evaluator decides which.
        case convenienceVariable(String)

        // Postfix
        /// `base.name`; `nameRange` is the member name's range.
        case member(ExpressionNode, name: String, nameRange: SourceRange)
        /// `base->name`
        case arrow(ExpressionNode, name: String, nameRange: SourceRange)
        /// `base[index]`
        case index(ExpressionNode, ExpressionNode)

        // Prefix
        case unary(UnaryOperator, ExpressionNode)
        /// `(type)operand`
        case cast(TypeName, ExpressionNode)
        /// `sizeof operand` / `sizeof(expression)`
        case sizeofExpression(ExpressionNode)
        /// `sizeof(type)`
        case sizeofType(TypeName)

        // Infix
        case binary(BinaryOperator, ExpressionNode, ExpressionNode)
        /// `condition ? then : else`
        case conditional(ExpressionNode, ExpressionNode, ExpressionNode)

        // Builtins
        /// `offsetof(type, member.path[3].x)`
        case offsetof(TypeName, MemberPath)
        /// `container_of(pointer, type, member.path)`: the address of the
        /// enclosing `type` whose `member.path` field `pointer` points at.
        case containerOf(ExpressionNode, TypeName, MemberPath)
    }

    public let kind: Kind
    public var range: SourceRange
    /// Levels of nesting: 1 for a leaf, 1 + the tallest child otherwise.
    /// The parser keeps this within its depth limit, so recursive walks of
    /// the tree are safe.
    public let height: Int

    public init(_ kind: Kind, range: SourceRange) {
        self.kind = kind
        self.range = range
        var tallest = 0
        switch kind {
        case .integer, .character, .string, .identifier, .history, .convenienceVariable, .sizeofType:
            break
        case .member(let base, _, _), .arrow(let base, _, _):
            tallest = base.height
        case .index(let a, let b), .binary(_, let a, let b):
            tallest = max(a.height, b.height)
        case .unary(_, let operand), .cast(_, let operand), .sizeofExpression(let operand):
            tallest = operand.height
        case .conditional(let a, let b, let c):
            tallest = max(a.height, b.height, c.height)
        case .offsetof(_, let path):
            tallest = path.height
        case .containerOf(let pointer, _, let path):
            tallest = max(pointer.height, path.height)
        }
        self.height = tallest + 1
    }

    /// Canonical C with only the parentheses needed to parse back the same
    /// tree: `*p->q[2].r`, `(a + b) * c`, `(unsigned long)(char)-1`.
    public var description: String { render(full: false) }

    /// Canonical C with every compound sub-expression parenthesised:
    /// `((a - b) - c)`, `(-(*p))`. Shows the tree's shape unambiguously.
    public var fullyParenthesized: String { render(full: true) }

    // MARK: Printing
    //
    // Iterative over an explicit stack of pieces, so printing cannot
    // exhaust the call stack however tall the tree.

    private static let conditionalLevel = 0
    private static let unaryLevel = 11
    private static let postfixLevel = 12
    private static let primaryLevel = 13

    enum Piece {
        case text(String)
        case child(ExpressionNode, parenthesized: Bool)
    }

    var isLeaf: Bool {
        switch kind {
        case .integer, .character, .string, .identifier, .history, .convenienceVariable:
            return true
        default:
            return false
        }
    }

    /// How tightly this node's printed form binds, for deciding parentheses.
    private var level: Int {
        switch kind {
        case .integer, .character, .string, .identifier, .history, .convenienceVariable,
             .offsetof, .containerOf:
            return ExpressionNode.primaryLevel
        case .member, .arrow, .index:
            return ExpressionNode.postfixLevel
        case .unary, .cast, .sizeofExpression, .sizeofType:
            return ExpressionNode.unaryLevel
        case .binary(let op, _, _):
            return op.precedence
        case .conditional:
            return ExpressionNode.conditionalLevel
        }
    }

    func render(full: Bool) -> String {
        ExpressionNode.print([.child(self, parenthesized: full && !isLeaf)], full: full)
    }

    static func print(_ pieces: [Piece], full: Bool) -> String {
        var text = ""
        var stack = Array(pieces.reversed())
        while let piece = stack.popLast() {
            switch piece {
            case .text(let s):
                text += s
            case .child(let node, let parenthesized):
                if parenthesized { stack.append(.text(")")) }
                stack.append(contentsOf: node.pieces(full: full).reversed())
                if parenthesized { stack.append(.text("(")) }
            }
        }
        return text
    }

    /// A child where the grammar needs at least `level`: fully
    /// parenthesised output wraps every compound child.
    private func child(_ node: ExpressionNode, atLeast level: Int, full: Bool) -> Piece {
        .child(node, parenthesized: full ? !node.isLeaf : node.level < level)
    }

    /// A child in a position that takes any expression (`[…]`, `? … :`, builtin arguments).
    private func anyChild(_ node: ExpressionNode, full: Bool) -> Piece {
        .child(node, parenthesized: full && !node.isLeaf)
    }

    /// This node's own text, with its children as pieces.
    func pieces(full: Bool) -> [Piece] {
        switch kind {
        case .integer(let literal):
            return [.text(literal.description)]
        case .character(let byte):
            return [.text("'" + ExpressionNode.escape(byte, quote: 0x27, next: nil) + "'")]
        case .string(let bytes):
            var text = "\""
            for (i, byte) in bytes.enumerated() {
                text += ExpressionNode.escape(byte, quote: 0x22, next: i + 1 < bytes.count ? bytes[i + 1] : nil)
            }
            return [.text(text + "\"")]
        case .identifier(let name):
            return [.text(name)]
        case .history(let reference):
            return [.text(reference.description)]
        case .convenienceVariable(let name):
            return [.text("$" + name)]
        case .member(let base, let name, _):
            var piece = child(base, atLeast: ExpressionNode.postfixLevel, full: full)
            // "1.x" would lex as a floating-point literal.
            if case .integer = base.kind { piece = .child(base, parenthesized: true) }
            return [piece, .text("." + name)]
        case .arrow(let base, let name, _):
            return [child(base, atLeast: ExpressionNode.postfixLevel, full: full), .text("->" + name)]
        case .index(let base, let index):
            return [child(base, atLeast: ExpressionNode.postfixLevel, full: full), .text("["),
                    anyChild(index, full: full), .text("]")]
        case .unary(let op, let operand):
            var symbol = op.description
            // Keep "- -x", "+ +x" and "& &x" from fusing into "--x", "++x", "&&x".
            if !full, case .unary(let inner, _) = operand.kind, inner == op,
               op == .negate || op == .plus || op == .addressOf {
                symbol += " "
            }
            return [.text(symbol), child(operand, atLeast: ExpressionNode.unaryLevel, full: full)]
        case .cast(let type, let operand):
            return [.text("(" + type.description + ")"), child(operand, atLeast: ExpressionNode.unaryLevel, full: full)]
        case .sizeofExpression(let operand):
            var piece = child(operand, atLeast: ExpressionNode.unaryLevel, full: full)
            // "sizeof (T)x" would read back as sizeof(T) followed by junk.
            if case .cast = operand.kind { piece = .child(operand, parenthesized: true) }
            return [.text("sizeof "), piece]
        case .sizeofType(let type):
            return [.text("sizeof(" + type.description + ")")]
        case .binary(let op, let left, let right):
            return [child(left, atLeast: op.precedence, full: full), .text(" " + op.description + " "),
                    child(right, atLeast: op.precedence + 1, full: full)]
        case .conditional(let condition, let then, let otherwise):
            return [child(condition, atLeast: BinaryOperator.logicalOr.precedence, full: full), .text(" ? "),
                    anyChild(then, full: full), .text(" : "),
                    child(otherwise, atLeast: ExpressionNode.conditionalLevel, full: full)]
        case .offsetof(let type, let path):
            return [.text("offsetof(" + type.description + ", ")] + path.pieces(full: full) + [.text(")")]
        case .containerOf(let pointer, let type, let path):
            return [.text("container_of("), anyChild(pointer, full: full), .text(", " + type.description + ", ")]
                + path.pieces(full: full) + [.text(")")]
        }
    }

    /// One byte of a character or string literal in C source form. `next`
    /// is the following byte, so an octal escape is never followed by a digit
    /// that would extend it.
    static func escape(_ byte: UInt8, quote: UInt8, next: UInt8?) -> String {
        switch byte {
        case 0x0A: return "\\n"
        case 0x09: return "\\t"
        case 0x0D: return "\\r"
        case 0x07: return "\\a"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        case 0x0B: return "\\v"
        case 0x5C: return "\\\\"
        case quote: return "\\" + String(Character(Unicode.Scalar(byte)))
        case 0x20..<0x7F: return String(Character(Unicode.Scalar(byte)))
        default:
            let octal = String(byte, radix: 8)
            if byte == 0, let next, !(0x30...0x37).contains(next) { return "\\0" }
            if byte == 0, next == nil { return "\\0" }
            return "\\" + String(repeating: "0", count: 3 - octal.count) + octal
        }
    }
}

// MARK: - Equality without recursion
//
// The synthesised `==` would recurse once per tree level, with large frames
// in debug builds; these walk an explicit work list instead.

extension ExpressionNode {
    /// Same kind, children, ranges and height.
    public static func == (lhs: ExpressionNode, rhs: ExpressionNode) -> Bool {
        lhs.range == rhs.range && lhs.height == rhs.height && Kind.equal(lhs.kind, rhs.kind)
    }
}

extension ExpressionNode.Kind {
    public static func == (lhs: ExpressionNode.Kind, rhs: ExpressionNode.Kind) -> Bool {
        equal(lhs, rhs)
    }

    static func equal(_ lhs: ExpressionNode.Kind, _ rhs: ExpressionNode.Kind) -> Bool {
        var pending: [(ExpressionNode.Kind, ExpressionNode.Kind)] = [(lhs, rhs)]

        /// Compares two children's own fields and queues their kinds.
        func queue(_ a: ExpressionNode, _ b: ExpressionNode) -> Bool {
            guard a.range == b.range, a.height == b.height else { return false }
            pending.append((a.kind, b.kind))
            return true
        }

        func queue(_ a: MemberPath, _ b: MemberPath) -> Bool {
            guard a.range == b.range, a.components.count == b.components.count else { return false }
            for (x, y) in zip(a.components, b.components) {
                switch (x, y) {
                case (.field(let n1, let r1), .field(let n2, let r2)):
                    guard n1 == n2, r1 == r2 else { return false }
                case (.index(let i1), .index(let i2)):
                    guard queue(i1, i2) else { return false }
                default:
                    return false
                }
            }
            return true
        }

        while let (l, r) = pending.popLast() {
            switch (l, r) {
            case (.integer(let a), .integer(let b)):
                guard a == b else { return false }
            case (.character(let a), .character(let b)):
                guard a == b else { return false }
            case (.string(let a), .string(let b)):
                guard a == b else { return false }
            case (.identifier(let a), .identifier(let b)):
                guard a == b else { return false }
            case (.history(let a), .history(let b)):
                guard a == b else { return false }
            case (.convenienceVariable(let a), .convenienceVariable(let b)):
                guard a == b else { return false }
            case (.member(let a, let n1, let r1), .member(let b, let n2, let r2)),
                 (.arrow(let a, let n1, let r1), .arrow(let b, let n2, let r2)):
                guard n1 == n2, r1 == r2, queue(a, b) else { return false }
            case (.index(let a1, let a2), .index(let b1, let b2)):
                guard queue(a1, b1), queue(a2, b2) else { return false }
            case (.unary(let o1, let a), .unary(let o2, let b)):
                guard o1 == o2, queue(a, b) else { return false }
            case (.cast(let t1, let a), .cast(let t2, let b)):
                guard t1 == t2, queue(a, b) else { return false }
            case (.sizeofExpression(let a), .sizeofExpression(let b)):
                guard queue(a, b) else { return false }
            case (.sizeofType(let a), .sizeofType(let b)):
                guard a == b else { return false }
            case (.binary(let o1, let a1, let a2), .binary(let o2, let b1, let b2)):
                guard o1 == o2, queue(a1, b1), queue(a2, b2) else { return false }
            case (.conditional(let a1, let a2, let a3), .conditional(let b1, let b2, let b3)):
                guard queue(a1, b1), queue(a2, b2), queue(a3, b3) else { return false }
            case (.offsetof(let t1, let p1), .offsetof(let t2, let p2)):
                guard t1 == t2, queue(p1, p2) else { return false }
            case (.containerOf(let a, let t1, let p1), .containerOf(let b, let t2, let p2)):
                guard t1 == t2, queue(a, b), queue(p1, p2) else { return false }
            default:
                return false
            }
        }
        return true
    }
}
