/// The DWARF attribute forms the scanner meets (DWARF 2–5 and GNU's), with
/// how many bytes each takes in `.debug_info`.
enum DwarfForm {
    static let addr: UInt16 = 0x01, block2: UInt16 = 0x03, block4: UInt16 = 0x04, data2: UInt16 = 0x05
    static let data4: UInt16 = 0x06, data8: UInt16 = 0x07, string: UInt16 = 0x08, block: UInt16 = 0x09
    static let block1: UInt16 = 0x0a, data1: UInt16 = 0x0b, flag: UInt16 = 0x0c, sdata: UInt16 = 0x0d
    static let strp: UInt16 = 0x0e, udata: UInt16 = 0x0f, refAddr: UInt16 = 0x10, ref1: UInt16 = 0x11
    static let ref2: UInt16 = 0x12, ref4: UInt16 = 0x13, ref8: UInt16 = 0x14, refUdata: UInt16 = 0x15
    static let indirect: UInt16 = 0x16, secOffset: UInt16 = 0x17, exprloc: UInt16 = 0x18
    static let flagPresent: UInt16 = 0x19, strx: UInt16 = 0x1a, addrx: UInt16 = 0x1b, refSup4: UInt16 = 0x1c
    static let strpSup: UInt16 = 0x1d, data16: UInt16 = 0x1e, lineStrp: UInt16 = 0x1f, refSig8: UInt16 = 0x20
    static let implicitConst: UInt16 = 0x21, loclistx: UInt16 = 0x22, rnglistx: UInt16 = 0x23
    static let refSup8: UInt16 = 0x24, strx1: UInt16 = 0x25, strx2: UInt16 = 0x26, strx3: UInt16 = 0x27
    static let strx4: UInt16 = 0x28, addrx1: UInt16 = 0x29, addrx2: UInt16 = 0x2a, addrx3: UInt16 = 0x2b
    static let addrx4: UInt16 = 0x2c
    static let gnuAddrIndex: UInt16 = 0x1f01, gnuStrIndex: UInt16 = 0x1f02
    static let gnuRefAlt: UInt16 = 0x1f20, gnuStrpAlt: UInt16 = 0x1f21

    /// Bytes a value of `form` always takes; nil when the size is in the
    /// data (LEB128, strings, blocks, indirect) or the form is unknown.
    static func fixedSize(_ form: UInt16, offsetSize: Int, addressSize: Int, version: Int) -> Int? {
        switch form {
        case flagPresent, implicitConst: return 0
        case data1, ref1, flag, strx1, addrx1: return 1
        case data2, ref2, strx2, addrx2: return 2
        case strx3, addrx3: return 3
        case data4, ref4, strx4, addrx4, refSup4: return 4
        case data8, ref8, refSig8, refSup8: return 8
        case data16: return 16
        case addr: return addressSize
        case refAddr: return version <= 2 ? addressSize : offsetSize
        case strp, lineStrp, secOffset, strpSup, gnuRefAlt, gnuStrpAlt: return offsetSize
        default: return nil
        }
    }

    /// Whether the scanner knows how to step over `form`.
    static func isKnown(_ form: UInt16) -> Bool {
        switch form {
        case udata, refUdata, strx, addrx, loclistx, rnglistx, gnuAddrIndex, gnuStrIndex, sdata, string,
             block1, block2, block4, block, exprloc, indirect:
            return true
        default:
            return fixedSize(form, offsetSize: 4, addressSize: 8, version: 5) != nil
        }
    }
}
