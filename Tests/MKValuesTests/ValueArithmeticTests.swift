import Testing
import MKFormat
import MKDebugInfo
@testable import MKValues

/// Memory for values that never read it: every value here is computed.
private final class NoMemory: ValueMemory {
    func readVirtual(_ address: UInt64, count: Int) throws -> [UInt8] {
        throw ValueError.notAddressable("test memory at \(address)")
    }
}

private let char = CType.integer("char", size: 1, signed: true)
private let int = CType.integer("int", size: 4, signed: true)

@Suite struct CTypeSizeTests {
    @Test func arraySizesNeverWrap() {
        let huge = CType.array(of: char, count: UInt64.max)
        #expect(huge.byteSize == UInt64.max)
        #expect(!huge.sizeOverflows)
        let twice = CType.array(of: huge, count: 2)
        #expect(twice.byteSize == nil)
        #expect(twice.sizeOverflows)
        // Overflow deeper inside is still seen from outside.
        #expect(CType.array(of: twice, count: 1).sizeOverflows)
        let exact = CType.array(of: CType.array(of: char, count: 1 << 32), count: 1 << 31)
        #expect(exact.byteSize == 1 << 63)
        #expect(CType.array(of: CType.array(of: char, count: 1 << 32), count: 1 << 32).sizeOverflows)
        #expect(CType.array(of: int, count: nil).byteSize == nil)
        #expect(!CType.array(of: int, count: nil).sizeOverflows)
    }

    @Test func cyclicAnonymousMembersEnd() {
        let s = CType(kind: .structure, name: "loop", size: 8)
        s.members = [CType.Member(name: nil, type: s, offset: 0)]
        #expect(s.member(named: "x") == nil)
        #expect(s.memberNames.isEmpty)
    }
}

@Suite struct BitfieldTests {
    func field(_ bytes: [UInt8], bitOffset: UInt64, bitSize: UInt64, signed: Bool = false) -> Value {
        var v = Value(type: CType.integer(signed ? "long" : "unsigned long", size: 8, signed: signed), bytes: bytes)
        v.bitOffset = bitOffset
        v.bitSize = bitSize
        return v
    }

    @Test func extraction() throws {
        let memory = NoMemory()
        #expect(try field([0b1011_0000], bitOffset: 4, bitSize: 4).integerBits(memory) == 0b1011)
        #expect(try field([0b1011_0000], bitOffset: 4, bitSize: 4, signed: true).integerBits(memory) == UInt64(bitPattern: -5))
        // 64 bits starting at bit 4 straddle nine bytes.
        let nine: [UInt8] = [0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0e]
        #expect(try field(nine, bitOffset: 4, bitSize: 64).integerBits(memory) == 0xefff_ffff_ffff_ffff)
    }

    @Test func absurdWidthsAreErrors() {
        let memory = NoMemory()
        for (offset, size) in [(0, 0), (0, 65), (UInt64.max, 2), (100, 60)] as [(UInt64, UInt64)] {
            #expect(throws: ValueError.self) { try field([0, 0], bitOffset: offset, bitSize: size).integerBits(memory) }
        }
    }

    @Test func membersOfComputedValuesStayInside() throws {
        let s = CType(kind: .structure, name: "s", size: 4)
        let inside = CType.Member(name: "a", type: int, offset: 0)
        let outside = CType.Member(name: "b", type: int, offset: 2)
        let far = CType.Member(name: "c", type: int, offset: UInt64.max - 1)
        s.members = [inside, outside, far]
        let v = Value(type: s, bytes: [1, 0, 0, 0])
        #expect(try v.component(inside, offset: 0).integerBits(NoMemory()) == 1)
        #expect(throws: ValueError.self) { try v.component(outside, offset: 2) }
        #expect(throws: ValueError.self) { try v.component(far, offset: UInt64.max - 1) }
    }
}

@Suite struct FormatterLimitTests {
    func formatter(_ limits: PrintLimits = PrintLimits()) -> ValueFormatter {
        ValueFormatter(memory: NoMemory(), limits: limits, symbolize: { _ in nil })
    }

    func chars(_ bytes: [UInt8]) -> Value {
        Value(type: CType.array(of: char, count: UInt64(bytes.count)), bytes: bytes)
    }

    @Test func repeatsAsGdbCountsThem() throws {
        // gdb collapses runs longer than the threshold: 10 stays inline, 11 collapses.
        #expect(try formatter().top(chars(Array("ab".utf8) + [UInt8](repeating: 0, count: 11))) == "\"ab\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\"")
        #expect(try formatter().top(chars(Array("ab".utf8) + [UInt8](repeating: 0, count: 12))) == "\"ab\", '\\000' <repeats 11 times>")
        #expect(try formatter(PrintLimits(repeats: nil)).top(chars([UInt8](repeating: 0x61, count: 30))) == "\"" + String(repeating: "a", count: 30) + "\"")
        // A run counts in full against print elements, as in gdb.
        #expect(try formatter().top(chars([UInt8](repeating: 0, count: 4097))) == "'\\000' <repeats 4096 times>")
        #expect(try formatter(PrintLimits(elements: 3)).top(chars(Array("abcdef".utf8) + [0])) == "\"abc\"...")
    }

    @Test func arraysOfRuns() throws {
        let longs = CType.integer("long", size: 8, signed: true)
        let bytes = (0..<300).flatMap { i -> [UInt8] in [UInt8(i < 3 ? i : 7), 0, 0, 0, 0, 0, 0, 0] }
        let v = Value(type: CType.array(of: longs, count: 300), bytes: bytes)
        #expect(try formatter().top(v) == "{0, 1, 2, 7 <repeats 297 times>}")
        #expect(try formatter(PrintLimits(elements: 2)).top(v) == "{0, 1...}")
        #expect(try formatter(PrintLimits(repeats: nil)).top(v).hasSuffix(", 7, 7...}"))
    }

    @Test func nestedArraysStopAtTheOutputLimit() throws {
        // 2^40 leaves of char[2]: only the budget can end this.
        var t = CType.array(of: char, count: 2)
        for _ in 0..<39 { t = CType.array(of: t, count: 2) }
        let bytes = (0..<(1 << 16)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        // The value holds fewer bytes than its type: what is missing prints empty.
        let text = try formatter(PrintLimits(outputLimit: 10_000)).top(Value(type: t, bytes: bytes))
        #expect(text.utf8.count < 12_000)
        #expect(text.hasSuffix("\n<output truncated: the value's text is longer than 10000 characters (set print output-limit)>"))
    }
}

@Suite struct IntegerWidthTests {
    @Test func widths() {
        #expect(IntegerWidth(int).mask == 0xffff_ffff)
        #expect(IntegerWidth(int).minimum == Int64(Int32.min))
        #expect(IntegerWidth(int).extend(0x8000_0000) == Int64(Int32.min))
        // Corrupt sizes clamp instead of trapping.
        #expect(IntegerWidth(CType.integer("zero", size: 0, signed: true)).bits == 8)
        #expect(IntegerWidth(CType.integer("wide", size: 1 << 62, signed: false)).mask == .max)
    }
}
