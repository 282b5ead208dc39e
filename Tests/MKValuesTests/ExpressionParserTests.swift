import Foundation
import Testing
import MKValues

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
