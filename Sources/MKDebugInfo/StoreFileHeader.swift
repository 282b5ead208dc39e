import MKSystem

/// What the index and symbol files share: magic, format version, build-id,
/// vmlinux size, entry count and names size up front, a checksum at the end.
struct StoreFileHeader {
    var count: UInt64
    var namesSize: UInt64
    var entriesStart: Int

    static func u32(_ bytes: UnsafeRawBufferPointer, _ at: Int, _ path: String) throws -> UInt32 {
        guard at >= 0, at <= bytes.count - 4 else { throw IndexFileError(path: path, problem: "truncated at \(at)") }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    static func u64(_ bytes: UnsafeRawBufferPointer, _ at: Int, _ path: String) throws -> UInt64 {
        guard at >= 0, at <= bytes.count - 8 else { throw IndexFileError(path: path, problem: "truncated at \(at)") }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    static func check(_ bytes: UnsafeRawBufferPointer, magic: [UInt8], version: UInt32, path: String,
                      buildId: String, vmlinuxSize: UInt64) throws -> StoreFileHeader {
        guard bytes.count >= 48, bytes[0..<8].elementsEqual(magic) else { throw IndexFileError(path: path, problem: "bad magic") }
        let v = try u32(bytes, 8, path)
        guard v == version else { throw IndexFileError(path: path, problem: "format version \(v), expected \(version)") }
        let idLength = Int(try u32(bytes, 12, path))
        guard idLength <= 128, 16 + idLength + 24 <= bytes.count else { throw IndexFileError(path: path, problem: "bad build-id length") }
        let storedId = String(decoding: bytes[16..<(16 + idLength)], as: UTF8.self)
        guard storedId == buildId else { throw IndexFileError(path: path, problem: "made for build-id \(storedId)") }
        let at = 16 + idLength
        guard try u64(bytes, at, path) == vmlinuxSize else { throw IndexFileError(path: path, problem: "made for a vmlinux of another size") }
        return StoreFileHeader(count: try u64(bytes, at + 8, path), namesSize: try u64(bytes, at + 16, path), entriesStart: at + 24)
    }

    /// The trailing u64 must be the checksum of everything before it.
    static func checkSum(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        let sumAt = bytes.count - 8
        guard sumAt >= 0, try u64(bytes, sumAt, path) == IndexFile.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<sumAt])) else {
            throw IndexFileError(path: path, problem: "checksum mismatch (damaged)")
        }
    }

    /// A store file mapped (no copy).
    static func map(_ path: String, limit: Int) throws -> IndexBytes {
        do {
            return IndexBytes(mapping: try MappedFile(path: path, limit: limit))
        } catch let e as Errno {
            throw IndexFileError(path: path, problem: "cannot be mapped: \(e.reason)")
        }
    }
}
