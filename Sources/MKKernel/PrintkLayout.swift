import MKFormat
import MKDebugInfo

/// Where the printk ring buffer keeps each field, from the kernel's DWARF
/// (never hard-coded): `struct prb_desc`, `struct printk_info`,
/// `struct prb_data_block`, and the `enum desc_state` / `enum
/// printk_info_flags` values.
struct PrintkLayout {
    /// A field inside a fixed-size element, bitfields included.
    typealias Field = MemberLayout

    // struct prb_desc
    var descSize: Int
    var stateVar: Field
    var blockBegin: Field
    var blockNext: Field
    // struct printk_info
    var infoSize: Int
    var seq: Field
    var timestamp: Field
    var textLength: Field
    var facility: Field
    var flags: Field
    var level: Field
    var callerId: Field?
    var subsystem: Field?
    var device: Field?
    // struct prb_data_block: the id that prefixes each text block, then the text
    var blockIdSize: Int
    var blockDataOffset: Int
    // enum desc_state
    var reserved: UInt64
    var committed: UInt64
    var finalized: UInt64
    var reusable: UInt64
    // enum printk_info_flags
    var logCont: UInt64

    init(kernel: Kernel) throws {
        let desc = try kernel.type("struct prb_desc")
        let info = try kernel.type("struct printk_info")
        let block = try kernel.type("struct prb_data_block")
        descSize = try Self.size(of: desc)
        stateVar = try Self.field(desc, "state_var")
        blockBegin = try Self.field(desc, "text_blk_lpos.begin")
        blockNext = try Self.field(desc, "text_blk_lpos.next")
        infoSize = try Self.size(of: info)
        seq = try Self.field(info, "seq")
        timestamp = try Self.field(info, "ts_nsec")
        textLength = try Self.field(info, "text_len")
        facility = try Self.field(info, "facility")
        flags = try Self.field(info, "flags")
        level = try Self.field(info, "level")
        callerId = try? Self.field(info, "caller_id")
        subsystem = try? Self.field(info, "dev_info.subsystem")
        device = try? Self.field(info, "dev_info.device")
        let id = try Self.field(block, "id")
        blockIdSize = id.size
        guard let (data, dataOffset) = block.member(named: "data"), data.bitSize == nil else {
            throw KernelError.missingMember("struct prb_data_block", "data")
        }
        blockDataOffset = Int(dataOffset)
        guard stateVar.size == 8 || stateVar.size == 4, blockBegin.size == stateVar.size, blockNext.size == stateVar.size,
              blockIdSize == stateVar.size, blockDataOffset >= blockIdSize else {
            throw KernelError.unsupportedLayout(what: "struct printk_ringbuffer", message: "unsupported printk ring buffer layout: state_var is \(stateVar.size) bytes, "
                                          + "lpos \(blockBegin.size)/\(blockNext.size), block id \(blockIdSize) at data \(blockDataOffset)")
        }
        func enumerator(_ name: String) throws -> UInt64 {
            guard let e = kernel.types.enumerator(name) else { throw KernelError.missingSymbol(name) }
            return UInt64(bitPattern: e.value)
        }
        reserved = try enumerator("desc_reserved")
        committed = try enumerator("desc_committed")
        finalized = try enumerator("desc_finalized")
        reusable = try enumerator("desc_reusable")
        logCont = try enumerator("LOG_CONT")
    }

    static func size(of t: CType) throws -> Int {
        guard let s = t.byteSize, s > 0, s < 1 << 16 else {
            throw KernelError.unsupportedLayout(what: TypeFormatter.name(of: t), message: "\(TypeFormatter.name(of: t)) has no usable size")
        }
        return Int(s)
    }

    /// A member path's place in `t`: byte offset, size, and bit position for bitfields.
    static func field(_ t: CType, _ path: String) throws -> Field {
        let (offset, type, member): (UInt64, CType, CType.Member?)
        do {
            (offset, type, member) = try t.memberPath(path)
        } catch let MemberPathError.missingMember(t, m) {
            throw KernelError.missingMember(t, m)
        }
        guard member != nil, let size = type.byteSize, size > 0, size <= 1 << 12, offset < 1 << 20 else {
            throw KernelError.unsupportedLayout(what: "\(TypeFormatter.name(of: t)).\(path)", message: "\(TypeFormatter.name(of: t)).\(path) has no usable size")
        }
        return Field(path: path, offset: offset, type: type, member: member)
    }
}

extension MemberLayout {
    /// The field's bits in `bytes[base...]`; 0 when out of range.
    func load(_ bytes: UnsafeRawBufferPointer, base: Int) -> UInt64 { bits(in: bytes, base: base) ?? 0 }

    /// A char array field as text, up to its first NUL; empty when out of range.
    func string(_ bytes: UnsafeRawBufferPointer, base: Int) -> String { string(in: bytes, base: base) ?? "" }
}
