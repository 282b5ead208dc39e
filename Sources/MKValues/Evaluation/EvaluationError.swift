/// An expression that parsed but cannot be evaluated; `range` points at
/// the sub-expression that failed, for a caret under the input.
public struct EvaluationError: Error, CustomStringConvertible {
    public var message: String
    public var range: SourceRange?
    /// Set when the failure is a name the kernel's symbols and debug info do not have.
    public var unknownSymbol: String?

    public init(_ message: String, at range: SourceRange? = nil, unknownSymbol: String? = nil) {
        self.message = message
        self.range = range
        self.unknownSymbol = unknownSymbol
    }

    public var description: String { message }

    /// The message, and under the input a caret line marking the failing part.
    public func render(input: String) -> String {
        guard let range else { return message }
        return message + "\n" + ExpressionError.render(input: input, column: range.start, length: max(1, range.end - range.start))
    }
}
