/// The flattened device tree header, checked against the blob before libfdt
/// sees it: libfdt trusts fields it does not check (a version 9 header with
/// last_comp_version 0 passes `fdt_check_header` and then makes
/// `fdt_check_full` read address 0).
struct FdtHeader {
    static let magic: UInt32 = 0xd00d_feed
    /// Version 17 added size_dt_struct, the last field here.
    static let size = 40
    static let version = 17

    var totalSize: Int
    var structOffset: Int
    var stringsOffset: Int
    var reserveMapOffset: Int
    var version: Int
    var lastCompatibleVersion: Int
    var stringsSize: Int
    var structSize: Int

    /// Every header error says what the existing libfdt errors say first.
    static func invalid(_ kind: FormatError.Kind, file: String, offset: UInt64, _ message: String) -> FormatError {
        FormatError(kind, file: file, offset: offset, "not a valid device tree blob: " + message)
    }

    init(_ blob: [UInt8], source: String) throws {
        let r = ByteReader(blob, file: source, littleEndian: false)
        guard blob.count >= Self.size else {
            throw Self.invalid(.truncated, file: source, offset: 0,
                              "expected a device tree header (\(Self.size) bytes) but the file has \(blob.count)")
        }
        let magic = try r.u32(0, "the FDT magic")
        guard magic == Self.magic else {
            throw Self.invalid(.badMagic, file: source, offset: 0,
                              "expected the device tree magic \(hex(Self.magic)), found \(hex(magic))")
        }
        func field(_ at: Int, _ name: String) throws -> Int { Int(try r.u32(at, name)) }
        totalSize = try field(4, "totalsize")
        structOffset = try field(8, "off_dt_struct")
        stringsOffset = try field(12, "off_dt_strings")
        reserveMapOffset = try field(16, "off_mem_rsvmap")
        version = try field(20, "version")
        lastCompatibleVersion = try field(24, "last_comp_version")
        stringsSize = try field(32, "size_dt_strings")
        structSize = try field(36, "size_dt_struct")

        func bad(_ at: UInt64, _ message: String) -> FormatError {
            Self.invalid(.corrupt, file: source, offset: at, message)
        }
        guard version >= Self.version else {
            throw Self.invalid(.unsupported, file: source, offset: 20,
                              "expected device tree version \(Self.version) or later, found \(version)")
        }
        guard lastCompatibleVersion <= Self.version, lastCompatibleVersion <= version else {
            throw Self.invalid(.unsupported, file: source, offset: 24,
                              "expected last_comp_version at most \(min(version, Self.version)), found \(lastCompatibleVersion)")
        }
        guard totalSize >= Self.size, totalSize <= blob.count else {
            throw Self.invalid(totalSize > blob.count ? .truncated : .corrupt, file: source, offset: 4,
                              "expected totalsize between \(Self.size) and the blob's \(blob.count) bytes, found \(totalSize)")
        }
        // Each block lies after the header and inside totalsize (Int is 64-bit: no u32 sum overflows).
        func block(_ at: UInt64, _ name: String, offset: Int, size: Int, alignment: Int) throws {
            guard offset % alignment == 0 else {
                throw bad(at, "expected \(name) to be \(alignment)-byte aligned, found \(hex(offset))")
            }
            guard offset >= Self.size, offset + size <= totalSize else {
                throw bad(at, "expected \(name) (\(hex(offset)), \(size) bytes) between the header's end \(hex(Self.size)) and totalsize \(hex(totalSize))")
            }
        }
        try block(8, "the structure block", offset: structOffset, size: structSize, alignment: 4)
        try block(12, "the strings block", offset: stringsOffset, size: stringsSize, alignment: 1)
        // At least the map's terminating entry (16 bytes) must fit.
        try block(16, "the memory reservation map", offset: reserveMapOffset, size: 16, alignment: 8)
        guard structSize >= 4, structSize % 4 == 0 else {
            throw bad(36, "expected size_dt_struct to be a non-zero multiple of 4 (whole tags), found \(structSize)")
        }
        // The reservation map ends with a zero-size entry before totalsize.
        var entry = reserveMapOffset
        while true {
            guard entry + 16 <= totalSize else {
                throw bad(UInt64(reserveMapOffset), "expected the memory reservation map to end with a zero entry before totalsize \(hex(totalSize))")
            }
            if try r.u64(entry + 8, "a memory reservation size") == 0 { break }
            entry += 16
        }
    }
}
