import MKDebugInfo

/// The width arithmetic on an integer type happens in: its size clamped to
/// 1...8 bytes (wider kernel types such as __int128 compute in their low 64
/// bits; a size of 0 from corrupt DWARF counts as 1), its mask and sign.
struct IntegerWidth {
    let bytes: UInt64
    let signed: Bool

    init(_ t: CType) {
        let r = t.resolved
        bytes = min(max(r.byteSize ?? 8, 1), 8)
        signed = r.isSigned
    }

    var bits: UInt64 { bytes * 8 }
    var mask: UInt64 { bytes >= 8 ? .max : (1 << bits) - 1 }
    var minimum: Int64 { bytes >= 8 ? .min : -(1 << Int64(bits - 1)) }

    /// The value's low `bits`, sign-extended when the type is signed.
    func extend(_ v: UInt64) -> Int64 {
        let m = v & mask
        if signed && bytes < 8 && m & (1 << (bits - 1)) != 0 { return Int64(bitPattern: m | ~mask) }
        return Int64(bitPattern: m)
    }
}
