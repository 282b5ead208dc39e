/// One ELF note: name, type and descriptor bytes.
public struct ElfNote: Sendable, Equatable {
    public static let ntPrStatus: UInt32 = 1
    public static let ntPrPsInfo: UInt32 = 3
    public static let ntGnuBuildId: UInt32 = 3

    public var name: String
    public var type: UInt32
    public var descriptor: [UInt8]
    /// File offset of the note header, for messages.
    public var offset: UInt64

    public init(name: String, type: UInt32, descriptor: [UInt8], offset: UInt64) {
        self.name = name
        self.type = type
        self.descriptor = descriptor
        self.offset = offset
    }

    /// Parses a run of notes (a `PT_NOTE` segment or a kdump note block).
    /// Stops at a zero-filled tail; damage past a good note is an error
    /// that names where the bad note starts.
    public static func parse(_ bytes: [UInt8], file: String, base: UInt64) throws -> [ElfNote] {
        var notes: [ElfNote] = []
        let r = ByteReader(bytes, file: file, base: base)
        var at = 0
        while at + 12 <= bytes.count {
            let namesz = Int(try r.u32(at, "note name size"))
            let descsz = Int(try r.u32(at + 4, "note descriptor size"))
            let type = try r.u32(at + 8, "note type")
            if namesz == 0 && descsz == 0 && type == 0 { break }
            let nameStart = at + 12
            let namePadded = (namesz + 3) & ~3
            let descStart = nameStart + namePadded
            let descPadded = (descsz + 3) & ~3
            guard namesz <= bytes.count, descsz <= bytes.count,
                  descStart <= bytes.count, bytes.count - descStart >= descsz else {
                throw FormatError(.corrupt, file: file, offset: base + UInt64(at),
                                  "note claims name size \(namesz) and descriptor size \(descsz), past the end of the note segment (\(bytes.count) bytes)")
            }
            let name = String(decoding: bytes[nameStart..<(nameStart + namesz)].prefix { $0 != 0 }, as: UTF8.self)
            let desc = Array(bytes[descStart..<(descStart + descsz)])
            notes.append(ElfNote(name: name, type: type, descriptor: desc, offset: base + UInt64(at)))
            at = descStart + descPadded
        }
        return notes
    }
}
