/// Type names in the expression language (casts, `sizeof`, `offsetof`,
/// `ptype TYPE`): specifiers and qualifiers, then pointers and arrays,
/// parenthesised as in C; function types are an error.
extension ParserState {
    /// Whether `token` (just after a `(`) begins a type name.
    func startsTypeName(_ token: Token) -> Bool {
        switch token.kind {
        case .keyword(let keyword): return keyword.startsTypeName
        case .identifier(let name): return isTypeName(name)
        default: return false
        }
    }

    /// `specifier-qualifier-list abstract-declarator?`. Any identifier in
    /// specifier position is a typedef name: callers decide beforehand
    /// whether a type is expected.
    mutating func parseTypeName() throws(ExpressionError) -> TypeName {
        let start = current.range.start
        var specifiers = SpecifierSet()
        var qualifiers = TypeQualifiers()
        var named: BaseType? // struct/union/enum tag or typedef name
        var baseStart: Int?
        var baseEnd = start

        scan: while true {
            let token = current
            switch token.kind {
            case .keyword(.const):
                qualifiers.insert(.const)
                advance()
            case .keyword(.volatile):
                qualifiers.insert(.volatile)
                advance()
            case .keyword(let keyword) where keyword == .struct || keyword == .union || keyword == .enum:
                if named != nil || !specifiers.isEmpty {
                    throw error(at: token, "'\(keyword.rawValue)' cannot be combined with the type specifiers before it")
                }
                advance()
                guard case .identifier(let tag) = current.kind else {
                    throw error(at: current, "expected a tag name after '\(keyword.rawValue)'")
                }
                let tagToken = advance()
                switch keyword {
                case .struct: named = .structure(tag)
                case .union: named = .union(tag)
                default: named = .enumeration(tag)
                }
                baseStart = token.range.start
                baseEnd = tagToken.range.end
            case .keyword(let keyword) where keyword != .sizeof:
                if let named {
                    throw error(at: token, "'\(keyword.rawValue)' cannot be combined with '\(named)'")
                }
                if let problem = specifiers.add(keyword) {
                    throw error(at: token, problem)
                }
                advance()
                baseStart = baseStart ?? token.range.start
                baseEnd = token.range.end
            case .identifier(let name) where named == nil && specifiers.isEmpty:
                named = .typedef(name)
                advance()
                baseStart = token.range.start
                baseEnd = token.range.end
            default:
                break scan
            }
        }

        let base: BaseType
        if let named {
            base = named
        } else if let primitive = specifiers.primitive {
            base = .primitive(primitive)
        } else {
            throw error(at: current, "expected a type name, found \(describe(current))")
        }
        let baseRange = SourceRange(start: baseStart ?? start, end: baseEnd)
        let derivations = try parseAbstractDeclarator()
        return TypeName(base: base, qualifiers: qualifiers, derivations: derivations,
                        range: SourceRange(start: start, end: max(previousEnd, start)), baseRange: baseRange)
    }

    /// `pointers [ '(' abstract-declarator ')' ] arrays`, without recursion:
    /// descend through the opening parentheses remembering each level's
    /// pointers, then climb back out collecting each level's arrays.
    /// Returns derivations innermost first.
    mutating func parseAbstractDeclarator() throws(ExpressionError) -> [TypeDerivation] {
        var enclosing: [[TypeDerivation]] = []
        var pointers = try parsePointers()
        while isPunctuator(.leftParen) {
            let next = peek()
            guard isPunctuator(.star, next) || isPunctuator(.leftBracket, next) || isPunctuator(.leftParen, next) else {
                throw error(at: current, ExpressionParser.functionTypeMessage)
            }
            if enclosing.count + 1 >= maxDepth { throw tooDeep(current.range.start) }
            advance()
            enclosing.append(pointers)
            pointers = try parsePointers()
        }
        var derivations = pointers + (try parseArrays())
        while let outerPointers = enclosing.popLast() {
            _ = try expect(.rightParen, "expected ')' in type name")
            derivations = outerPointers + (try parseArrays()) + derivations
            if derivations.count > maxDepth { throw tooDeep(previousEnd) }
        }
        if derivations.count > maxDepth { throw tooDeep(previousEnd) }
        return derivations
    }

    /// `* [const] [volatile]` … in order, innermost first.
    mutating func parsePointers() throws(ExpressionError) -> [TypeDerivation] {
        var pointers: [TypeDerivation] = []
        while isPunctuator(.star) {
            advance()
            var qualifiers = TypeQualifiers()
            while true {
                if isKeyword(.const) {
                    qualifiers.insert(.const)
                } else if isKeyword(.volatile) {
                    qualifiers.insert(.volatile)
                } else {
                    break
                }
                advance()
            }
            pointers.append(.pointer(qualifiers))
            if pointers.count > maxDepth { throw tooDeep(current.range.start) }
        }
        return pointers
    }

    /// `[N]`… as derivations innermost first: `[2][3]` is an array of 2
    /// arrays of 3, so `[3]` comes first.
    mutating func parseArrays() throws(ExpressionError) -> [TypeDerivation] {
        var counts: [UInt64?] = []
        while isPunctuator(.leftBracket) {
            advance()
            if isPunctuator(.rightBracket) {
                counts.append(nil)
            } else if case .integer(let literal) = current.kind {
                counts.append(literal.value)
                advance()
            } else {
                throw error(at: current, "array size must be an integer literal")
            }
            _ = try expect(.rightBracket, "expected ']' after array size")
            if counts.count > maxDepth { throw tooDeep(current.range.start) }
        }
        if isPunctuator(.leftParen) {
            throw error(at: current, ExpressionParser.functionTypeMessage)
        }
        return counts.reversed().map { TypeDerivation.array($0) }
    }
}

/// The arithmetic keywords of one type name, validated as they arrive.
struct SpecifierSet {
    private var counts: [Keyword: Int] = [:]
    private var order: [Keyword] = []

    var isEmpty: Bool { order.isEmpty }

    private func count(_ k: Keyword) -> Int { counts[k] ?? 0 }

    /// Adds a keyword; returns an error message if the combination is not C.
    mutating func add(_ keyword: Keyword) -> String? {
        if keyword == .long {
            if count(.long) == 2 { return "'long long long' is too long" }
        } else if count(keyword) > 0 {
            return "duplicate '\(keyword.rawValue)'"
        }
        counts[keyword, default: 0] += 1
        order.append(keyword)
        guard isValid else {
            let spelled = order.map(\.rawValue).joined(separator: " ")
            return "invalid combination of type specifiers '\(spelled)'"
        }
        return nil
    }

    /// Whether the keywords so far are a valid C combination (the valid
    /// sets are closed under taking subsets, so checking each prefix works).
    private var isValid: Bool {
        let signs = count(.signed) + count(.unsigned)
        if signs > 1 { return false }
        let longs = count(.long)
        let others: Set<Keyword> = Set(counts.keys).subtracting([.signed, .unsigned, .long, .int])
        if others.count > 1 { return false }
        switch others.first {
        case nil:
            return true // some of signed/unsigned, long, long long, int
        case .void?, .bool?, .float?:
            return signs == 0 && longs == 0 && count(.int) == 0
        case .double?:
            return signs == 0 && longs <= 1 && count(.int) == 0
        case .char?:
            return longs == 0 && count(.int) == 0
        case .short?:
            return longs == 0
        default:
            return false
        }
    }

    var primitive: PrimitiveType? {
        if isEmpty { return nil }
        let unsigned = count(.unsigned) > 0
        let longs = count(.long)
        if count(.void) > 0 { return .void }
        if count(.bool) > 0 { return .bool }
        if count(.float) > 0 { return .float }
        if count(.double) > 0 { return longs > 0 ? .longDouble : .double }
        if count(.char) > 0 { return unsigned ? .unsignedChar : count(.signed) > 0 ? .signedChar : .char }
        if count(.short) > 0 { return unsigned ? .unsignedShort : .short }
        if longs == 2 { return unsigned ? .unsignedLongLong : .longLong }
        if longs == 1 { return unsigned ? .unsignedLong : .long }
        return unsigned ? .unsignedInt : .int
    }
}
