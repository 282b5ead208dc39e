import MKFormat
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// The vmlinux's ELF symbols in a compact file kept beside the DWARF index
/// (`<build-id>.mksym`), so later starts search it in place.
///
/// Layout (little-endian): "MKDBGSYM", u32 version, u32 build-id length,
/// build-id, u64 vmlinux size, u64 count, u64 names size; entries sorted by
/// link address (u64 value, u64 size, u32 name offset, u16 name length,
/// u8 flags: kind in bits 0-1 (1 function, 2 object), global in bit 2, u8
/// pad); a u32 permutation of entries sorted by name; the names; a u64
/// checksum of everything before.
enum SymbolFile {
    static let magic = Array("MKDBGSYM".utf8)
    static let version: UInt32 = 1
    static let entrySize = 24

    struct Validated {
        var storage: IndexBytes
        var count: Int
        var entriesStart: Int
        var byNameStart: Int
        var namesStart: Int
    }

    /// Builds the file from the ELF symbol table: drops section, file and
    /// absolute-constant symbols; orders equal addresses sized-first,
    /// global-first, so address lookups take the first.
    static func encode(_ raw: [RawSymbol], buildId: String, vmlinuxSize: UInt64, imageBase: UInt64) -> [UInt8] {
        var names: [UInt8] = []
        var symbols: [CompactSymbol] = []
        symbols.reserveCapacity(raw.count)
        for r in raw where !r.name.isEmpty && r.type != RawSymbol.typeSection && r.type != RawSymbol.typeFile && r.name.utf8.count <= 0xffff {
            if r.section == 0xfff1 && r.value < imageBase { continue }
            let kind: UInt8 = r.type == RawSymbol.typeFunc ? 1 : (r.type == RawSymbol.typeObject ? 2 : 0)
            symbols.append(CompactSymbol(value: r.value, size: r.size, nameOffset: UInt32(truncatingIfNeeded: names.count),
                                         nameLength: UInt16(r.name.utf8.count), flags: kind | (r.binding != 0 ? 4 : 0)))
            names += r.name.utf8
        }
        return encode(symbols, names: names, buildId: buildId, vmlinuxSize: vmlinuxSize)
    }

    /// A symbol whose name is bytes in a shared buffer (no String per symbol:
    /// kallsyms' 150,000 names are decoded straight into one).
    struct CompactSymbol {
        var value: UInt64
        var size: UInt64
        var nameOffset: UInt32
        var nameLength: UInt16
        /// kind in bits 0-1 (1 function, 2 object), global in bit 2
        var flags: UInt8
    }

    /// The file from symbols in any order, names in `names` (at most 4 GiB).
    static func encode(_ input: [CompactSymbol], names: [UInt8], buildId: String, vmlinuxSize: UInt64) -> [UInt8] {
        names.withUnsafeBufferPointer { nb -> [UInt8] in
            let base = nb.baseAddress
            func nameLess(_ a: CompactSymbol, _ b: CompactSymbol) -> Int32 {
                let n = Int(min(a.nameLength, b.nameLength))
                if n > 0, let base {
                    let c = memcmp(base + Int(a.nameOffset), base + Int(b.nameOffset), n)
                    if c != 0 { return c }
                }
                return a.nameLength == b.nameLength ? 0 : (a.nameLength < b.nameLength ? -1 : 1)
            }
            let kept = input.sorted {
                if $0.value != $1.value { return $0.value < $1.value }
                if ($0.size > 0) != ($1.size > 0) { return $0.size > 0 }
                if ($0.flags & 4 != 0) != ($1.flags & 4 != 0) { return $0.flags & 4 != 0 }
                return nameLess($0, $1) < 0
            }
            let order = kept.indices.sorted { a, b in
                let c = nameLess(kept[a], kept[b])
                return c != 0 ? c < 0 : a < b
            }
            var out = magic + IndexFile.le(version) + IndexFile.le(UInt32(buildId.utf8.count)) + Array(buildId.utf8)
            out += IndexFile.le(vmlinuxSize) + IndexFile.le(UInt64(kept.count)) + IndexFile.le(UInt64(names.count))
            out.reserveCapacity(out.count + kept.count * (entrySize + 4) + names.count + 8)
            for r in kept {
                IndexFile.appendLE(&out, r.value)
                IndexFile.appendLE(&out, r.size)
                IndexFile.appendLE(&out, r.nameOffset)
                IndexFile.appendLE(&out, r.nameLength)
                out.append(r.flags)
                out.append(0)
            }
            for i in order { IndexFile.appendLE(&out, UInt32(i)) }
            out += names
            out += IndexFile.le(IndexFile.checksum(out[...]))
            return out
        }
    }

    static func validate(_ bytes: [UInt8], path: String, buildId: String, vmlinuxSize: UInt64) throws -> Validated {
        try validate(IndexBytes(copying: bytes), path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
    }

    /// Maps the file (no copy) and checks it.
    static func read(path: String, buildId: String, vmlinuxSize: UInt64) throws -> Validated {
        try validate(StoreFileHeader.map(path, limit: 1 << 30), path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
    }

    static func validate(_ storage: IndexBytes, path: String, buildId: String, vmlinuxSize: UInt64) throws -> Validated {
        let bytes = storage.buffer
        let header = try StoreFileHeader.check(bytes, magic: magic, version: version, path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
        let count = header.count, namesSize = header.namesSize, entriesStart = header.entriesStart
        guard count <= UInt64(bytes.count / (entrySize + 4)), namesSize <= UInt64(bytes.count),
              entriesStart + Int(count) * (entrySize + 4) + Int(namesSize) + 8 == bytes.count else {
            throw IndexFileError(path: path, problem: "sizes do not add up (truncated or damaged)")
        }
        try StoreFileHeader.checkSum(bytes, path: path)
        let byNameStart = entriesStart + Int(count) * entrySize
        let namesStart = byNameStart + Int(count) * 4
        // The sizes above put every entry inside `bytes`: read them unchecked, in one pass.
        for i in 0..<Int(count) {
            let e = entriesStart + i * entrySize
            let off = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: e + 16, as: UInt32.self)))
            let len = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: e + 20, as: UInt16.self)))
            let order = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: byNameStart + 4 * i, as: UInt32.self)))
            guard off + len <= Int(namesSize), order < Int(count) else {
                throw IndexFileError(path: path, problem: "entry \(i) is damaged")
            }
        }
        return Validated(storage: storage, count: Int(count), entriesStart: entriesStart, byNameStart: byNameStart, namesStart: namesStart)
    }
}
