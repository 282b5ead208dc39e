import MKFormat
import MKSystem
#if canImport(Glibc)
import Glibc
#endif

/// The persistent DWARF name index, stored in the symbol store beside the
/// vmlinux and keyed by its build-id. Validated on load (magic, format
/// version, build-id, vmlinux size, sizes, checksum); written atomically.
///
/// Layout (little-endian): "MKDBGIDX", u32 version, u32 build-id length,
/// build-id bytes, u64 vmlinux size, u64 entry count, u64 names size,
/// entries sorted by name bytes then kind (u32 name offset, u32 name
/// length, u8 kind, 7 pad bytes, u64 DIE offset), the names (each distinct
/// name once), then a u64 checksum of everything before it.
public enum IndexFile {
    static let magic = Array("MKDBGIDX".utf8)
    public static let version: UInt32 = 3
    static let entrySize = 24

    static func encode(_ index: NameIndexBuilder, buildId: String, vmlinuxSize: UInt64) -> [UInt8] {
        var flat: [(name: [UInt8], entry: NameIndex.Entry)] = []
        flat.reserveCapacity(index.table.count + index.table.count / 4)
        for (name, list) in index.table { for e in list { flat.append((Array(name.utf8), e)) } }
        flat.sort { a, b in
            if a.name != b.name { return a.name.lexicographicallyPrecedes(b.name) }
            return a.entry.kind.rawValue < b.entry.kind.rawValue
        }
        return encodeSorted(count: flat.count, buildId: buildId, vmlinuxSize: vmlinuxSize) { emit in
            for (name, e) in flat { name.withUnsafeBytes { emit($0, e) } }
        }
    }

    /// The same file from the own scanner's names (`DieScanner`).
    static func encode(_ names: ScannedNames, buildId: String, vmlinuxSize: UInt64) -> [UInt8] {
        let ids = names.sortedIds()
        var count = 0
        for id in ids { for k in 1..<ScannedNames.slotsPerName where names.slot(id, k) != 0 { count += 1 } }
        return encodeSorted(count: count, buildId: buildId, vmlinuxSize: vmlinuxSize) { emit in
            for id in ids {
                let key = names.keys[id]
                let bytes = UnsafeRawBufferPointer(start: key.start, count: key.length)
                for k in 1..<ScannedNames.slotsPerName {
                    let offset = names.slot(id, k)
                    guard offset != 0, let kind = IndexKind(rawValue: UInt8(k)) else { continue }
                    emit(bytes, NameIndex.Entry(kind: kind, offset: offset))
                }
            }
        }
    }

    /// Lays out `count` entries that `body` hands over sorted by name bytes, then kind.
    private static func encodeSorted(count: Int, buildId: String, vmlinuxSize: UInt64,
                                     _ body: ((UnsafeRawBufferPointer, NameIndex.Entry) -> Void) -> Void) -> [UInt8] {
        var out = magic + le(version) + le(UInt32(buildId.utf8.count)) + Array(buildId.utf8)
        out += le(vmlinuxSize) + le(UInt64(count))
        var names: [UInt8] = []
        var entries: [UInt8] = []
        entries.reserveCapacity(count * entrySize)
        var last: (start: Int, length: Int)?
        body { name, e in
            let same = last.map { l in
                l.length == name.count && names[l.start..<(l.start + l.length)].elementsEqual(name)
            } ?? false
            if !same {
                last = (names.count, name.count)
                names.append(contentsOf: name)
            }
            appendLE(&entries, UInt32(last?.start ?? 0))
            appendLE(&entries, UInt32(name.count))
            entries.append(e.kind.rawValue)
            entries += [0, 0, 0, 0, 0, 0, 0]
            appendLE(&entries, e.offset)
        }
        out += le(UInt64(names.count))
        out += entries
        out += names
        out += le(checksum(out[...]))
        return out
    }

    /// Checks an index's bytes and wraps them (a copy); throws `IndexFileError`.
    static func validate(_ bytes: [UInt8], path: String, buildId: String, vmlinuxSize: UInt64) throws -> NameIndex {
        try validate(IndexBytes(copying: bytes), path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
    }

    static func validate(_ storage: IndexBytes, path: String, buildId: String, vmlinuxSize: UInt64) throws -> NameIndex {
        let bytes = storage.buffer
        let header = try StoreFileHeader.check(bytes, magic: magic, version: version, path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
        let count = header.count, namesSize = header.namesSize, entriesStart = header.entriesStart
        guard count <= UInt64(bytes.count / entrySize), namesSize <= UInt64(bytes.count),
              entriesStart + Int(count) * entrySize + Int(namesSize) + 8 == bytes.count else {
            throw IndexFileError(path: path, problem: "sizes do not add up (truncated or damaged)")
        }
        try StoreFileHeader.checkSum(bytes, path: path)
        let namesStart = entriesStart + Int(count) * entrySize
        // The sizes above put every entry inside `bytes`: read them unchecked, in one pass,
        // so lookups never index out of bounds.
        for i in 0..<Int(count) {
            let e = entriesStart + i * entrySize
            let off = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: e, as: UInt32.self)))
            let len = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self)))
            guard off + len <= Int(namesSize), IndexKind(rawValue: bytes[e + 8]) != nil else {
                throw IndexFileError(path: path, problem: "entry \(i) is damaged")
            }
        }
        return NameIndex(storage: storage, entriesStart: entriesStart, count: Int(count), namesStart: namesStart)
    }

    /// Maps the index file (no copy: lookups read the page cache) and checks it.
    public static func read(path: String, buildId: String, vmlinuxSize: UInt64) throws -> NameIndex {
        try validate(StoreFileHeader.map(path, limit: 1 << 31), path: path, buildId: buildId, vmlinuxSize: vmlinuxSize)
    }

    /// Makes the directories `path` sits in (best effort: a failure shows when the file is opened).
    static func makeDirectories(for path: String) {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for i in parts.indices where i > parts.startIndex {
            try? FileSystem.makeDirectory(parts[...i].joined(separator: "/"), permissions: 0o755)
        }
    }

    /// Writes bytes to `path` atomically (`AtomicFile`), making its directories.
    static func writeAtomically(_ bytes: [UInt8], path: String) throws {
        makeDirectories(for: path)
        let file: AtomicFile
        do {
            file = try AtomicFile(path: path, permissions: 0o644)
        } catch let e as Errno {
            throw DebugInfoError.cannotOpen(path: e.path ?? path, reason: e.reason)
        }
        do {
            try bytes.withUnsafeBytes { try file.append($0) }
            try file.commit()
        } catch let e as Errno {
            file.discard()
            throw DebugInfoError.cannotOpen(path: path, reason: "cannot write index: \(e.reason)")
        }
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    static func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// FNV-1a over 8-byte words (then the tail bytes): quick enough to
    /// check megabytes at every start, and catches flipped bytes.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ buf: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let words = buf.count / 8
        for w in 0..<words {
            h = (h ^ buf.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)) &* 0x100_0000_01b3
        }
        for i in (words * 8)..<buf.count { h = (h ^ UInt64(buf[i])) &* 0x100_0000_01b3 }
        return h
    }
}

public struct IndexFileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): index file \(problem); rebuilding" }
}
