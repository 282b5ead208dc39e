/// The two headers at the start of a kdump-compressed dump (makedumpfile's
/// `disk_dump_header` in block 0 and `kdump_sub_header` in block 1), x86-64
/// layout, little-endian.
///
/// `disk_dump_header`:
///
///     0    signature[8]        "KDUMP   "
///     8    header_version i32
///     12   new_utsname         6 fields x 65 bytes (sysname, nodename,
///                              release, version, machine, domainname)
///     402  (padding to 8)
///     408  timeval             tv_sec i64, tv_usec i64
///     424  status u32          DUMP_DH_COMPRESSED_* and incomplete flags
///     428  block_size i32      bytes per block (= page size)
///     432  sub_hdr_size i32    sub-header size in blocks
///     436  bitmap_blocks u32   both bitmaps together, in blocks
///     440  max_mapnr u32       32-bit copy; the sub-header has the full one
///     444  total_ram_blocks, device_blocks, written_blocks, current_cpu u32
///     460  nr_cpus i32
///     464  tasks[] (end of the fixed part)
///
/// `kdump_sub_header` (at block 1); which fields exist depends on
/// `header_version`:
///
///     0    phys_base u64                    all versions
///     8    dump_level i32                   >= 1
///     12   split i32                        >= 2
///     16   start_pfn u64, 24 end_pfn u64    >= 2
///     32   offset_vmcoreinfo, 40 size       >= 3
///     48   offset_note, 56 size_note        >= 4
///     64   offset_eraseinfo, 72 size        >= 5
///     80   start_pfn_64, 88 end_pfn_64,
///     96   max_mapnr_64                     >= 6
public struct KdumpHeader: Sendable {
    public static let signature = "KDUMP   "
    /// Bytes of `disk_dump_header` before its variable `tasks[]` tail.
    public static let fixedSize = 464
    /// Bytes of the largest `kdump_sub_header` known (version 6).
    public static let subHeaderSize = 104
    /// Block sizes accepted: a power of two in this range.
    public static let blockSizeRange = 512...(1 << 20)

    /// `status` flags.
    public static let statusIncomplete: UInt32 = 0x8
    public static let statusExcludedVmemmap: UInt32 = 0x10

    // disk_dump_header
    public let headerVersion: Int32
    public let sysname: String
    public let nodename: String
    /// `uname -r` of the dumped kernel.
    public let release: String
    public let version: String
    public let machine: String
    public let domainname: String
    public let timestampSeconds: Int64
    public let timestampMicroseconds: Int64
    public let status: UInt32
    public let blockSize: Int
    /// Size of the sub-header area in blocks (the bitmaps follow it).
    public let subHeaderBlocks: Int
    /// Blocks of both bitmaps together; each bitmap is half of them.
    public let bitmapBlocks: UInt32
    /// The 32-bit `max_mapnr` of the main header (saturated or truncated
    /// on large machines; `maxMapnr` prefers the sub-header's 64-bit one).
    public let maxMapnr32: UInt32
    public let totalRamBlocks: UInt32
    public let deviceBlocks: UInt32
    public let writtenBlocks: UInt32
    public let currentCPU: UInt32
    public let nrCPUs: Int32

    // kdump_sub_header
    /// `phys_base` as the dump writer saw it. Not trustworthy: QEMU fills it
    /// from its own guess, which is often wrong; VMCOREINFO's
    /// `NUMBER(phys_base)` is the kernel's own value.
    public let physBase: UInt64
    public let dumpLevel: Int32?
    public let split: Int32?
    public let startPfn: UInt64?
    public let endPfn: UInt64?
    public let offsetVmcoreinfo: UInt64?
    public let sizeVmcoreinfo: UInt64?
    public let offsetNote: UInt64?
    public let sizeNote: UInt64?
    public let offsetEraseinfo: UInt64?
    public let sizeEraseinfo: UInt64?
    public let maxMapnr64: UInt64?

    /// Number of page frames the dumped machine had: the sub-header's 64-bit
    /// value when the header version carries it, else the 32-bit one.
    public var maxMapnr: UInt64 { maxMapnr64 ?? UInt64(maxMapnr32) }

    /// True when this file is one part of a `makedumpfile --split` dump.
    public var isSplit: Bool { (split ?? 0) != 0 }

    public var isIncomplete: Bool { status & Self.statusIncomplete != 0 }

    /// File offset of the first bitmap: blocks 0 (header) and the sub-header
    /// blocks come before it.
    public var bitmapOffset: UInt64 { UInt64(1 + subHeaderBlocks) * UInt64(blockSize) }
    /// Bytes of one bitmap (half of `bitmap_blocks`).
    public var bitmapLength: UInt64 { UInt64(bitmapBlocks / 2) * UInt64(blockSize) }
    /// File offset of the page descriptor table.
    public var descriptorOffset: UInt64 {
        UInt64(1 + subHeaderBlocks) * UInt64(blockSize) + UInt64(bitmapBlocks) * UInt64(blockSize)
    }

    public init(source: FileSource) throws {
        try self.init(reading: source)
    }

    init(reading source: KdumpByteSource) throws {
        let path = source.path
        guard source.size >= UInt64(Self.fixedSize) else {
            throw FormatError(.truncated, file: path, offset: 0,
                              "expected a kdump header (\(Self.fixedSize) bytes) but the dump is only \(source.size) bytes")
        }
        let bytes = try source.bytes(at: 0, count: Self.fixedSize, expecting: "the kdump header")
        let r = ByteReader(bytes, file: path)
        guard bytes.starts(with: Array(Self.signature.utf8)) else {
            throw FormatError(.badMagic, file: path, offset: 0, "expected the kdump signature \"KDUMP   \"")
        }
        headerVersion = Int32(bitPattern: try r.u32(8, "header_version"))
        let uts = 12
        sysname = try r.cString(uts, maxLength: 65, "utsname.sysname")
        nodename = try r.cString(uts + 65, maxLength: 65, "utsname.nodename")
        release = try r.cString(uts + 130, maxLength: 65, "utsname.release")
        version = try r.cString(uts + 195, maxLength: 65, "utsname.version")
        machine = try r.cString(uts + 260, maxLength: 65, "utsname.machine")
        domainname = try r.cString(uts + 325, maxLength: 65, "utsname.domainname")
        timestampSeconds = try r.i64(408, "timestamp.tv_sec")
        timestampMicroseconds = try r.i64(416, "timestamp.tv_usec")
        status = try r.u32(424, "status")
        let rawBlockSize = Int32(bitPattern: try r.u32(428, "block_size"))
        let rawSubHeader = Int32(bitPattern: try r.u32(432, "sub_hdr_size"))
        bitmapBlocks = try r.u32(436, "bitmap_blocks")
        maxMapnr32 = try r.u32(440, "max_mapnr")
        totalRamBlocks = try r.u32(444, "total_ram_blocks")
        deviceBlocks = try r.u32(448, "device_blocks")
        writtenBlocks = try r.u32(452, "written_blocks")
        currentCPU = try r.u32(456, "current_cpu")
        nrCPUs = Int32(bitPattern: try r.u32(460, "nr_cpus"))

        guard headerVersion >= 0 else {
            throw FormatError(.corrupt, file: path, offset: 8, "kdump header_version \(headerVersion) is negative")
        }
        let bs = Int(rawBlockSize)
        guard Self.blockSizeRange.contains(bs), bs & (bs - 1) == 0 else {
            throw FormatError(.corrupt, file: path, offset: 428,
                              "kdump block_size \(rawBlockSize) is not a power of two between \(Self.blockSizeRange.lowerBound) and \(Self.blockSizeRange.upperBound)")
        }
        blockSize = bs
        // The bitmaps start after 1 + sub_hdr_size blocks; keep that offset
        // far from overflow (2^31 blocks of at most 1 MiB fit in 2^51).
        guard rawSubHeader >= 0 else {
            throw FormatError(.corrupt, file: path, offset: 432, "kdump sub_hdr_size \(rawSubHeader) is negative")
        }
        subHeaderBlocks = Int(rawSubHeader)
        guard bitmapBlocks > 0 else {
            throw FormatError(.corrupt, file: path, offset: 436, "kdump bitmap_blocks is 0: the dump has no page bitmaps")
        }

        // Sub-header: block 1, as many fields as the version defines.
        let v = headerVersion
        let needed = v >= 6 ? 104 : v >= 5 ? 80 : v >= 4 ? 64 : v >= 3 ? 48 : v >= 2 ? 32 : v >= 1 ? 12 : 8
        let subOffset = UInt64(bs)
        guard let subEnd = checkedAdd(subOffset, UInt64(needed)), subEnd <= source.size else {
            throw FormatError(.truncated, file: path, offset: subOffset,
                              "expected the kdump sub-header (\(needed) bytes for header version \(v)) but the dump is only \(source.size) bytes")
        }
        let sub = ByteReader(try source.bytes(at: subOffset, count: needed, expecting: "the kdump sub-header"),
                             file: path, base: subOffset)
        physBase = try sub.u64(0, "phys_base")
        dumpLevel = try v >= 1 ? Int32(bitPattern: sub.u32(8, "dump_level")) : nil
        split = try v >= 2 ? Int32(bitPattern: sub.u32(12, "split")) : nil
        let start32 = try v >= 2 ? sub.u64(16, "start_pfn") : nil
        let end32 = try v >= 2 ? sub.u64(24, "end_pfn") : nil
        offsetVmcoreinfo = try v >= 3 ? sub.u64(32, "offset_vmcoreinfo") : nil
        sizeVmcoreinfo = try v >= 3 ? sub.u64(40, "size_vmcoreinfo") : nil
        offsetNote = try v >= 4 ? sub.u64(48, "offset_note") : nil
        sizeNote = try v >= 4 ? sub.u64(56, "size_note") : nil
        offsetEraseinfo = try v >= 5 ? sub.u64(64, "offset_eraseinfo") : nil
        sizeEraseinfo = try v >= 5 ? sub.u64(72, "size_eraseinfo") : nil
        if v >= 6 {
            startPfn = try sub.u64(80, "start_pfn_64")
            endPfn = try sub.u64(88, "end_pfn_64")
            maxMapnr64 = try sub.u64(96, "max_mapnr_64")
        } else {
            startPfn = start32
            endPfn = end32
            maxMapnr64 = nil
        }
    }
}
