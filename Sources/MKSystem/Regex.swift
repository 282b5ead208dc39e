#if canImport(Glibc)
import Glibc
#endif

/// A POSIX extended regular expression (the C library's `regcomp`), matched
/// against whole strings for a yes or no: the one place the `reg*` calls are.
/// A pattern that does not compile says why and at which column: the first
/// where a prefix of the pattern stops compiling.
public final class Regex {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let pattern: String
        /// 0-based, in characters of the pattern.
        public let column: Int
        public let reason: String
        public var description: String { "invalid regular expression \"\(pattern)\" at column \(column + 1): \(reason)" }
    }

    /// Longer patterns are refused (each column may be compiled once to find an error).
    public static let maxLength = 1024
    private var compiled = regex_t()
    /// regfree only what regcomp built (a failed regcomp leaves nothing to free).
    private var built = false
    public let pattern: String

    public init(_ pattern: String) throws {
        self.pattern = pattern
        guard pattern.utf8.count <= Self.maxLength else {
            throw Problem(pattern: pattern, column: Self.maxLength, reason: "longer than \(Self.maxLength) bytes")
        }
        guard !pattern.utf8.contains(0) else {
            throw Problem(pattern: pattern, column: pattern.prefix { $0 != "\0" }.count, reason: "holds a NUL character")
        }
        let code = regcomp(&compiled, pattern, REG_EXTENDED | REG_NOSUB)
        guard code == 0 else {
            let reason = Self.message(code, &compiled)
            throw Problem(pattern: pattern, column: Self.firstFailingColumn(pattern), reason: reason)
        }
        built = true
    }

    deinit { if built { regfree(&compiled) } }

    /// Whether the pattern matches anywhere in `text`.
    public func matches(_ text: String) -> Bool {
        regexec(&compiled, text, 0, nil, 0) == 0
    }

    private static func message(_ code: Int32, _ r: inout regex_t) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = regerror(code, &r, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The column of the character whose prefix first fails to compile
    /// (`(` of an unclosed group, `[` of an unclosed bracket).
    private static func firstFailingColumn(_ pattern: String) -> Int {
        let characters = Array(pattern)
        for n in 1...max(1, characters.count) where n <= characters.count {
            var r = regex_t()
            let code = regcomp(&r, String(characters[0..<n]), REG_EXTENDED | REG_NOSUB)
            if code == 0 { regfree(&r); continue }
            return n - 1
        }
        return max(0, characters.count - 1)
    }
}
