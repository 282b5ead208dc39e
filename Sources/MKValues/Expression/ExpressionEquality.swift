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
