/// The member paths of `offsetof(TYPE, path)` and
/// `container_of(PTR, TYPE, path)`: names, `.name` and `[index]`.
extension ParserState {
    /// `name { '.' name | '[' expression ']' } ')'`
    mutating func beginMemberPath(_ builtin: Builtin) throws(ExpressionError) -> Position {
        var builtin = builtin
        guard case .identifier(let first) = current.kind else {
            throw error(at: current, "expected a member name, found \(describe(current))")
        }
        let token = advance()
        builtin.pathStart = token.range.start
        builtin.pathEnd = token.range.end
        builtin.components = [.field(first, range: token.range)]
        return try continueMemberPath(builtin)
    }

    mutating func continueMemberPath(_ builtin: Builtin) throws(ExpressionError) -> Position {
        var builtin = builtin
        while true {
            if isPunctuator(.dot) {
                advance()
                guard case .identifier(let name) = current.kind else {
                    throw error(at: current, "expected a member name after '.'")
                }
                let nameToken = advance()
                builtin.components.append(.field(name, range: nameToken.range))
                builtin.pathEnd = nameToken.range.end
            } else if isPunctuator(.leftBracket) {
                let open = advance()
                try push(.pathIndex(builtin), column: open.range.start)
                return .operand
            } else if isPunctuator(.arrow) {
                throw error(at: current, "'->' cannot appear in a member designator; use '.'")
            } else {
                break
            }
        }
        let close = try expect(.rightParen, "expected ')' after the member in \(builtin.spelling)")
        let path = MemberPath(components: builtin.components,
                              range: SourceRange(start: builtin.pathStart, end: builtin.pathEnd))
        let kind: ExpressionNode.Kind
        if let pointer = builtin.pointer {
            kind = .containerOf(pointer, builtin.type, path)
        } else {
            kind = .offsetof(builtin.type, path)
        }
        let start = builtin.name.range.start
        operands.append(try node(kind, start, close.range.end, column: start))
        return .operator
    }
}
