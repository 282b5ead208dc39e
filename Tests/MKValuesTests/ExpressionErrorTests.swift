import Foundation
import Testing
import MKValues

@Suite struct ErrorTests {
    private func expectError(_ input: String, column: Int, _ message: String,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        guard let e = failure(input) else {
            Issue.record("\"\(input)\" parsed but should fail", sourceLocation: sourceLocation)
            return
        }
        #expect(e.column == column, "\(e) for \"\(input)\"", sourceLocation: sourceLocation)
        #expect(e.message.contains(message), "\(e) for \"\(input)\"", sourceLocation: sourceLocation)
    }

    @Test func lexical() {
        expectError("\"abc", column: 0, "unterminated string literal")
        expectError("x + 'a", column: 4, "unterminated character literal")
        expectError("'\\", column: 0, "unterminated character literal")
        expectError("\"a\\qb\"", column: 2, "unknown escape sequence '\\q'")
        expectError("'\\x'", column: 1, "\\x used with no following hex digits")
        expectError("'\\x100'", column: 1, "hex escape sequence out of range")
        expectError("'\\777'", column: 1, "octal escape sequence out of range")
        expectError("''", column: 0, "empty character literal")
        expectError("'ab'", column: 0, "multi-character character literals are not supported")
        expectError("'\u{e9}'", column: 0, "non-ASCII character")
        expectError("18446744073709551616", column: 0, "too large")
        expectError("1 + 0x1ffffffffffffffff", column: 4, "too large")
        expectError("a ` b", column: 2, "unexpected character '`'")
        expectError("a @", column: 3, "expected an expression")
        expectError("a # b", column: 2, "unexpected character '#'")
        expectError("x \u{e9}", column: 2, "unexpected character '\u{e9}' (U+00E9)")
        expectError("a\u{1}", column: 1, "unexpected character U+0001")
        expectError("1.5", column: 0, "floating-point literals are not supported")
        expectError("x + .5", column: 4, "floating-point literals are not supported")
        expectError("1e5", column: 0, "floating-point literals are not supported")
        expectError("09", column: 1, "invalid digit '9' in octal literal")
        expectError("0b102", column: 4, "invalid digit '2' in binary literal")
        expectError("0x", column: 2, "expected hexadecimal digits after '0x'")
        expectError("12abc", column: 2, "invalid suffix 'abc' on integer literal")
        expectError("1lul", column: 1, "invalid suffix")
        expectError("1lL", column: 1, "invalid suffix")
        expectError("$1abc", column: 0, "invalid '$' reference '$1abc'")
        expectError("$$x", column: 0, "invalid '$' reference")
    }

    @Test func syntax() {
        expectError("", column: 0, "empty expression")
        expectError("   ", column: 0, "empty expression")
        expectError("a b", column: 2, "unexpected 'b' after the expression")
        expectError("a)", column: 1, "unbalanced ')'")
        expectError("(a", column: 2, "expected ')' to close '(' at column 1")
        expectError("1 +", column: 3, "expected an expression, found end of input")
        expectError("* )", column: 2, "expected an expression, found ')'")
        expectError("(struct task_struct *p", column: 21, "expected ')' after cast type")
        expectError("(int)", column: 5, "expected an expression")
        expectError("a[1", column: 3, "expected ']' after array index")
        expectError("p->", column: 3, "expected a member name after '->'")
        expectError("p.1", column: 1, "floating-point")
        expectError("a ? b", column: 5, "expected ':' in conditional expression")
        expectError("int", column: 0, "found the type keyword 'int'")
        expectError("a, b", column: 1, "the comma operator is not supported")
        expectError("sizeof", column: 6, "after 'sizeof'")
        expectError("sizeof(int", column: 10, "expected ')' after the type in sizeof")
        expectError("(struct) x", column: 7, "expected a tag name after 'struct'")
        expectError("(struct 3)x", column: 8, "expected a tag name after 'struct'")
        expectError("(const)x", column: 6, "expected a type name")
        expectError("(int [n])x", column: 6, "array size must be an integer literal")
        expectError("(int [4)x", column: 7, "expected ']' after array size")
    }

    @Test func unsupportedFeatures() {
        expectError("f(1)", column: 1, "function calls are not supported")
        expectError("p->ops->open(f)", column: 12, "function calls are not supported")
        expectError("a = 1", column: 2, "assignment is not supported: mkdbg does not write memory")
        expectError("a += 1", column: 2, "assignment is not supported")
        expectError("a <<= 1", column: 2, "assignment is not supported")
        expectError("a[i = 1]", column: 4, "assignment is not supported")
        expectError("(a = 1)", column: 3, "assignment is not supported")
        expectError("a ? b : c = d", column: 10, "assignment is not supported")
        expectError("x++", column: 1, "increment and decrement are not supported")
        expectError("--x", column: 0, "increment and decrement are not supported")
        expectError("(void (*)(int))p", column: 9, "function types are not supported")
        expectError("sizeof(int (int))", column: 11, "function types are not supported")
    }

    @Test func typeSpecifierErrors() {
        expectError("(unsigned float)x", column: 10, "invalid combination of type specifiers 'unsigned float'")
        expectError("(long long long)x", column: 11, "'long long long' is too long")
        expectError("(int int)x", column: 5, "duplicate 'int'")
        expectError("(signed unsigned)x", column: 8, "invalid combination")
        expectError("(short char)x", column: 7, "invalid combination")
        expectError("(long float)x", column: 6, "invalid combination")
        expectError("(int struct foo)x", column: 5, "'struct' cannot be combined")
        expectError("(struct foo int)x", column: 12, "'int' cannot be combined with 'struct foo'")
        expectError("(u8 long)x", column: 4, "'long' cannot be combined with 'u8'")
    }

    @Test func equalityStillWorks() throws {
        #expect(try shape("a == 1") == "(a == 1)")
        #expect(try shape("a != 1") == "(a != 1)")
        #expect(try shape("a <= 1 && b >= 2") == "((a <= 1) && (b >= 2))")
    }

    @Test func rendering() throws {
        let e = try #require(failure("(struct task_struct *p"))
        #expect(e.description == "syntax error at column 22: expected ')' after cast type")
        #expect(e.render(input: "(struct task_struct *p") == "(struct task_struct *p\n                     ^")
        let tab = try #require(failure("\tx +"))
        #expect(tab.render(input: "\tx +") == "\tx +\n\t   ^")
        let wide = try #require(failure("\"\u{e9}\" #"))
        #expect(wide.column == 5)
        #expect(wide.render(input: "\"\u{e9}\" #") == "\"\u{e9}\" #\n    ^")
        #expect(ExpressionError.render(input: "a + bogus", column: 4, length: 5) == "a + bogus\n    ^~~~~")
        #expect(ExpressionError.render(input: "ab", column: .max, length: .max) == "ab\n  ^")
        #expect(ExpressionError.render(input: "ab", column: -5, length: .max) == "ab\n^~")
        #expect(ExpressionError(column: .max, message: "m").description.hasSuffix(": m"))
    }
}

@Suite struct RobustnessTests {
    @Test func deepNesting() {
        // Within the length limit: the depth limit stops it.
        let limit = ExpressionParser.defaultMaxDepth
        let ok = String(repeating: "(", count: limit - 1) + "x" + String(repeating: ")", count: limit - 1)
        #expect(failure(ok) == nil)
        let tooDeep = String(repeating: "(", count: limit) + "x" + String(repeating: ")", count: limit)
        #expect(failure(tooDeep)?.message.contains("nested too deeply") == true)
        #expect(failure(tooDeep)?.column == limit - 1) // the "(" opening the level too many

        // 100k parentheses: over the default length limit ...
        let huge = String(repeating: "(", count: 100_000)
        #expect(failure(huge)?.message.contains("too long") == true)
        // ... and with the length limit lifted, still a clean depth error.
        let roomy = ExpressionParser(isTypeName: { typedefs.contains($0) }, maxInputLength: 1_000_000)
        for input in [huge, String(repeating: "- ", count: 100_000) + "x", String(repeating: "*", count: 100_000) + "p",
                      String(repeating: "(int)", count: 100_000) + "x", String(repeating: "sizeof ", count: 100_000) + "x",
                      String(repeating: "a ? b : ", count: 50_000) + "c", String(repeating: "a[", count: 50_000),
                      "x" + String(repeating: "[0]", count: 50_000), "p" + String(repeating: "->n", count: 50_000),
                      Array(repeating: "1", count: 50_000).joined(separator: " + "),
                      "(int " + String(repeating: "*", count: 100_000) + ")x",
                      "(int " + String(repeating: "[1]", count: 50_000) + ")x",
                      "(int " + String(repeating: "(", count: 100_000) + "*)x",
                      "offsetof(struct s, a" + String(repeating: "[a", count: 50_000)] {
            let e = failure(input, roomy)
            #expect(e?.message.contains("nested too deeply") == true, "\(String(describing: e))")
        }
        // Long chains are fine below the limit.
        #expect(failure(Array(repeating: "1", count: 200).joined(separator: " + ")) == nil)
        #expect(failure(String(repeating: "- ", count: 200) + "x") == nil)
    }

    /// The deepest accepted inputs, parsed, printed and compared on a thread
    /// with a small stack (macOS gives secondary threads 512 KiB): nothing in
    /// the parser or the tree's printing and equality recurses per level.
    @Test func deepestInputsOnASmallStack() {
        final class Outcome: @unchecked Sendable { var heights: [Int] = [] }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let limit = ExpressionParser.defaultMaxDepth
        let inputs = [
            String(repeating: "(", count: limit - 1) + "x" + String(repeating: ")", count: limit - 1),
            String(repeating: "a[", count: limit - 1) + "x" + String(repeating: "]", count: limit - 1),
            String(repeating: "- ", count: limit - 1) + "x",
            String(repeating: "(int)", count: limit - 2) + "x",
            String(repeating: "a ? b : ", count: limit - 1) + "x",
            String(repeating: "offsetof(struct s, a[", count: 100) + "x" + String(repeating: "])", count: 100),
            Array(repeating: "1", count: limit).joined(separator: " - "),
            "x" + String(repeating: "[0]", count: limit - 1),
        ]
        let thread = Thread {
            let p = ExpressionParser()
            for input in inputs {
                guard let tree = try? p.parse(input) else { continue }
                let reprinted = try? p.parse(tree.description)
                let twin = try? p.parse(input)
                if twin == tree, reprinted?.fullyParenthesized == tree.fullyParenthesized {
                    outcome.heights.append(tree.height)
                }
            }
            done.signal()
        }
        thread.stackSize = 128 * 1024
        thread.start()
        done.wait()
        #expect(outcome.heights == [1, 256, 256, 255, 256, 101, 256, 256])
    }

    @Test func equality() throws {
        let a = try parser.parse("container_of(p->x[1], struct s, m[i ? 1 : 2].n) + -(int)y")
        let b = try parser.parse("container_of(p->x[1], struct s, m[i ? 1 : 2].n) + -(int)y")
        let c = try parser.parse("container_of(p->x[1], struct s, m[i ? 1 : 3].n) + -(int)y")
        #expect(a == b)
        #expect(a != c)
        #expect(a.kind == b.kind)
        #expect(try parser.parse("a+b") != parser.parse("a + b")) // ranges differ
        #expect(try parser.parse("a+b").fullyParenthesized == parser.parse("a + b").fullyParenthesized)
    }

    @Test func everyPunctuatorLexes() throws {
        for p in Punctuator.allCases {
            let tokens = try Lexer().tokenize(" " + p.rawValue + " ")
            #expect(tokens == [Token(kind: .punctuator(p), range: SourceRange(start: 1, end: 1 + p.rawValue.utf8.count)),
                               Token(kind: .end, range: SourceRange(start: 2 + p.rawValue.utf8.count,
                                                                    end: 2 + p.rawValue.utf8.count))])
        }
        let kinds = try Lexer().tokenize("a<<=b>>=c->d").map(\.kind)
        #expect(kinds == [.identifier("a"), .punctuator(.shiftLeftAssign), .identifier("b"), .punctuator(.shiftRightAssign),
                          .identifier("c"), .punctuator(.arrow), .identifier("d"), .end])
        for k in Keyword.allCases {
            #expect(try Lexer().tokenize(k.rawValue).first?.kind == .keyword(k))
        }
        #expect(try Lexer().tokenize("structure").first?.kind == .identifier("structure"))
    }

    @Test func inputLengthLimit() {
        let p = ExpressionParser(maxInputLength: 10)
        #expect(failure("1234567890", p) == nil)
        let e = failure("12345678901", p)
        #expect(e?.message == "expression is too long (11 bytes; the limit is 10)")
        #expect(e?.column == 10)
    }

    /// SplitMix64: deterministic across runs and platforms.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Feeds one input; a success must print back to a tree of the same shape.
    private func check(_ input: String, _ successes: inout Int) {
        do {
            let tree = try parser.parse(input)
            successes += 1
            let again = try parser.parse(tree.description)
            #expect(again.fullyParenthesized == tree.fullyParenthesized, "round trip of \"\(input)\" via \"\(tree)\"")
        } catch {
            let length = input.utf8.count
            #expect(error.column >= 0 && error.column <= length, "\(error) for \"\(input)\"")
            #expect(!error.message.isEmpty)
            _ = error.render(input: input)
        }
        if let t = try? parser.parseType(input) {
            #expect((try? parser.parseType(t.description))?.description == t.description, "type \"\(t)\"")
        }
        if case .type(let t) = (try? parser.parseTypeOrExpression(input)) {
            #expect((try? parser.parseType(t.description))?.description == t.description, "type \"\(t)\"")
        }
    }

    @Test func randomBytes() {
        var random = Random(state: 0x6d6b_6462_67)
        var successes = 0
        let alphabet = Array("abcxyz_$019'\"\\()[]{}.,;:?!~%^&*-+=<>|/ \t\nuxlLbU@#".utf8)
        for round in 0..<3000 {
            let length = random.below(24)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                // Mostly expression-ish characters, sometimes any byte at all.
                bytes.append(round % 3 == 0 ? UInt8(truncatingIfNeeded: random.next())
                                            : alphabet[random.below(alphabet.count)])
            }
            check(String(decoding: bytes, as: UTF8.self), &successes)
        }
        #expect(successes > 0)
    }

    @Test func tokenSoup() {
        var random = Random(state: 42)
        var successes = 0
        let words = ["a", "p", "x", "u8", "T", "init_task", "0", "1", "0x10", "077", "0b1", "7ul", "'a'", "'\\n'",
                     "\"s\\t\"", "$", "$$", "$3", "$$2", "$rip", "(", "(", "(", ")", ")", ")", "[", "]", ".", "->",
                     "?", ":", "+", "-", "*", "/", "%", "<<", ">>", "<", "<=", ">", ">=", "==", "!=", "&", "^", "|",
                     "&&", "||", "!", "~", "sizeof", "struct", "union", "enum", "s", "const", "volatile",
                     "unsigned", "signed", "long", "int", "char", "short", "void", "double", "_Bool",
                     "offsetof", "container_of", ",", "=", "+=", "++", "comm", "[2]", "(int)", "(u8 *)",
                     "(struct s *)", "(char)", "(long (*)[2])", "sizeof(int)"]
        for _ in 0..<4000 {
            let count = 1 + random.below(14)
            let input = (0..<count).map { _ in words[random.below(words.count)] }
                .joined(separator: random.below(4) == 0 ? "" : " ")
            check(input, &successes)
        }
        #expect(successes > 50)
    }
}
