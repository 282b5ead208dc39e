import MKDebugInfo

/// The DWARF index scanner over hostile sections. Input: little-endian u32
/// lengths of .debug_abbrev and .debug_str, those bytes, then .debug_info.
struct DwarfScanFuzz: FuzzTarget {
    static let name = "dwarf"

    func run(_ data: [UInt8]) {
        guard data.count >= 8 else { return }
        func u32(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 | Int(data[at + 2]) << 16 | Int(data[at + 3]) << 24 }
        let a = u32(0), s = u32(4)
        guard a <= data.count - 8, s <= data.count - 8 - a else { return }
        let abbrev = Array(data[8..<(8 + a)])
        let str = Array(data[(8 + a)..<(8 + a + s)])
        let info = Array(data[(8 + a + s)...])
        _ = try? DwarfIndexScan.nameCount(info: info, abbrev: abbrev, str: str)
    }
}
