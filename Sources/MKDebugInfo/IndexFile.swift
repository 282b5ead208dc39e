import MKFormat
#if canImport(Glibc)
import Glibc
#endif

/// The persistent DWARF name index, stored in the symbol store beside the
/// vmlinux and keyed by its build-id. Validated on load (magic, format
/// version, build-id, vmlinux size, checksum); written atomically.
///
/// Layout (little-endian): "MKDBGIDX", u32 version, u32 build-id length,
/// build-id bytes, u64 vmlinux size, u64 entry count, u64 names size,
/// entries sorted by name (u32 name offset, u32 name length, u8 kind,
/// 7 pad bytes, u64 DIE offset), the names, then a u64 FNV-1a checksum
/// of everything before it.
public enum IndexFile {
    static let magic = Array("MKDBGIDX".utf8)
    public static let version: UInt32 = 2
    static let entrySize = 24

    public static func write(_ index: NameIndex, path: String, buildId: String, vmlinuxSize: UInt64) throws {
        var flat: [(String, NameIndex.Entry)] = []
        for (name, list) in index.table { for e in list { flat.append((name, e)) } }
        flat.sort { $0.0 != $1.0 ? $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) : $0.1.kind.rawValue < $1.1.kind.rawValue }
        var names: [UInt8] = []
        var entries: [UInt8] = []
        entries.reserveCapacity(flat.count * entrySize)
        var lastName: String?
        var lastOffset: UInt32 = 0
        for (name, e) in flat {
            if name != lastName {
                lastOffset = UInt32(names.count)
                names += Array(name.utf8)
                lastName = name
            }
            entries += le(lastOffset) + le(UInt32(name.utf8.count)) + [e.kind.rawValue] + [UInt8](repeating: 0, count: 7) + le(e.offset)
        }
        var out = magic + le(version) + le(UInt32(buildId.utf8.count)) + Array(buildId.utf8)
        out += le(vmlinuxSize) + le(UInt64(flat.count)) + le(UInt64(names.count))
        out += entries + names
        out += le(fnv1a(out))

        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        for i in parts.indices where i > parts.startIndex {
            mkdir(parts[...i].joined(separator: "/"), 0o755)
        }
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DebugInfoError.cannotOpen(path: tmp, reason: String(cString: strerror(errno)))
        }
        var written = 0
        let ok = out.withUnsafeBytes { buf -> Bool in
            while written < buf.count {
                guard let base = buf.baseAddress else { return false }
                let n = Glibc.write(fd, base + written, buf.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard ok, synced, rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw DebugInfoError.cannotOpen(path: path, reason: "cannot write index: \(reason)")
        }
    }

    /// Reads and validates an index; throws `IndexFileError` naming what is wrong.
    public static func read(path: String, buildId: String, vmlinuxSize: UInt64) throws -> NameIndex {
        let source = try FileSource(path: path)
        guard source.size <= 1 << 31 else { throw IndexFileError(path: path, problem: "implausibly large (\(source.size) bytes)") }
        let bytes = try source.read(at: 0, count: Int(source.size))
        let r = ByteReader(bytes, file: path)
        guard bytes.count >= 40, Array(bytes[0..<8]) == magic else { throw IndexFileError(path: path, problem: "bad magic") }
        guard try r.u32(8) == version else { throw IndexFileError(path: path, problem: "format version \(try r.u32(8)), expected \(version)") }
        let idLength = Int(try r.u32(12))
        guard idLength <= 128 else { throw IndexFileError(path: path, problem: "bad build-id length") }
        let storedId = String(decoding: try r.slice(16, idLength, "build-id"), as: UTF8.self)
        guard storedId == buildId else { throw IndexFileError(path: path, problem: "made for build-id \(storedId)") }
        var at = 16 + idLength
        guard try r.u64(at) == vmlinuxSize else { throw IndexFileError(path: path, problem: "made for a vmlinux of another size") }
        let count = try r.u64(at + 8)
        let namesSize = try r.u64(at + 16)
        at += 24
        guard count <= UInt64(bytes.count / entrySize), namesSize <= UInt64(bytes.count),
              at + Int(count) * entrySize + Int(namesSize) + 8 == bytes.count else {
            throw IndexFileError(path: path, problem: "sizes do not add up (truncated or damaged)")
        }
        let sumAt = bytes.count - 8
        guard try r.u64(sumAt) == fnv1a(bytes[0..<sumAt]) else { throw IndexFileError(path: path, problem: "checksum mismatch (damaged)") }
        let namesAt = at + Int(count) * entrySize
        var table: [String: [NameIndex.Entry]] = [:]
        table.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let e = at + i * entrySize
            let nameOffset = Int(try r.u32(e)), nameLength = Int(try r.u32(e + 4))
            guard let kind = IndexKind(rawValue: try r.u8(e + 8)), nameOffset + nameLength <= Int(namesSize) else {
                throw IndexFileError(path: path, problem: "entry \(i) is damaged")
            }
            let name = String(decoding: bytes[(namesAt + nameOffset)..<(namesAt + nameOffset + nameLength)], as: UTF8.self)
            table[name, default: []].append(NameIndex.Entry(kind: kind, offset: try r.u64(e + 16)))
        }
        return NameIndex(table: table)
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    static func fnv1a<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

public struct IndexFileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): index file \(problem); rebuilding" }
}
