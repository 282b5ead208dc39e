/// The parts of an ELF64 file header and program headers a core reader uses.
public struct ElfHeader: Sendable {
    public static let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]
    public static let etCore: UInt16 = 4
    public static let emX86_64: UInt16 = 62
    public static let emAarch64: UInt16 = 183
    static let size = 64
    static let phdrSize = 56

    public var type: UInt16
    public var machine: UInt16
    public var programHeaderOffset: UInt64
    public var programHeaderCount: Int
    public var sectionHeaderOffset: UInt64

    /// Reads and validates the header: ELF64, little-endian, with program
    /// headers that lie inside the file.
    public init(source: FileSource) throws {
        let file = source.path
        guard source.size >= UInt64(Self.size) else {
            if source.size == 0 {
                throw FormatError(.truncated, file: file, "empty file, expected a memory image (ELF core or kdump)")
            }
            throw FormatError(.truncated, file: file, offset: 0,
                              "file is \(source.size) bytes, too short for an ELF64 header (64 bytes)")
        }
        let bytes = try source.read(at: 0, count: Self.size)
        guard Array(bytes[0..<4]) == Self.magic else {
            throw FormatError(.badMagic, file: file, offset: 0, "expected ELF magic 7f 45 4c 46")
        }
        guard bytes[4] == 2 else {
            throw FormatError(.unsupported, file: file, offset: 4, "ELF class \(bytes[4]): only ELF64 cores are supported")
        }
        guard bytes[5] == 1 else {
            throw FormatError(.unsupported, file: file, offset: 5, "ELF data encoding \(bytes[5]): only little-endian is supported")
        }
        let r = ByteReader(bytes, file: file)
        type = try r.u16(16)
        machine = try r.u16(18)
        programHeaderOffset = try r.u64(32)
        sectionHeaderOffset = try r.u64(40)
        let phentsize = Int(try r.u16(54))
        var phnum = Int(try r.u16(56))
        if phnum == 0xffff {
            // PN_XNUM: the real count is in section header 0's sh_info.
            let sh = try source.read(at: sectionHeaderOffset, count: 64, expecting: "section header 0 (for PN_XNUM)")
            phnum = Int(try ByteReader(sh, file: file, base: sectionHeaderOffset).u32(44))
        }
        programHeaderCount = phnum
        if phnum > 0 && phentsize != Self.phdrSize {
            throw FormatError(.corrupt, file: file, offset: 54, "program header size \(phentsize), expected \(Self.phdrSize)")
        }
        let tableSize = UInt64(phnum) * UInt64(Self.phdrSize)
        guard let end = checkedAdd(programHeaderOffset, tableSize), end <= source.size else {
            throw FormatError(.truncated, file: file, offset: programHeaderOffset,
                              "\(phnum) program headers expected here run past the end of the file (\(source.size) bytes)")
        }
    }
}

/// One program header.
public struct ProgramHeader: Sendable, Equatable {
    public static let ptLoad: UInt32 = 1
    public static let ptNote: UInt32 = 4

    public var index: Int
    public var type: UInt32
    public var flags: UInt32
    public var offset: UInt64
    public var virtualAddress: UInt64
    public var physicalAddress: UInt64
    public var fileSize: UInt64
    public var memorySize: UInt64

    static func readAll(_ header: ElfHeader, source: FileSource) throws -> [ProgramHeader] {
        let count = header.programHeaderCount
        let bytes = try source.read(at: header.programHeaderOffset, count: count * ElfHeader.phdrSize)
        let r = ByteReader(bytes, file: source.path, base: header.programHeaderOffset)
        var result: [ProgramHeader] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            let b = i * ElfHeader.phdrSize
            result.append(ProgramHeader(
                index: i,
                type: try r.u32(b), flags: try r.u32(b + 4), offset: try r.u64(b + 8),
                virtualAddress: try r.u64(b + 16), physicalAddress: try r.u64(b + 24),
                fileSize: try r.u64(b + 32), memorySize: try r.u64(b + 40)))
        }
        return result
    }
}
