/// Printing expression trees back as C (`description`, `fullyParenthesized`).
extension ExpressionNode {
    // Iterative over an explicit stack of pieces, so printing cannot
    // exhaust the call stack however tall the tree.

    fileprivate static let conditionalLevel = 0
    fileprivate static let unaryLevel = 12
    fileprivate static let postfixLevel = 13
    fileprivate static let primaryLevel = 14

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
    fileprivate var level: Int {
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
    fileprivate func child(_ node: ExpressionNode, atLeast level: Int, full: Bool) -> Piece {
        .child(node, parenthesized: full ? !node.isLeaf : node.level < level)
    }

    /// A child in a position that takes any expression (`[…]`, `? … :`, builtin arguments).
    fileprivate func anyChild(_ node: ExpressionNode, full: Bool) -> Piece {
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

extension MemberPath {
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
}
