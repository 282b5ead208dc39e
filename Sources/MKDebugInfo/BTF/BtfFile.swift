import MKFormat

/// A parsed BTF blob (the kernel's `.BTF` section, or a module's split BTF
/// on top of it): the header checked, every type record located and
/// bounds-checked once, names read from the string table on demand.
/// Type ids start at 1; 0 is `void`. A split file's ids continue its
/// base's and its name offsets continue the base's string table.
public final class BtfFile {
    struct Record {
        var kind: BtfKind
        var nameOffset: UInt32
        var vlen: Int
        var kindFlag: Bool
        /// `size` for INT, STRUCT, UNION, ENUM, DATASEC, FLOAT; the referenced type id otherwise.
        var sizeOrType: UInt32
        /// Offset of the kind-specific data in `bytes`.
        var payload: Int
    }

    public let source: String
    let bytes: [UInt8]
    let base: BtfFile?
    var records: [Record] = []
    private var stringsStart = 0
    private var stringsEnd = 0

    static let magic: UInt16 = 0xEB9F
    /// More types than a kernel has (6.12's vmlinux: ~150,000).
    static let maxTypes = 4_000_000

    public var typeCount: Int { records.count }
    /// The first id of this file's types (1, or after the base's).
    var firstId: Int { (base.map { $0.firstId + $0.records.count }) ?? 1 }

    public init(bytes: [UInt8], source: String, base: BtfFile? = nil) throws {
        self.source = source
        self.bytes = bytes
        self.base = base
        let r = ByteReader(bytes, file: source)
        func bad(_ offset: Int, _ detail: String) -> BtfError { .malformed(source: source, offset: offset, detail: detail) }
        func header(_ offset: Int, _ what: String) throws -> UInt32 {
            do { return try r.u32(offset, what) } catch { throw bad(offset, "expected \(what) but the data ends") }
        }
        guard bytes.count >= 24 else { throw bad(0, "\(bytes.count) bytes, expected a 24-byte header at least") }
        let magic = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        guard magic == Self.magic else {
            throw bad(0, "magic 0x\(String(magic, radix: 16)), expected 0xeb9f (little-endian BTF)")
        }
        guard bytes[2] == 1 else { throw bad(2, "version \(bytes[2]), expected 1") }
        let headerLength = Int(try header(4, "the header length"))
        let typeOffset = Int(try header(8, "the type section's offset"))
        let typeLength = Int(try header(12, "the type section's length"))
        let stringOffset = Int(try header(16, "the string section's offset"))
        let stringLength = Int(try header(20, "the string section's length"))
        guard headerLength >= 24, headerLength <= bytes.count else {
            throw bad(4, "header length \(headerLength), expected 24 to \(bytes.count)")
        }
        func section(_ offset: Int, _ length: Int, _ what: String) throws -> Range<Int> {
            let (start, o1) = headerLength.addingReportingOverflow(offset)
            let (end, o2) = start.addingReportingOverflow(length)
            guard !o1, !o2, end <= bytes.count else {
                throw bad(headerLength, "the \(what) (\(length) bytes at \(offset) past the header) runs past the data's \(bytes.count) bytes")
            }
            return start..<end
        }
        let types = try section(typeOffset, typeLength, "type section")
        let strings = try section(stringOffset, stringLength, "string section")
        stringsStart = strings.lowerBound
        stringsEnd = strings.upperBound
        extent = max(types.upperBound, strings.upperBound)
        if base == nil, stringLength > 0, bytes[strings.lowerBound] != 0 {
            throw bad(strings.lowerBound, "the string section does not start with an empty string")
        }
        // Every name then ends inside the section.
        if stringLength > 0, bytes[strings.upperBound - 1] != 0 {
            throw bad(strings.upperBound - 1, "the string section does not end with a NUL")
        }

        var at = types.lowerBound
        while at < types.upperBound {
            guard records.count < Self.maxTypes else { throw bad(at, "more than \(Self.maxTypes) types") }
            guard types.upperBound - at >= 12 else { throw bad(at, "a type record's 12-byte header runs past the type section") }
            let nameOffset = try header(at, "a type's name offset")
            let info = try header(at + 4, "a type's info word")
            let sizeOrType = try header(at + 8, "a type's size or type")
            let kindNumber = UInt8(truncatingIfNeeded: info >> 24) & 0x1f
            guard let kind = BtfKind(rawValue: kindNumber), kind != .void else {
                throw bad(at, "type \(firstId + records.count) has kind \(kindNumber), expected 1 to 19")
            }
            let vlen = Int(info & 0xffff)
            let payload = at + 12
            let size = kind.payloadSize(vlen: vlen)
            guard types.upperBound - payload >= size else {
                throw bad(at, "type \(firstId + records.count)'s \(size) bytes of members run past the type section")
            }
            records.append(Record(kind: kind, nameOffset: nameOffset, vlen: vlen, kindFlag: info >> 31 != 0,
                                  sizeOrType: sizeOrType, payload: payload))
            at = payload + size
        }
        try checkReferences()
    }

    /// Bytes from the start to the end of the last section: where a blob
    /// concatenated after this one would start.
    public private(set) var extent = 0

    /// Bytes of names, the base's included: a split file's name offsets go up to it.
    var stringLimit: Int {
        (base?.stringLimit ?? 0) + (stringsEnd - stringsStart)
    }

    /// Checks once that every name offset is inside the string sections and
    /// every type id a record names exists (in this file or its base), so
    /// that reading types later never meets a dangling id or name.
    private func checkReferences() throws {
        let idLimit = firstId + records.count
        let nameLimit = stringLimit
        func bad(_ offset: Int, _ detail: String) -> BtfError { .malformed(source: source, offset: offset, detail: detail) }
        for (i, r) in records.enumerated() {
            let id = firstId + i
            let at = r.payload - 12
            func name(_ offset: UInt32, _ what: String, _ where_: Int) throws {
                guard Int(offset) < nameLimit else {
                    throw bad(where_, "type \(id)'s \(what) name offset \(offset) is past the \(nameLimit) bytes of names")
                }
            }
            func ref(_ target: UInt32, _ what: String, _ where_: Int) throws {
                guard Int(target) < idLimit else {
                    throw bad(where_, "type \(id)'s \(what) is type \(target), but the last type is \(idLimit - 1)")
                }
            }
            try name(r.nameOffset, "own", at)
            switch r.kind {
            case .pointer, .typedef, .volatile, .const, .restrict, .function, .functionPrototype, .variable,
                 .declarationTag, .typeTag:
                try ref(r.sizeOrType, "referenced type", at + 8)
            default: break
            }
            switch r.kind {
            case .array:
                try ref(u32(r.payload), "element type", r.payload)
                try ref(u32(r.payload + 4), "index type", r.payload + 4)
            case .structure, .union:
                for m in 0..<r.vlen {
                    let mat = r.payload + m * 12
                    try name(u32(mat), "member \(m)'s", mat)
                    try ref(u32(mat + 4), "member \(m)", mat + 4)
                }
            case .enumeration, .enumeration64:
                let stride = r.kind == .enumeration ? 8 : 12
                for e in 0..<r.vlen { try name(u32(r.payload + e * stride), "enumerator \(e)'s", r.payload + e * stride) }
            case .functionPrototype:
                for p in 0..<r.vlen {
                    let pat = r.payload + p * 8
                    try name(u32(pat), "parameter \(p)'s", pat)
                    try ref(u32(pat + 4), "parameter \(p)", pat + 4)
                }
            case .dataSection:
                for v in 0..<r.vlen { try ref(u32(r.payload + v * 12), "variable \(v)", r.payload + v * 12) }
            default: break
            }
        }
    }

    /// The record of a type id, searching the base for ids below ours.
    func record(_ id: Int) -> (file: BtfFile, record: Record)? {
        if id < firstId { return base?.record(id) }
        let i = id - firstId
        guard i >= 0, i < records.count else { return nil }
        return (self, records[i])
    }

    /// Bytes of this file's own string section (a split file's name offsets start after its base's).
    public var stringLength: Int { stringsEnd - stringsStart }

    /// A name from the string table (a split file's offsets continue its base's).
    func string(_ offset: UInt32) -> String? {
        var offset = Int(offset)
        if let base {
            let baseLength = base.stringLimit
            if offset < baseLength { return base.string(UInt32(offset)) }
            offset -= baseLength
        }
        let (start, overflow) = stringsStart.addingReportingOverflow(offset)
        guard !overflow, start < stringsEnd else { return nil }
        var end = start
        while end < stringsEnd, bytes[end] != 0 { end += 1 }
        guard end > start else { return nil }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    func u32(_ offset: Int) -> UInt32 {
        // Offsets inside a record's payload, checked against the type section when parsed.
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }
}
