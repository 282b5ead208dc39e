/// Where one member of a C struct sits: its byte offset from the start of
/// the struct, its size (of the storage unit, for a bitfield), the bit
/// position inside that unit and the width for a bitfield, and whether it
/// is signed. The one description of "a member at an offset with a size"
/// every reader of kernel structs uses (`Field`, the printk ring, ORC
/// entries, ring messages); found by `CType.memberLayout(_:)` or written
/// down by hand for a layout DWARF does not carry.
public struct MemberLayout: Equatable, Sendable {
    /// The dotted member path (`text_blk_lpos.begin`), or the field's name.
    public var path: String
    public var offset: Int
    public var size: Int
    /// Bitfields: bit offset from `offset * 8`, and the width.
    public var bitOffset: Int?
    public var bitSize: Int?
    public var isSigned: Bool

    public init(path: String, offset: Int, size: Int, bitOffset: Int? = nil, bitSize: Int? = nil, isSigned: Bool = false) {
        self.path = path
        self.offset = offset
        self.size = size
        self.bitOffset = bitOffset
        self.bitSize = bitSize
        self.isSigned = isSigned
    }

    public var end: Int { offset + size }
    public var isBitfield: Bool { bitSize != nil }
    /// First bit and width, counted from the struct's first byte.
    public var firstBit: Int { offset &* 8 &+ (bitOffset ?? 0) }
    public var bitWidth: Int { bitSize ?? size &* 8 }

    /// Bytes a load reads from `offset`: the storage unit, or just the
    /// bytes a bitfield's bits touch.
    /// (A wider member loads its first 8 bytes.)
    var loadSpan: Int { bitSize.map { ((bitOffset ?? 0) &+ $0 &+ 7) / 8 } ?? min(size, 8) }

    /// The member's bits, zero-extended, from the struct at `base` in
    /// `bytes` (little-endian); nil when they are not all inside `bytes` or
    /// the member is wider than 8 bytes.
    public func bits(in bytes: UnsafeRawBufferPointer, base: Int) -> UInt64? {
        let span = loadSpan
        let (start, overflow) = base.addingReportingOverflow(offset)
        guard span > 0, span <= 8, !overflow, start >= 0, start <= bytes.count - span else { return nil }
        if let bits = bitSize {
            // A bitfield's bits lie inside the bytes loaded.
            let at = bitOffset ?? 0
            guard at >= 0, bits > 0, at + bits <= span * 8 else { return nil }
        }
        var v: UInt64 = 0
        for i in stride(from: span - 1, through: 0, by: -1) { v = (v << 8) | UInt64(bytes[start + i]) }
        if let bits = bitSize {
            v >>= UInt64(bitOffset ?? 0)
            if bits < 64 { v &= (1 << UInt64(bits)) - 1 }
        }
        return v
    }

    /// The member's value as a 64-bit pattern: `bits`, sign-extended from
    /// its width when the member is signed.
    public func value(in bytes: UnsafeRawBufferPointer, base: Int) -> UInt64? {
        guard let v = bits(in: bytes, base: base) else { return nil }
        let width = min(bitWidth, 64)
        guard isSigned, width > 0, width < 64, v & (1 << UInt64(width - 1)) != 0 else { return v }
        return v | ~((1 << UInt64(width)) - 1)
    }

    /// A char array member as text, up to its first NUL.
    public func string(in bytes: UnsafeRawBufferPointer, base: Int) -> String? {
        let (start, overflow) = base.addingReportingOverflow(offset)
        guard size >= 0, !overflow, start >= 0, start <= bytes.count - size else { return nil }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + size)])
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// A member path that does not lead to a member.
public enum MemberPathError: Error, CustomStringConvertible, Equatable {
    /// The type (by name) has no member of that name.
    case missingMember(type: String, member: String)

    public var description: String {
        switch self {
        case let .missingMember(t, m): return "\(t) has no member \(m) in this kernel"
        }
    }
}

extension CType {
    /// Follows a dotted member path (`"se.vruntime"`, through anonymous
    /// structs and unions): the path's total byte offset, the last
    /// member's type, and the last member. The one member-path walk.
    public func memberPath(_ path: String) throws -> (offset: UInt64, type: CType, member: Member?) {
        var t = self
        var total: UInt64 = 0
        var last: Member?
        for part in path.split(separator: ".") {
            guard let (m, off) = t.member(named: String(part)) else {
                throw MemberPathError.missingMember(type: TypeFormatter.name(of: t), member: String(part))
            }
            total &+= off
            t = m.type
            last = m
        }
        return (total, t, last)
    }
}

extension MemberLayout {
    /// The layout a member-path walk found (`CType.memberPath`), once the
    /// caller has checked that `offset` and the type's size are in range.
    public init(path: String, offset: UInt64, type: CType, member: CType.Member?) {
        self.init(path: path, offset: Int(truncatingIfNeeded: offset), size: Int(truncatingIfNeeded: type.byteSize ?? 0),
                  bitOffset: member?.bitOffset.map { Int(truncatingIfNeeded: $0) },
                  bitSize: member?.bitSize.map { Int(truncatingIfNeeded: $0) }, isSigned: type.resolved.isSigned)
    }
}
