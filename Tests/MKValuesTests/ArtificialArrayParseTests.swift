import Testing
@testable import MKValues


/// gdb's `@` (c-exp.y): left-associative, looser than `+` and `-`, tighter than shifts.
@Suite struct ArtificialArrayParseTests {
    @Test func precedenceAsGdbs() throws {
        #expect(try shape("a[1]@2+1") == "((a[1]) @ (2 + 1))")
        #expect(try shape("a@2<<1") == "((a @ 2) << 1)")
        #expect(try shape("a@2@3") == "((a @ 2) @ 3)")
        #expect(try shape("*p@n*2") == "((*p) @ (n * 2))")
        #expect(try canonical("(a@2)+1") == "(a @ 2) + 1")
        #expect(try canonical("a @ (b << 1)") == "a @ (b << 1)")
    }
}
