import Foundation
import Testing
import MKValues

/// Typedef names the tests' type oracle knows.
private let typedefs: Set<String> = ["u8", "u16", "u32", "u64", "s8", "s64", "pid_t", "size_t", "T"]
private let parser = ExpressionParser(isTypeName: { typedefs.contains($0) })

/// The tree's shape, fully parenthesised.
private func shape(_ input: String) throws -> String {
    try parser.parse(input).fullyParenthesized
}

/// The canonical C text with minimal parentheses.
private func canonical(_ input: String) throws -> String {
    try parser.parse(input).description
}

/// The error a parse fails with, or nil.
private func failure(_ input: String, _ p: ExpressionParser = parser) -> ExpressionError? {
    do {
        _ = try p.parse(input)
        return nil
    } catch {
        return error
    }
}

private func literal(_ input: String) throws -> IntegerLiteral? {
    if case .integer(let l) = try parser.parse(input).kind { return l }
    return nil
}

private func bytes(_ input: String) throws -> [UInt8]? {
    switch try parser.parse(input).kind {
    case .string(let b): return b
    case .character(let c): return [c]
    default: return nil
    }
}

@Suite struct PrecedenceTests {
    @Test func leftAssociativity() throws {
        #expect(try shape("a - b - c") == "((a - b) - c)")
        #expect(try shape("a / b * c % d") == "(((a / b) * c) % d)")
        #expect(try shape("a << b >> c") == "((a << b) >> c)")
        #expect(try shape("a == b != c") == "((a == b) != c)")
    }

    @Test func levels() throws {
        #expect(try shape("1 + 2 * 3 << 1") == "((1 + (2 * 3)) << 1)")
        #expect(try shape("a && b || c") == "((a && b) || c)")
        #expect(try shape("a || b && c") == "(a || (b && c))")
        #expect(try shape("a | b ^ c & d") == "(a | (b ^ (c & d)))")
        #expect(try shape("a & b == c") == "(a & (b == c))")
        #expect(try shape("a < b == c > d") == "((a < b) == (c > d))")
        #expect(try shape("a <= b + 1") == "(a <= (b + 1))")
        #expect(try shape("x >= 1 << 4") == "(x >= (1 << 4))")
        #expect(try shape("a * (b + c)") == "(a * (b + c))")
    }

    @Test func unaryAndPostfix() throws {
        #expect(try shape("-*p") == "(-(*p))")
        #expect(try shape("*p->q[2].r") == "(*(((p->q)[2]).r))")
        #expect(try shape("&init_task.comm[0]") == "(&((init_task.comm)[0]))")
        #expect(try shape("!~x") == "(!(~x))")
        #expect(try shape("-a * b") == "((-a) * b)")
    }

    @Test func canonicalPrinting() throws {
        #expect(try canonical("a - b - c") == "a - b - c")
        #expect(try canonical("a - (b - c)") == "a - (b - c)")
        #expect(try canonical("((a)) * (b + c)") == "a * (b + c)")
        #expect(try canonical("*p->q[2].r") == "*p->q[2].r")
        #expect(try canonical("(*p).q") == "(*p).q")
        #expect(try canonical("- -x") == "- -x")
        #expect(try canonical("-(-1)") == "- -1")
        #expect(try canonical("&(&x)") == "& &x")
        #expect(try canonical("a?b:c?d:e") == "a ? b : c ? d : e")
        #expect(try canonical("(a?b:c)?d:e") == "(a ? b : c) ? d : e")
        #expect(try canonical("sizeof((int)x)") == "sizeof ((int)x)")
        #expect(try canonical("((T)p)->x") == "((T)p)->x")
        #expect(try canonical("(1).x") == "(1).x")
    }

    @Test func ternary() throws {
        #expect(try shape("a ? b : c") == "(a ? b : c)")
        #expect(try shape("a ? b : c ? d : e") == "(a ? b : (c ? d : e))")
        #expect(try shape("a || b ? c + 1 : d") == "((a || b) ? (c + 1) : d)")
        #expect(try shape("a ? b ? c : d : e") == "(a ? (b ? c : d) : e)")
    }

    @Test func ranges() throws {
        let e = try parser.parse("a + (b * c)")
        #expect(e.range == SourceRange(start: 0, end: 11))
        guard case .binary(.add, let a, let product) = e.kind else {
            Issue.record("not an addition: \(e)")
            return
        }
        #expect(a.range == SourceRange(start: 0, end: 1))
        #expect(product.range == SourceRange(start: 4, end: 11)) // includes the parentheses
        guard case .binary(.multiply, let b, let c) = product.kind else {
            Issue.record("not a product")
            return
        }
        #expect(b.range == SourceRange(start: 5, end: 6))
        #expect(c.range == SourceRange(start: 9, end: 10))

        let m = try parser.parse("p->comm")
        guard case .arrow(let base, let name, let nameRange) = m.kind else {
            Issue.record("not ->")
            return
        }
        #expect(base.range == SourceRange(start: 0, end: 1))
        #expect(name == "comm")
        #expect(nameRange == SourceRange(start: 3, end: 7))
        #expect(m.range == SourceRange(start: 0, end: 7))
    }
}

@Suite struct CastTests {
    @Test func oracleDecidesCasts() throws {
        #expect(try shape("(x)*y") == "(x * y)")
        #expect(try shape("(u8)*y") == "((u8)(*y))")
        #expect(try shape("(x)-1") == "(x - 1)")
        #expect(try shape("(pid_t)-1") == "((pid_t)(-1))")
        #expect(try shape("(x)") == "x")
    }

    @Test func keywordCasts() throws {
        #expect(try shape("(struct task_struct *)0xffff888000000000") == "((struct task_struct *)0xffff888000000000)")
        #expect(try shape("(unsigned long)(char)-1") == "((unsigned long)((char)(-1)))")
        #expect(try canonical("(unsigned long)(char)-1") == "(unsigned long)(char)-1")
        #expect(try shape("(char *)p + 1") == "(((char *)p) + 1)")
        #expect(try shape("(struct list_head *)p->next") == "((struct list_head *)(p->next))")
        #expect(try shape("((struct list_head *)p)->next") == "(((struct list_head *)p)->next)")
        #expect(try shape("(const volatile u32 *)addr") == "((const volatile u32 *)addr)")
    }

    @Test func castNode() throws {
        let e = try parser.parse("(struct task_struct *)0xffff888000000000")
        guard case .cast(let type, let operand) = e.kind else {
            Issue.record("not a cast")
            return
        }
        #expect(type.base == .structure("task_struct"))
        #expect(type.derivations == [.pointer([])])
        #expect(type.range == SourceRange(start: 1, end: 21))
        #expect(type.baseRange == SourceRange(start: 1, end: 19))
        #expect(operand.kind == .integer(IntegerLiteral(value: 0xffff_8880_0000_0000, radix: .hexadecimal)))
        #expect(e.range == SourceRange(start: 0, end: 40))
    }

    @Test func sizeofForms() throws {
        #expect(try shape("sizeof(struct list_head)") == "(sizeof(struct list_head))")
        #expect(try shape("sizeof x") == "(sizeof x)")
        #expect(try shape("sizeof(x)") == "(sizeof x)")
        #expect(try shape("sizeof(u64)") == "(sizeof(u64))")
        #expect(try shape("sizeof *p") == "(sizeof (*p))")
        #expect(try shape("sizeof x + 1") == "((sizeof x) + 1)")
        #expect(try shape("sizeof(int) * 2") == "((sizeof(int)) * 2)")
        #expect(try shape("sizeof p->comm") == "(sizeof (p->comm))")
        #expect(try shape("sizeof -1") == "(sizeof (-1))")
        #expect(try shape("sizeof(char [16])") == "(sizeof(char [16]))")
        let e = try parser.parse("sizeof(struct list_head)")
        #expect(e.kind == .sizeofType(TypeName(base: .structure("list_head"),
                                               range: SourceRange(start: 7, end: 23))))
    }
}

@Suite struct BuiltinTests {
    @Test func offsetof() throws {
        let e = try parser.parse("offsetof(struct task_struct, se.vruntime)")
        guard case .offsetof(let type, let path) = e.kind else {
            Issue.record("not offsetof")
            return
        }
        #expect(type.description == "struct task_struct")
        #expect(path.components == [.field("se", range: SourceRange(start: 29, end: 31)),
                                    .field("vruntime", range: SourceRange(start: 32, end: 40))])
        #expect(path.range == SourceRange(start: 29, end: 40))
        #expect(e.description == "offsetof(struct task_struct, se.vruntime)")
        #expect(try canonical("offsetof(struct foo, member.path[3].x)") == "offsetof(struct foo, member.path[3].x)")
        // Any identifier is a type name here, even one the oracle does not know.
        #expect(try canonical("offsetof(unknown_t, a[i + 1])") == "offsetof(unknown_t, a[i + 1])")
    }

    @Test func containerOf() throws {
        let e = try parser.parse("container_of(p, struct task_struct, tasks)")
        guard case .containerOf(let pointer, let type, let path) = e.kind else {
            Issue.record("not container_of")
            return
        }
        #expect(pointer.kind == .identifier("p"))
        #expect(type.description == "struct task_struct")
        #expect(path.description == "tasks")
        #expect(try shape("container_of(p->next, struct foo, a.b[1])->x")
            == "((container_of((p->next), struct foo, a.b[1]))->x)")
        #expect(try canonical("container_of(head.next, struct page, lru)->flags")
            == "container_of(head.next, struct page, lru)->flags")
    }

    @Test func plainIdentifiersNamedLikeBuiltins() throws {
        #expect(try parser.parse("offsetof").kind == .identifier("offsetof"))
        #expect(try shape("container_of + 1") == "(container_of + 1)")
    }
}

@Suite struct LiteralTests {
    @Test func integerBases() throws {
        #expect(try literal("42") == IntegerLiteral(value: 42))
        #expect(try literal("0x2A") == IntegerLiteral(value: 42, radix: .hexadecimal))
        #expect(try literal("052") == IntegerLiteral(value: 42, radix: .octal))
        #expect(try literal("0b101010") == IntegerLiteral(value: 42, radix: .binary))
        #expect(try literal("0") == IntegerLiteral(value: 0))
        #expect(try literal("0xffffffffffffffff") == IntegerLiteral(value: .max, radix: .hexadecimal))
        #expect(try literal("18446744073709551615") == IntegerLiteral(value: .max))
        #expect(try literal("01777777777777777777777") == IntegerLiteral(value: .max, radix: .octal))
    }

    @Test func integerSuffixes() throws {
        #expect(try literal("1u") == IntegerLiteral(value: 1, isUnsigned: true))
        #expect(try literal("1U") == IntegerLiteral(value: 1, isUnsigned: true))
        #expect(try literal("1l") == IntegerLiteral(value: 1, length: .long))
        #expect(try literal("1L")?.isLong == true)
        #expect(try literal("1ll") == IntegerLiteral(value: 1, length: .longLong))
        #expect(try literal("1LL") == IntegerLiteral(value: 1, length: .longLong))
        #expect(try literal("1ul") == IntegerLiteral(value: 1, isUnsigned: true, length: .long))
        #expect(try literal("1LU") == IntegerLiteral(value: 1, isUnsigned: true, length: .long))
        #expect(try literal("0xffULL") == IntegerLiteral(value: 255, radix: .hexadecimal, isUnsigned: true, length: .longLong))
        #expect(try literal("7llu") == IntegerLiteral(value: 7, isUnsigned: true, length: .longLong))
        #expect(try canonical("0XFFLLU") == "0xffull")
        #expect(try canonical("0b11uL") == "0b11ul")
        #expect(try canonical("0777") == "0777")
    }

    @Test func characters() throws {
        #expect(try parser.parse("'a'").kind == .character(0x61))
        #expect(try parser.parse("'\\n'").kind == .character(0x0A))
        #expect(try parser.parse("'\\0'").kind == .character(0))
        #expect(try parser.parse("'\\x41'").kind == .character(0x41))
        #expect(try parser.parse("'\\101'").kind == .character(0x41))
        #expect(try parser.parse("'\\xff'").kind == .character(0xFF))
        #expect(try parser.parse("'\\''").kind == .character(0x27))
        #expect(try parser.parse("'\"'").kind == .character(0x22))
        #expect(try parser.parse("'\\\\'").kind == .character(0x5C))
        #expect(try parser.parse("'\\e'").kind == .character(0x1B))
        #expect(try canonical("'\\x41'") == "'A'")
        #expect(try canonical("'\\0'") == "'\\0'")
        #expect(try canonical("'\\''") == "'\\''")
        #expect(try canonical("'\\xff'") == "'\\377'")
        #expect(try shape("c == 'x'") == "(c == 'x')")
    }

    @Test func strings() throws {
        #expect(try bytes("\"swapper/0\"") == Array("swapper/0".utf8))
        #expect(try bytes("\"a\\tb\\n\"") == [0x61, 0x09, 0x62, 0x0A])
        #expect(try bytes("\"\\x41\\102\\0\\\"\"") == [0x41, 0x42, 0x00, 0x22])
        #expect(try bytes("\"\"") == [])
        #expect(try bytes("\"caf\u{e9}\"") == Array("caf\u{e9}".utf8))
        #expect(try bytes("\"ab\" \"cd\"") == Array("abcd".utf8))
        #expect(try parser.parse("\"ab\" \"cd\"").range == SourceRange(start: 0, end: 9))
        #expect(try canonical("\"a\\tb\\001c\\0\\\"'\"") == "\"a\\tb\\001c\\0\\\"'\"")
        #expect(try canonical("\"\\0\" \"1\"") == "\"\\0001\"")
    }

    @Test func dollarReferences() throws {
        #expect(try parser.parse("$").kind == .history(.relative(0)))
        #expect(try parser.parse("$$").kind == .history(.relative(1)))
        #expect(try parser.parse("$$2").kind == .history(.relative(2)))
        #expect(try parser.parse("$5").kind == .history(.absolute(5)))
        #expect(try parser.parse("$rip").kind == .convenienceVariable("rip"))
        #expect(try parser.parse("$_siginfo").kind == .convenienceVariable("_siginfo"))
        #expect(try shape("$1->next") == "($1->next)")
        #expect(try shape("$$ + $") == "($$ + $)")
        #expect(try shape("$rsp + 8") == "($rsp + 8)")
        #expect(try canonical("$$0") == "$")
        #expect(try canonical("$$1") == "$$")
        #expect(try canonical("$$7") == "$$7")
    }
}

@Suite struct TypeNameTests {
    private func type(_ input: String) throws -> String {
        try parser.parseType(input).description
    }

    @Test func baseTypeCombinations() throws {
        #expect(try type("unsigned long long") == "unsigned long long")
        #expect(try type("long unsigned int") == "unsigned long")
        #expect(try type("long long int") == "long long")
        #expect(try type("int long long unsigned") == "unsigned long long")
        #expect(try type("signed char") == "signed char")
        #expect(try type("char") == "char")
        #expect(try type("unsigned char") == "unsigned char")
        #expect(try type("short") == "short")
        #expect(try type("short int") == "short")
        #expect(try type("unsigned short int") == "unsigned short")
        #expect(try type("signed") == "int")
        #expect(try type("unsigned") == "unsigned int")
        #expect(try type("signed long") == "long")
        #expect(try type("_Bool") == "_Bool")
        #expect(try type("void") == "void")
        #expect(try type("float") == "float")
        #expect(try type("double") == "double")
        #expect(try type("long double") == "long double")
        #expect(try type("double long") == "long double")
        #expect(try parser.parseType("long unsigned int").base == .primitive(.unsignedLong))
    }

    @Test func taggedAndTypedefs() throws {
        #expect(try parser.parseType("struct task_struct").base == .structure("task_struct"))
        #expect(try parser.parseType("union bpf_attr").base == .union("bpf_attr"))
        #expect(try parser.parseType("enum pid_type").base == .enumeration("pid_type"))
        #expect(try parser.parseType("u64").base == .typedef("u64"))
        #expect(try type("const struct cred *") == "const struct cred *")
    }

    @Test func qualifiersAndDeclarators() throws {
        #expect(try type("char const *const") == "const char *const")
        #expect(try type("const char * volatile *") == "const char *volatile *")
        #expect(try type("unsigned const long") == "const unsigned long")
        #expect(try type("char **") == "char **")
        #expect(try type("char [16]") == "char [16]")
        #expect(try type("int *[3]") == "int *[3]")
        #expect(try type("int (*)[3]") == "int (*)[3]")
        #expect(try type("int [2][3]") == "int [2][3]")
        #expect(try type("int (*[4])[2]") == "int (*[4])[2]")
        #expect(try type("int []") == "int []")
        let t = try parser.parseType("const char *const [2]")
        #expect(t.qualifiers == .const)
        #expect(t.derivations == [.pointer(.const), .array(2)])
        #expect(try parser.parseType("int (*)[3]").derivations == [.array(3), .pointer([])])
        #expect(try parser.parseType("int [2][3]").derivations == [.array(3), .array(2)])
    }

    @Test func typeOrExpression() throws {
        func classify(_ s: String) throws -> String {
            switch try parser.parseTypeOrExpression(s) {
            case .type(let t): return "type " + t.description
            case .expression(let e): return "expression " + e.description
            }
        }
        #expect(try classify("struct task_struct") == "type struct task_struct")
        #expect(try classify("struct task_struct *") == "type struct task_struct *")
        #expect(try classify("unsigned long") == "type unsigned long")
        #expect(try classify("u8 *[4]") == "type u8 *[4]")
        #expect(try classify("u8") == "type u8")
        #expect(try classify("const int") == "type const int")
        #expect(try classify("init_task") == "expression init_task")
        #expect(try classify("init_task.comm") == "expression init_task.comm")
        #expect(try classify("u8 * 2") == "expression u8 * 2")
        #expect(try classify("*p") == "expression *p")
        #expect(try classify("(struct task_struct *)p") == "expression (struct task_struct *)p")
        #expect(try classify("sizeof(int)") == "expression sizeof(int)")
        let e = try #require(throws: ExpressionError.self) { try parser.parseTypeOrExpression("struct task_struct x") }
        #expect(e.column == 19)
    }
}

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
