import Testing
import MKDebugInfo

/// `MemberLayout` loads: plain and signed integers, bitfields inside their
/// bytes, strings, and layouts that point outside the bytes or make no
/// sense (nil, never a trap).
@Suite struct MemberLayoutTests {
    // 0: u16 0xfffe, 2: s16 -2, 4: bitfields (sp_reg:4 = 0x5, bp_reg:4 = 0xa), 5: 3 bits = 0b101 then "hi\0x"
    let bytes: [UInt8] = [0xfe, 0xff, 0xfe, 0xff, 0xa5, 0x05, 0x68, 0x69, 0x00, 0x78]

    func load(_ m: MemberLayout, base: Int = 0) -> (bits: UInt64?, value: UInt64?) {
        bytes.withUnsafeBytes { (m.bits(in: $0, base: base), m.value(in: $0, base: base)) }
    }

    @Test func integers() {
        let u = MemberLayout(path: "u", offset: 0, size: 2)
        #expect(load(u).value == 0xfffe)
        let s = MemberLayout(path: "s", offset: 2, size: 2, isSigned: true)
        #expect(load(s).bits == 0xfffe)
        #expect(load(s).value.map { Int64(bitPattern: $0) } == -2)
        // The struct starting at byte 2: its u16 at 0 is the same bytes.
        #expect(load(u, base: 2).value == 0xfffe)
    }

    @Test func bitfields() {
        let low = MemberLayout(path: "sp_reg", offset: 4, size: 4, bitOffset: 0, bitSize: 4)
        let high = MemberLayout(path: "bp_reg", offset: 4, size: 4, bitOffset: 4, bitSize: 4)
        #expect(load(low).value == 0x5 && load(high).value == 0xa)
        // A bitfield loads only the bytes its bits touch: a 4-byte unit at 8 still reads.
        let late = MemberLayout(path: "b", offset: 8, size: 4, bitOffset: 0, bitSize: 3)
        #expect(load(late).value == 0)
        let signed = MemberLayout(path: "t", offset: 5, size: 1, bitOffset: 0, bitSize: 3, isSigned: true)
        #expect(load(signed).bits == 0b101)
        #expect(load(signed).value.map { Int64(bitPattern: $0) } == -3)
        #expect(OrcFormat.field("end", bit: 42, width: 1) == MemberLayout(path: "end", offset: 5, size: 1, bitOffset: 2, bitSize: 1))
        #expect(OrcFormat.field("x", bit: 42, width: 1).firstBit == 42)
    }

    @Test func strings() {
        let s = MemberLayout(path: "comm", offset: 6, size: 4)
        #expect(bytes.withUnsafeBytes { s.string(in: $0, base: 0) } == "hi")
        #expect(bytes.withUnsafeBytes { s.string(in: $0, base: 1) } == nil)
    }

    @Test func outsideOrNonsenseIsNil() {
        for m in [MemberLayout(path: "past", offset: 9, size: 2),
                  MemberLayout(path: "negative", offset: -1, size: 1),
                  MemberLayout(path: "huge", offset: Int.max, size: 8),
                  MemberLayout(path: "bits past the unit", offset: 0, size: 1, bitOffset: 6, bitSize: 60),
                  MemberLayout(path: "negative bits", offset: 0, size: 1, bitOffset: -3, bitSize: 2),
                  MemberLayout(path: "no bits", offset: 0, size: 1, bitOffset: 0, bitSize: 0)] {
            #expect(load(m).bits == nil, "\(m.path)")
            #expect(load(m, base: Int.max).bits == nil, "\(m.path) at base Int.max")
        }
        #expect(bytes.withUnsafeBytes { MemberLayout(path: "s", offset: Int.max, size: 4).string(in: $0, base: 1) } == nil)
    }
}
