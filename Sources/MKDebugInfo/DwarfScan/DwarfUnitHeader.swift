/// One unit's header in `.debug_info` (DWARF 2–5, 32- and 64-bit).
struct DwarfUnitHeader {
    /// Offset of the header; unit-relative references count from here.
    var start: Int
    /// Offset just past the unit.
    var end: Int
    /// Offset of the unit's root DIE.
    var dieStart: Int
    var version: Int
    var offsetSize: Int
    var addressSize: Int
    var abbrevOffset: Int

    static let compile: UInt8 = 1, partial: UInt8 = 3

    /// Every unit header of `.debug_info`, in file order. Only compile and
    /// partial units are accepted: the scanner leaves other layouts to libdw.
    static func all(_ info: UnsafeRawBufferPointer) throws -> [DwarfUnitHeader] {
        var c = DwarfCursor(info, section: ".debug_info")
        var units: [DwarfUnitHeader] = []
        while c.remaining > 0 {
            let start = c.at
            var length = try c.fixed(4)
            var offsetSize = 4
            if length == 0xffff_ffff {
                length = try c.fixed(8)
                offsetSize = 8
            } else if length >= 0xffff_fff0 {
                throw c.fail("reserved unit length 0x\(String(length, radix: 16))", at: start)
            }
            let bodyStart = c.at
            guard length <= UInt64(c.remaining) else { throw c.fail("unit length \(length) runs past the section", at: start) }
            let end = bodyStart + Int(length)
            let version = Int(try c.fixed(2))
            guard (2...5).contains(version) else { throw c.fail("DWARF version \(version)", at: start) }
            let abbrevOffset: UInt64
            let addressSize: Int
            if version >= 5 {
                let type = try c.u8()
                guard type == compile || type == partial else { throw c.fail("unit type \(type)", at: start) }
                addressSize = Int(try c.u8())
                abbrevOffset = try c.fixed(offsetSize)
            } else {
                abbrevOffset = try c.fixed(offsetSize)
                addressSize = Int(try c.u8())
            }
            guard addressSize == 4 || addressSize == 8 else { throw c.fail("address size \(addressSize)", at: start) }
            guard abbrevOffset < UInt64(Int.max), c.at <= end else { throw c.fail("unit header runs past its unit", at: start) }
            units.append(DwarfUnitHeader(start: start, end: end, dieStart: c.at, version: version, offsetSize: offsetSize,
                                         addressSize: addressSize, abbrevOffset: Int(abbrevOffset)))
            c.at = end
        }
        return units
    }
}
