import Foundation
import Testing
import MKValues

// Shared by the expression parser suites.

/// Typedef names the tests' type oracle knows.
let typedefs: Set<String> = ["u8", "u16", "u32", "u64", "s8", "s64", "pid_t", "size_t", "T"]
let parser = ExpressionParser(isTypeName: { typedefs.contains($0) })

/// The tree's shape, fully parenthesised.
func shape(_ input: String) throws -> String {
    try parser.parse(input).fullyParenthesized
}

/// The canonical C text with minimal parentheses.
func canonical(_ input: String) throws -> String {
    try parser.parse(input).description
}

/// The error a parse fails with, or nil.
func failure(_ input: String, _ p: ExpressionParser = parser) -> ExpressionError? {
    do {
        _ = try p.parse(input)
        return nil
    } catch {
        return error
    }
}

func literal(_ input: String) throws -> IntegerLiteral? {
    if case .integer(let l) = try parser.parse(input).kind { return l }
    return nil
}

func bytes(_ input: String) throws -> [UInt8]? {
    switch try parser.parse(input).kind {
    case .string(let b): return b
    case .character(let c): return [c]
    default: return nil
    }
}
