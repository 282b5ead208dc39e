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
    /// gdb's `LVALUE@N`: N objects in memory from the left operand's address, as an array.
    case artificialArray
    case shiftLeft, shiftRight
    case less, lessEqual, greater, greaterEqual
    case equal, notEqual
    case bitwiseAnd
    case bitwiseXor
    case bitwiseOr
    case logicalAnd
    case logicalOr

    /// C precedence: higher binds tighter; all are left-associative.
    /// `*` is 11 … `||` is 1. gdb's `@` sits between `+` and `<<` (its C grammar's).
    public var precedence: Int {
        switch self {
        case .multiply, .divide, .remainder: return 11
        case .add, .subtract: return 10
        case .artificialArray: return 9
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
        case .artificialArray: return "@"
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
        case .at: self = .artificialArray
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
}
